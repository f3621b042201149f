#include "server/store/open_store.h"

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "server/store/in_memory_store.h"
#include "server/store/migrations.h"
#include "server/store/postgres_store.h"
#include "testing/postgres_cluster.h"

namespace cohort::server {
namespace {

TEST_CASE("OpenStore_MemoryAndEmptyAreTheInMemoryStore") {
  for (const char* spec : {"memory", ""}) {
    absl::StatusOr<std::unique_ptr<Store>> store = OpenStore(spec);
    REQUIRE(store.ok());
    CHECK(dynamic_cast<InMemoryStore*>(store->get()) != nullptr);
  }
}

TEST_CASE("OpenStore_UnknownSpecIsInvalidArgumentWithThePasswordMasked") {
  absl::StatusOr<std::unique_ptr<Store>> store = OpenStore("mysql://root:s3cret@db:3306/x");
  REQUIRE(store.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(store.status().message(), "mysql://root:***@db:3306/x"));
  CHECK_FALSE(absl::StrContains(store.status().message(), "s3cret"));
  CHECK(OpenStore("Memory").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(OpenStore("host=db dbname=x").status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("RedactStoreSpec_MasksOnlyThePassword") {
  CHECK(RedactStoreSpec("postgresql://u:p@h:5432/d") == "postgresql://u:***@h:5432/d");
  CHECK(RedactStoreSpec("postgresql://u@h/d") == "postgresql://u@h/d");
  CHECK(RedactStoreSpec("postgresql://h:5432/d?x=a@b") == "postgresql://h:5432/d?x=a@b");
  CHECK(RedactStoreSpec("memory") == "memory");
  CHECK(RedactStoreSpec("postgresql://u:p@ss@h/d") == "postgresql://u:***@h/d");
  CHECK(RedactStoreSpec("postgresql://h/d?user=u&password=secret&sslmode=require") ==
        "postgresql://h/d?user=u&password=***&sslmode=require");
  CHECK(RedactStoreSpec("host=h password=secret dbname=d") == "host=h password=*** dbname=d");
  CHECK(RedactStoreSpec("host=h password = 'se cret\\'x' dbname=d") ==
        "host=h password=*** dbname=d");
  CHECK(RedactStoreSpec("host=h old_password=x") == "host=h old_password=x");
}

TEST_CASE("OpenStore_PostgresUriOpensAMigratedDatabase") {
  absl::StatusOr<testing::PostgresCluster*> cluster = testing::SharedPostgresCluster();
  INFO(cluster.status().ToString());
  REQUIRE(cluster.ok());
  absl::StatusOr<std::string> uri = (*cluster)->CreateDatabase("open_store");
  REQUIRE(uri.ok());

  absl::StatusOr<std::unique_ptr<Store>> behind = OpenStore(*uri);
  INFO(behind.status().ToString());
  CHECK(behind.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(absl::StrContains(behind.status().message(), "cohort-server migrate"));

  REQUIRE(Migrate(*uri).ok());
  // postgres:// is the other scheme libpq accepts.
  const std::string short_scheme = "postgres://" + uri->substr(std::string("postgresql://").size());
  for (const std::string& spec : {*uri, short_scheme}) {
    absl::StatusOr<std::unique_ptr<Store>> store = OpenStore(spec);
    INFO(spec << " -> " << store.status().ToString());
    REQUIRE(store.ok());
    CHECK(dynamic_cast<PostgresStore*>(store->get()) != nullptr);
  }
}

}  // namespace
}  // namespace cohort::server
