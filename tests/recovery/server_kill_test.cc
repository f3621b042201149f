// SIGKILL of cohort-server on a real PostgreSQL at the two moments the MASKED_INPUT test of
// server_recovery_test.cc does not reach:
//  - during UNMASKING, with every device's input in the sum and the round waiting only for the
//    unmasking answers;
//  - in the middle of the commit: the server's CommitRound transaction has begun and is blocked
//    inside (the test holds a lock on model_versions), then the process dies.
// After a restart on the same database: the last committed model is intact, the interrupted
// round is FAILED "server restart", no model version was added, the task's counters count the
// interrupted round as failed and run, and the next round commits the next version.

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "testing/postgres_cluster.h"
#include "tests/recovery/recovery_cohort.h"
#include "tests/recovery/server_process.h"

namespace cohort::recovery_test {
namespace {

using server::test_util::PhaseGate;
using testing::PostgresCluster;
using testing::TempDir;

// What a restarted server must show after round 2 of 3 was cut off by SIGKILL.
void CheckRestartAfterRound2WasKilled(PostgresCluster& cluster, const std::string& database,
                                      const TempDir& dir, const std::string& task_id,
                                      const std::string& population,
                                      const cohort::v1::Model& committed) {
  auto second = ServerProcess::Start(dir, cluster.Uri(database));
  REQUIRE(second.ok());
  INFO((*second)->Output());
  auto model = (*second)->admin().LatestModel(task_id);
  REQUIRE(model.ok());
  CHECK(model->version() == 1);
  CHECK(model->sha256() == committed.sha256());
  CHECK(model->parameters() == committed.parameters());
  auto versions =
      cluster.QueryValue(database, "SELECT count(*) || '/' || max(version) FROM model_versions");
  REQUIRE(versions.ok());
  CHECK(*versions == "2/1");  // versions 0 and 1; the interrupted commit left nothing
  auto rounds = (*second)->admin().ListRounds(task_id);
  REQUIRE(rounds.ok());
  const cohort::v1::RoundSummary* interrupted = FindRound(*rounds, 2);
  REQUIRE(interrupted != nullptr);
  CHECK(interrupted->phase() == cohort::v1::ROUND_PHASE_FAILED);
  CHECK(interrupted->failure_reason() == "server restart");
  CHECK(interrupted->new_model_version() == 0);
  auto task = (*second)->admin().GetTask(task_id);
  REQUIRE(task.ok());
  CHECK(task->rounds_committed() == 1);
  CHECK(task->rounds_failed() == 1);
  CHECK(task->latest_model_version() == 1);
  // Three rounds were asked for; two have run (one committed, one cut off): one is left, and
  // the task runs it.
  CHECK(task->rounds_remaining() == 1);
  CHECK(task->state() == cohort::v1::TASK_STATE_RUNNING);

  CommitOneRound(**second, task_id, population, 3, 2);
  auto next = (*second)->admin().LatestModel(task_id);
  REQUIRE(next.ok());
  CHECK(next->version() == 2);
  rounds = (*second)->admin().ListRounds(task_id);
  REQUIRE(rounds.ok());
  const cohort::v1::RoundSummary* third = FindRound(*rounds, 3);
  REQUIRE(third != nullptr);
  CHECK(third->phase() == cohort::v1::ROUND_PHASE_COMMITTED);
  CHECK(third->base_model_version() == 1);
  auto done = (*second)->admin().WaitForTask(
      task_id, [](const cohort::v1::Task& t) { return t.state() == cohort::v1::TASK_STATE_IDLE; },
      absl::Seconds(60));
  REQUIRE(done.ok());
  CHECK(done->rounds_committed() == 2);
  CHECK(done->rounds_failed() == 1);
  CHECK(done->rounds_remaining() == 0);
}

struct Started {
  std::unique_ptr<PostgresCluster> cluster;
  std::string database;
  std::unique_ptr<TempDir> dir = std::make_unique<TempDir>();
  std::unique_ptr<ServerProcess> server;
  std::string task_id;
  cohort::v1::Model v1;
};

// A cluster, a server on it, a task of three rounds, and round 1 committed.
Started StartWithOneCommittedRound(const std::string& database, const std::string& population) {
  Started s;
  auto cluster = PostgresCluster::Start();
  REQUIRE(cluster.ok());
  s.cluster = *std::move(cluster);
  s.database = database;
  auto uri = s.cluster->CreateDatabase(database);
  REQUIRE(uri.ok());
  auto server = ServerProcess::Start(*s.dir, *uri);
  REQUIRE(server.ok());
  s.server = *std::move(server);
  auto task = s.server->admin().CreateTask(RecoveryTask(population));
  INFO(task.status().ToString());
  REQUIRE(task.ok());
  s.task_id = task->task_id();
  REQUIRE(s.server->admin().StartRounds(s.task_id, 3).ok());
  CommitOneRound(*s.server, s.task_id, population, 1, 1);
  auto v1 = s.server->admin().LatestModel(s.task_id);
  REQUIRE(v1.ok());
  REQUIRE(v1->version() == 1);
  s.v1 = *v1;
  return s;
}

TEST_CASE("PostgresServer_SigkillDuringUnmasking_RestartKeepsTheModelAndCountsTheRoundFailed") {
  const std::string population = "kill-unmasking";
  Started s = StartWithOneCommittedRound("kill_unmasking", population);

  // Round 2: every device uploads, then is held as UNMASKING begins: the sum of all six inputs
  // is on the server, still masked, when it dies.
  std::vector<std::future<absl::StatusOr<TestDevice::Result>>> futures;
  PhaseGate gate(cohort::v1::ROUND_PHASE_UNMASKING);
  std::vector<TestDeviceOptions> round2 = Cohort(population, 2);
  for (TestDeviceOptions& d : round2) d.on_phase = gate.Hook();
  futures = LaunchDevices(*s.server, round2);
  REQUIRE(gate.AwaitHeld(kCohort, absl::Seconds(120)));
  auto unmasking = WaitForPhase(*s.server, s.task_id, 2, cohort::v1::ROUND_PHASE_UNMASKING);
  REQUIRE(unmasking.ok());
  CHECK(unmasking->current_round().contributors() == kCohort);
  REQUIRE(s.server->Kill().ok());
  gate.Open();
  for (auto& f : futures) f.wait();  // the devices find the server gone
  s.server.reset();

  CheckRestartAfterRound2WasKilled(*s.cluster, s.database, *s.dir, s.task_id, population, s.v1);
}

TEST_CASE("PostgresServer_SigkillInTheMiddleOfTheCommit_RestartFindsNoHalfCommittedRound") {
  const std::string population = "kill-commit";
  Started s = StartWithOneCommittedRound("kill_commit", population);

  // The test holds a lock that conflicts with inserting a model version, so the server's commit
  // transaction (task row updated, model insert waiting) stays open until the process dies.
  auto lock = s.cluster->OpenSession(s.database);
  REQUIRE(lock.ok());
  REQUIRE((*lock)->Execute("BEGIN; LOCK TABLE model_versions IN SHARE MODE").ok());

  auto futures = LaunchDevices(*s.server, Cohort(population, 2));
  const std::string waiting_sql =
      absl::StrCat("SELECT count(*) FROM pg_stat_activity WHERE datname = '", s.database,
                   "' AND wait_event_type = 'Lock' AND query LIKE '%model_versions%'");
  bool blocked = false;
  for (int i = 0; i < 1200 && !blocked; ++i) {
    auto n = s.cluster->QueryValue(s.database, waiting_sql);
    blocked = n.ok() && *n == "1";
    if (!blocked) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  INFO(s.server->Output());
  REQUIRE(blocked);
  REQUIRE(s.server->Kill().ok());
  // Release the lock: the dead server's backend runs into a closed connection before it could
  // COMMIT, and PostgreSQL rolls its transaction back.
  lock->reset();
  for (auto& f : futures) f.wait();
  s.server.reset();

  CheckRestartAfterRound2WasKilled(*s.cluster, s.database, *s.dir, s.task_id, population, s.v1);
}

}  // namespace
}  // namespace cohort::recovery_test
