// cohort-server on a real PostgreSQL: what an operator relies on when things break.
//  - SIGKILL while the round waits in MASKED_INPUT (server_kill_test.cc: during UNMASKING and
//    inside the commit): after a restart on the same database the last committed model is
//    intact (checksum), the interrupted round is recorded FAILED "server restart", and the next
//    round commits the next version.
//  - The database stops mid-round: the round fails at its commit with the database's error (the
//    server says what went wrong), the server reconnects when the database is back and the next
//    round commits; no committed version is lost or duplicated.

#include <cmath>
#include <future>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "testing/postgres_cluster.h"
#include "tests/recovery/recovery_cohort.h"
#include "tests/recovery/server_process.h"

namespace cohort::recovery_test {
namespace {

using server::test_util::PhaseGate;
using testing::PostgresCluster;
using testing::TempDir;

TEST_CASE("PostgresServer_SigkillInMaskedInput_RestartKeepsTheCommittedModelAndFailsTheInterruptedRound") {
  auto cluster = PostgresCluster::Start();
  REQUIRE(cluster.ok());
  auto uri = (*cluster)->CreateDatabase("recovery_kill");
  REQUIRE(uri.ok());
  TempDir dir;
  const std::string population = "kill";

  auto first = ServerProcess::Start(dir, *uri);
  REQUIRE(first.ok());
  auto task = (*first)->admin().CreateTask(RecoveryTask(population));
  INFO(task.status().ToString());
  REQUIRE(task.ok());
  const std::string task_id = task->task_id();
  REQUIRE((*first)->admin().StartRounds(task_id, 3).ok());

  CommitOneRound(**first, task_id, population, 1, 1);
  auto committed = (*first)->admin().LatestModel(task_id);
  REQUIRE(committed.ok());
  REQUIRE(committed->version() == 1);

  // Round 2: one device vanishes after sharing its keys, so the round waits in MASKED_INPUT.
  auto futures = LaunchDevices(**first, Cohort(population, 2, StopAt::kAfterShares));
  REQUIRE(WaitForPhase(**first, task_id, 2, cohort::v1::ROUND_PHASE_MASKED_INPUT).ok());
  REQUIRE((*first)->Kill().ok());
  for (auto& f : futures) f.wait();  // the devices see the server vanish
  first->reset();

  auto second = ServerProcess::Start(dir, *uri);
  REQUIRE(second.ok());
  INFO((*second)->Output());
  auto after_restart = (*second)->admin().LatestModel(task_id);
  REQUIRE(after_restart.ok());
  CHECK(after_restart->version() == 1);
  CHECK(after_restart->sha256() == committed->sha256());
  CHECK(after_restart->parameters() == committed->parameters());
  auto rounds = (*second)->admin().ListRounds(task_id);
  REQUIRE(rounds.ok());
  const cohort::v1::RoundSummary* interrupted = FindRound(*rounds, 2);
  REQUIRE(interrupted != nullptr);
  CHECK(interrupted->phase() == cohort::v1::ROUND_PHASE_FAILED);
  CHECK(interrupted->failure_reason() == "server restart");

  // The task goes on: a new round opens and commits version 2 on top of version 1.
  CommitOneRound(**second, task_id, population, 3, 2);
  auto next = (*second)->admin().LatestModel(task_id);
  REQUIRE(next.ok());
  CHECK(next->version() == 2);
  rounds = (*second)->admin().ListRounds(task_id);
  REQUIRE(rounds.ok());
  int committed_rounds = 0;
  for (const auto& r : *rounds) {
    if (r.phase() == cohort::v1::ROUND_PHASE_COMMITTED) ++committed_rounds;
  }
  CHECK(committed_rounds == 2);
}

TEST_CASE("PostgresServer_DatabaseStopsMidRound_TheServerReportsItReconnectsAndGoesOn") {
  auto cluster = PostgresCluster::Start();
  REQUIRE(cluster.ok());
  auto uri = (*cluster)->CreateDatabase("recovery_outage");
  REQUIRE(uri.ok());
  TempDir dir;
  const std::string population = "outage";

  auto server = ServerProcess::Start(dir, *uri);
  REQUIRE(server.ok());
  auto task = (*server)->admin().CreateTask(RecoveryTask(population));
  INFO(task.status().ToString());
  REQUIRE(task.ok());
  const std::string task_id = task->task_id();
  REQUIRE((*server)->admin().StartRounds(task_id, 3).ok());
  CommitOneRound(**server, task_id, population, 1, 1);
  auto v1 = (*server)->admin().LatestModel(task_id);
  REQUIRE(v1.ok());

  // Round 2: every device reaches MASKED_INPUT and is held there; the database goes away, then
  // the devices upload and unmask, and the round tries to commit without a database.
  std::vector<TestDeviceOptions> second_round = Cohort(population, 2);
  std::vector<std::future<absl::StatusOr<TestDevice::Result>>> futures;
  PhaseGate gate(cohort::v1::ROUND_PHASE_MASKED_INPUT);
  for (TestDeviceOptions& d : second_round) d.on_phase = gate.Hook();
  futures = LaunchDevices(**server, second_round);
  REQUIRE(gate.AwaitHeld(kCohort, absl::Seconds(60)));
  REQUIRE((*cluster)->Stop("fast").ok());
  gate.Open();
  for (auto& f : futures) f.wait();
  auto failed = (*server)->admin().WaitForTask(
      task_id, [](const cohort::v1::Task& t) { return t.rounds_failed() >= 1; },
      absl::Seconds(120));
  INFO((*server)->Output());
  REQUIRE(failed.ok());
  CHECK(failed->rounds_committed() == 1);
  CHECK(failed->latest_model_version() == 1);

  REQUIRE((*cluster)->Restart().ok());
  // The failed round's record reaches the database once it is back.
  auto round2_recorded = [&]() -> bool {
    auto rounds = (*server)->admin().ListRounds(task_id);
    if (!rounds.ok()) return false;
    const cohort::v1::RoundSummary* r = FindRound(*rounds, 2);
    return r != nullptr && r->phase() == cohort::v1::ROUND_PHASE_FAILED;
  };
  for (int i = 0; i < 100 && !round2_recorded(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(round2_recorded());
  auto rounds = (*server)->admin().ListRounds(task_id);
  REQUIRE(rounds.ok());
  const cohort::v1::RoundSummary* round2 = FindRound(*rounds, 2);
  REQUIRE(round2 != nullptr);
  CHECK_THAT(round2->failure_reason(), Catch::Contains("commit failed"));

  // Back in business: the next round commits version 2, exactly once.
  CommitOneRound(**server, task_id, population, 3, 2);
  auto v2 = (*server)->admin().LatestModel(task_id);
  REQUIRE(v2.ok());
  CHECK(v2->version() == 2);
  const auto versions = (*cluster)->QueryValue(
      "recovery_outage", "SELECT count(*) || '/' || max(version) FROM model_versions");
  REQUIRE(versions.ok());
  CHECK(*versions == "3/2");  // versions 0, 1 and 2, each once
}

}  // namespace
}  // namespace cohort::recovery_test
