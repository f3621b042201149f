#include "server/store/postgres_store.h"

#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/store/migrations.h"
#include "testing/postgres_cluster.h"
#include "tests/store/store_contract.h"

namespace cohort::server {
namespace {

using cohort::testing::PostgresCluster;
using cohort::testing::SharedPostgresCluster;
using test_util::StatusOf;
using test_util::StoreFactory;

PostgresCluster& Cluster() {
  static PostgresCluster* const cluster = [] {
    absl::StatusOr<PostgresCluster*> shared = SharedPostgresCluster();
    INFO(shared.status().ToString());
    REQUIRE(shared.ok());
    return *shared;
  }();
  return *cluster;
}

// A migrated database for the contract suite, emptied before each store: sections share the
// cluster and the schema, never data.
StoreFactory Factory() {
  return []() -> std::unique_ptr<Store> {
    static const std::string uri = [] {
      absl::StatusOr<std::string> created = Cluster().CreateDatabase("contract");
      INFO(created.status().ToString());
      REQUIRE(created.ok());
      absl::StatusOr<MigrationReport> migrated = Migrate(*created);
      INFO(migrated.status().ToString());
      REQUIRE(migrated.ok());
      return *created;
    }();
    absl::Status emptied = Cluster().Execute(
        "contract",
        "TRUNCATE tasks, model_versions, model_blobs, rounds, participation, audit_log "
        "RESTART IDENTITY CASCADE");
    INFO(emptied.ToString());
    REQUIRE(emptied.ok());
    absl::StatusOr<std::unique_ptr<PostgresStore>> store = PostgresStore::Open(uri);
    INFO(store.status().ToString());
    REQUIRE(store.ok());
    return std::move(*store);
  };
}

TEST_CASE("PostgresStore_Tasks") { test_util::TaskContract(Factory()); }
TEST_CASE("PostgresStore_Models") { test_util::ModelContract(Factory()); }
TEST_CASE("PostgresStore_Rounds") { test_util::RoundContract(Factory()); }
TEST_CASE("PostgresStore_CommitRound") { test_util::CommitRoundContract(Factory()); }
TEST_CASE("PostgresStore_Participation") { test_util::ParticipationContract(Factory()); }
TEST_CASE("PostgresStore_Audit") { test_util::AuditContract(Factory()); }
TEST_CASE("PostgresStore_Calibration") { test_util::CalibrationContract(Factory()); }
TEST_CASE("PostgresStore_Concurrency") { test_util::ConcurrencyContract(Factory()); }
TEST_CASE("PostgresStore_Privacy") { test_util::PrivacyContract(Factory()); }

TEST_CASE("PostgresStore_KeepsQueryableColumnsBesideTheMessages") {
  std::unique_ptr<Store> store = Factory()();
  REQUIRE(store->CreateTask(test_util::MakeTask("t1", "keyboards"), test_util::MakeModel(0)).ok());
  cohort::v1::Task task = test_util::MakeTask("t1", "keyboards");
  task.set_state(cohort::v1::TASK_STATE_RUNNING);
  task.set_latest_model_version(1);
  REQUIRE(store
              ->CommitRound(test_util::MakeRound("t1", 1, cohort::v1::ROUND_PHASE_COMMITTED),
                            test_util::MakeModel(1, 1000), task, test_util::MakeOptimizerState(1))
              .ok());
  auto value = [](const std::string& sql) {
    absl::StatusOr<std::string> v = Cluster().QueryValue("contract", sql);
    INFO(sql << " -> " << v.status().ToString());
    REQUIRE(v.ok());
    return *v;
  };
  CHECK(value("SELECT population || ' ' || state || ' ' || latest_model_version FROM tasks") ==
        "keyboards TASK_STATE_RUNNING 1");
  CHECK(value("SELECT size_bytes FROM model_versions WHERE version = 1") == "4000");
  std::string sha_hex;
  for (int i = 0; i < 32; ++i) sha_hex += "62";  // MakeModel(1)'s stand-in checksum: 32 x 'b'
  CHECK(value("SELECT encode(sha256, 'hex') FROM model_versions WHERE version = 1") == sha_hex);
  CHECK(value("SELECT octet_length(parameters) FROM model_blobs WHERE version = 1") == "4000");
  CHECK(value("SELECT phase || ' ' || new_model_version || ' ' || selected FROM rounds") ==
        "ROUND_PHASE_COMMITTED 1 13");
  CHECK(value("SELECT started_at = to_timestamp(1700000001) FROM rounds") == "t");
  CHECK(value("SELECT ended_at IS NULL FROM rounds") == "t");
  CHECK(value("SELECT kind || ' ' || steps FROM optimizer_states WHERE version = 1") ==
        "KIND_FEDADAM 1");
}

TEST_CASE("PostgresStore_KeepsThePrivacySpentInColumnsAndTheLedger") {
  std::unique_ptr<Store> store = Factory()();
  REQUIRE(store
              ->CreateTask(test_util::WithPrivacy(test_util::MakeTask("t1"), 0, 0, 4.0),
                           test_util::MakeModel(0))
              .ok());
  cohort::v1::Task task = test_util::WithPrivacy(test_util::MakeTask("t1"), 1, 0.75, 4.0);
  task.set_latest_model_version(1);
  cohort::v1::RoundSummary round = test_util::MakeRound("t1", 1, cohort::v1::ROUND_PHASE_COMMITTED);
  round.mutable_privacy()->set_mechanism(cohort::v1::DP_MECHANISM_DISTRIBUTED_SKELLAM);
  round.mutable_privacy()->set_charged(true);
  round.mutable_privacy()->set_round_epsilon(0.75);
  round.mutable_privacy()->set_epsilon_spent(0.75);
  REQUIRE(store->CommitRound(round, test_util::MakeModel(1), task, test_util::MakeOptimizerState(1))
              .ok());
  auto value = [](const std::string& sql) {
    absl::StatusOr<std::string> v = Cluster().QueryValue("contract", sql);
    INFO(sql << " -> " << v.status().ToString());
    REQUIRE(v.ok());
    return *v;
  };
  CHECK(
      value("SELECT epsilon_spent || ' ' || epsilon_budget || ' ' || privacy_rounds FROM tasks") ==
      "0.75 4 1");
  CHECK(value("SELECT epsilon_spent FROM rounds WHERE round_number = 1") == "0.75");
  CHECK(value("SELECT mechanism || ' ' || round_epsilon || ' ' || phase FROM privacy_ledger") ==
        "DP_MECHANISM_DISTRIBUTED_SKELLAM 0.75 ROUND_PHASE_COMMITTED");
  // The database itself refuses an overspending task, even written around the store.
  CHECK_FALSE(
      Cluster().QueryValue("contract", "UPDATE tasks SET epsilon_spent = 5 RETURNING 1").ok());
}

TEST_CASE("PostgresStore_OpenRefusesAnUnmigratedDatabase") {
  absl::StatusOr<std::string> uri = Cluster().CreateDatabase("unmigrated");
  REQUIRE(uri.ok());
  absl::StatusOr<std::unique_ptr<PostgresStore>> store = PostgresStore::Open(*uri);
  INFO(store.status().ToString());
  REQUIRE(store.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(absl::StrContains(store.status().message(), "cohort-server migrate"));
  CHECK(absl::StrContains(store.status().message(), "version 0"));
  CHECK_FALSE(absl::StrContains(store.status().message(), Cluster().password()));
}

TEST_CASE("PostgresStore_OpenUnreachableIsUnavailableAndHidesThePassword") {
  // Port 1 on loopback: nothing listens there, so the connection is refused at once.
  const std::string uri = "postgresql://cohort:hunter2-secret@127.0.0.1:1/cohort";
  absl::StatusOr<std::unique_ptr<PostgresStore>> store = PostgresStore::Open(uri);
  INFO(store.status().ToString());
  REQUIRE(store.status().code() == absl::StatusCode::kUnavailable);
  CHECK(absl::StrContains(store.status().message(), "127.0.0.1:1"));
  CHECK_FALSE(absl::StrContains(store.status().message(), "hunter2-secret"));
}

TEST_CASE("PostgresStore_OpenRejectsBadOptions") {
  // libpq quotes the bad token, here inside the password; the message must not.
  const absl::Status bad_escape = PostgresStore::Open("postgresql://u:hunter2%zz@h/db").status();
  INFO(bad_escape.ToString());
  CHECK(bad_escape.code() == absl::StatusCode::kInvalidArgument);
  CHECK_FALSE(absl::StrContains(bad_escape.message(), "hunter2"));
  CHECK(PostgresStore::Open("postgresql://[::1/db").status().code() ==
        absl::StatusCode::kInvalidArgument);
  PostgresStore::Options options;
  options.connection_string = "postgresql://127.0.0.1:1/db";
  options.pool_size = 0;
  CHECK(PostgresStore::Open(options).status().code() == absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cohort::server
