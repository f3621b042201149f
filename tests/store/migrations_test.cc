#include "server/store/migrations.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/store/postgres_store.h"
#include "testing/postgres_cluster.h"

namespace cohort::server {
namespace {

using cohort::testing::PostgresCluster;

PostgresCluster& Cluster() {
  static PostgresCluster* const cluster = [] {
    absl::StatusOr<PostgresCluster*> shared = cohort::testing::SharedPostgresCluster();
    INFO(shared.status().ToString());
    REQUIRE(shared.ok());
    return *shared;
  }();
  return *cluster;
}

// A new empty database per call, so sections do not see each other's schema.
std::string FreshDatabase() {
  static int counter = 0;
  const std::string name = absl::StrCat("migrate_", ++counter);
  absl::StatusOr<std::string> uri = Cluster().CreateDatabase(name);
  INFO(uri.status().ToString());
  REQUIRE(uri.ok());
  return name;
}

std::string Value(const std::string& database, const std::string& sql) {
  absl::StatusOr<std::string> value = Cluster().QueryValue(database, sql);
  INFO(sql << " -> " << value.status().ToString());
  REQUIRE(value.ok());
  return *value;
}

TEST_CASE("EmbeddedMigrations_AreNumberedFromOneWithoutGaps") {
  const absl::Span<const Migration> migrations = EmbeddedMigrations();
  REQUIRE_FALSE(migrations.empty());
  for (size_t i = 0; i < migrations.size(); ++i) {
    CHECK(migrations[i].version == static_cast<int>(i) + 1);
    CHECK_FALSE(migrations[i].sql.empty());
  }
  CHECK(migrations[0].name == "initial");
  CHECK(LatestSchemaVersion() == static_cast<int>(migrations.size()));
}

TEST_CASE("CheckSchemaVersion_NamesTheRemedy") {
  CHECK(CheckSchemaVersion(3, 3).ok());
  const absl::Status behind = CheckSchemaVersion(1, 3);
  CHECK(behind.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(absl::StrContains(behind.message(), "cohort-server migrate"));
  const absl::Status ahead = CheckSchemaVersion(5, 3);
  CHECK(ahead.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(absl::StrContains(ahead.message(), "version 5"));
  CHECK(absl::StrContains(ahead.message(), "(3)"));
}

TEST_CASE("Migrate_Lifecycle") {
  const int latest = LatestSchemaVersion();

  SECTION("Migrate_EmptyDatabaseReachesTheLatestVersion") {
    const std::string db = FreshDatabase();
    absl::StatusOr<int> before = SchemaVersion(Cluster().Uri(db));
    REQUIRE(before.ok());
    CHECK(*before == 0);

    absl::StatusOr<MigrationReport> report = Migrate(Cluster().Uri(db));
    INFO(report.status().ToString());
    REQUIRE(report.ok());
    CHECK(report->from_version == 0);
    CHECK(report->to_version == latest);
    REQUIRE(report->applied.size() == static_cast<size_t>(latest));
    CHECK(report->applied[0] == "0001_initial");

    absl::StatusOr<int> after = SchemaVersion(Cluster().Uri(db));
    REQUIRE(after.ok());
    CHECK(*after == latest);
    CHECK(Value(db, "SELECT name FROM schema_migrations WHERE version = 1") == "initial");
    CHECK(Value(db, "SELECT applied_at <= now() FROM schema_migrations WHERE version = 1") == "t");
    for (const char* table :
         {"tasks", "model_versions", "model_blobs", "rounds", "participation", "audit_log"}) {
      CHECK(Value(db, absl::StrCat("SELECT to_regclass('", table, "') IS NOT NULL")) == "t");
    }
    CHECK(PostgresStore::Open(Cluster().Uri(db)).ok());
  }

  SECTION("Migrate_TwiceIsANoOp") {
    const std::string db = FreshDatabase();
    REQUIRE(Migrate(Cluster().Uri(db)).ok());
    REQUIRE(Cluster()
                .Execute(db,
                         "CREATE TABLE marker (x int); INSERT INTO tasks (task_id, "
                         "population, state, latest_model_version, rounds_committed, "
                         "rounds_failed, task) VALUES ('kept', 'p', 's', 0, 0, 0, '')")
                .ok());
    absl::StatusOr<MigrationReport> again = Migrate(Cluster().Uri(db));
    INFO(again.status().ToString());
    REQUIRE(again.ok());
    CHECK(again->from_version == latest);
    CHECK(again->to_version == latest);
    CHECK(again->applied.empty());
    CHECK(Value(db, "SELECT count(*) FROM schema_migrations") == absl::StrCat(latest));
    CHECK(Value(db, "SELECT task_id FROM tasks") == "kept");
  }

  SECTION("Migrate_RefusesADatabaseFromAFutureVersion") {
    const std::string db = FreshDatabase();
    REQUIRE(Migrate(Cluster().Uri(db)).ok());
    const int future = latest + 5;
    REQUIRE(Cluster()
                .Execute(db, absl::StrCat("INSERT INTO schema_migrations (version, name) VALUES (",
                                          future, ", 'from_the_future')"))
                .ok());
    absl::StatusOr<MigrationReport> refused = Migrate(Cluster().Uri(db));
    INFO(refused.status().ToString());
    REQUIRE(refused.status().code() == absl::StatusCode::kFailedPrecondition);
    CHECK(absl::StrContains(refused.status().message(), absl::StrCat("version ", future)));
    CHECK(absl::StrContains(refused.status().message(), absl::StrCat("(", latest, ")")));

    absl::StatusOr<std::unique_ptr<PostgresStore>> store = PostgresStore::Open(Cluster().Uri(db));
    INFO(store.status().ToString());
    CHECK(store.status().code() == absl::StatusCode::kFailedPrecondition);
    CHECK(absl::StrContains(store.status().message(), absl::StrCat("version ", future)));
  }

  SECTION("Migrate_AppliesOnlyTheMissingOnes") {
    const std::string db = FreshDatabase();
    REQUIRE(Migrate(Cluster().Uri(db)).ok());
    std::vector<Migration> extended(EmbeddedMigrations().begin(), EmbeddedMigrations().end());
    extended.push_back({latest + 1, "add_probe", "CREATE TABLE probe (x integer);"});
    absl::StatusOr<MigrationReport> report = Migrate(Cluster().Uri(db), extended);
    INFO(report.status().ToString());
    REQUIRE(report.ok());
    CHECK(report->from_version == latest);
    CHECK(report->to_version == latest + 1);
    REQUIRE(report->applied.size() == 1);
    CHECK(absl::EndsWith(report->applied[0], "_add_probe"));
    CHECK(Value(db, "SELECT to_regclass('probe') IS NOT NULL") == "t");

    // This binary (one version behind now) refuses to open the database.
    CHECK(PostgresStore::Open(Cluster().Uri(db)).status().code() ==
          absl::StatusCode::kFailedPrecondition);
  }

  SECTION("Migrate_AFailingMigrationIsRolledBackAndNamed") {
    const std::string db = FreshDatabase();
    std::vector<Migration> broken(EmbeddedMigrations().begin(), EmbeddedMigrations().end());
    broken.push_back({latest + 1, "half_done", "CREATE TABLE half (x integer); SELEC 1;"});
    absl::StatusOr<MigrationReport> report = Migrate(Cluster().Uri(db), broken);
    INFO(report.status().ToString());
    REQUIRE_FALSE(report.ok());
    CHECK(absl::StrContains(report.status().message(), "_half_done"));
    CHECK(Value(db, "SELECT to_regclass('half') IS NULL") == "t");
    CHECK(Value(db, "SELECT max(version) FROM schema_migrations") == absl::StrCat(latest));
  }

  SECTION("Migrate_ConcurrentMigratorsApplyEachMigrationOnce") {
    const std::string db = FreshDatabase();
    constexpr int kMigrators = 4;
    std::vector<absl::StatusOr<MigrationReport>> reports(kMigrators, absl::UnknownError("not run"));
    std::vector<std::thread> threads;
    for (int i = 0; i < kMigrators; ++i) {
      threads.emplace_back([&, i] { reports[i] = Migrate(Cluster().Uri(db)); });
    }
    for (std::thread& thread : threads) thread.join();
    int applied = 0;
    for (const auto& report : reports) {
      INFO(report.status().ToString());
      REQUIRE(report.ok());
      CHECK(report->to_version == latest);
      applied += static_cast<int>(report->applied.size());
    }
    CHECK(applied == latest);
    CHECK(Value(db, "SELECT count(*) FROM schema_migrations") == absl::StrCat(latest));
  }

  SECTION("Migrate_UnreachableDatabaseIsUnavailableAndHidesThePassword") {
    absl::StatusOr<MigrationReport> report =
        Migrate("postgresql://cohort:hunter2-secret@127.0.0.1:1/cohort");
    INFO(report.status().ToString());
    CHECK(report.status().code() == absl::StatusCode::kUnavailable);
    CHECK(absl::StrContains(report.status().message(), "127.0.0.1:1"));
    CHECK_FALSE(absl::StrContains(report.status().message(), "hunter2-secret"));
  }
}

}  // namespace
}  // namespace cohort::server
