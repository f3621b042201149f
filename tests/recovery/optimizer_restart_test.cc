// A FedAdam task on a real PostgreSQL, with cohort-server SIGKILLed between two rounds: the
// round after the restart commits exactly the model an uninterrupted run of the same rounds and
// devices commits, because the optimizer's moments were committed with each model version and
// the restarted server resumes from them. A third run, whose stored state is deleted before the
// restart, shows the check can fail: resuming from fresh moments commits another model.

#include <string>

#include <catch2/catch.hpp>

#include "testing/postgres_cluster.h"
#include "tests/recovery/recovery_cohort.h"
#include "tests/recovery/server_process.h"

namespace cohort::recovery_test {
namespace {

using testing::PostgresCluster;
using testing::TempDir;

constexpr char kPopulation[] = "adam";

cohort::v1::TaskConfig AdamTask() {
  cohort::v1::TaskConfig config = RecoveryTask(kPopulation);
  config.mutable_optimizer()->set_kind(cohort::v1::ServerOptimizerConfig::KIND_FEDADAM);
  config.mutable_optimizer()->set_learning_rate(0.05);
  return config;
}

enum class Run { kUninterrupted, kKilledBetweenRounds, kKilledAndStateLost };

// Runs three committed rounds of the same devices on a fresh database and returns the model the
// third commits.
cohort::v1::Model ThirdModel(PostgresCluster& cluster, const std::string& database, Run run) {
  auto uri = cluster.CreateDatabase(database);
  REQUIRE(uri.ok());
  TempDir dir;
  auto server = ServerProcess::Start(dir, *uri);
  REQUIRE(server.ok());
  auto task = (*server)->admin().CreateTask(AdamTask());
  INFO(task.status().ToString());
  REQUIRE(task.ok());
  const std::string id = task->task_id();
  // A killed run asks for one round more: the restart fails the round that was forming.
  REQUIRE((*server)->admin().StartRounds(id, run == Run::kUninterrupted ? 3 : 4).ok());
  CommitOneRound(**server, id, kPopulation, 1, 1);
  CommitOneRound(**server, id, kPopulation, 2, 2);
  if (run != Run::kUninterrupted) {
    // Between rounds: version 2 committed, round 3 forming with nobody in it yet.
    REQUIRE(WaitForPhase(**server, id, 3, cohort::v1::ROUND_PHASE_FORMING).ok());
    REQUIRE((*server)->Kill().ok());
    server->reset();
    if (run == Run::kKilledAndStateLost) {
      REQUIRE(cluster.Execute(database, "DELETE FROM optimizer_states").ok());
    }
    server = ServerProcess::Start(dir, *uri);
    REQUIRE(server.ok());
  }
  CommitOneRound(**server, id, kPopulation, 3, 3);
  auto model = (*server)->admin().LatestModel(id);
  INFO((*server)->Output());
  REQUIRE(model.ok());
  REQUIRE(model->version() == 3);
  CHECK(model->optimizer_kind() == cohort::v1::ServerOptimizerConfig::KIND_FEDADAM);
  return *model;
}

TEST_CASE("PostgresServer_FedAdamKilledBetweenRounds_NextRoundCommitsTheUninterruptedModel") {
  auto cluster = PostgresCluster::Start();
  REQUIRE(cluster.ok());
  const cohort::v1::Model uninterrupted =
      ThirdModel(**cluster, "adam_uninterrupted", Run::kUninterrupted);
  const cohort::v1::Model killed = ThirdModel(**cluster, "adam_killed", Run::kKilledBetweenRounds);
  CHECK(killed.parameters() == uninterrupted.parameters());
  CHECK(killed.sha256() == uninterrupted.sha256());
  CHECK(uninterrupted.optimizer_state_version() == 3);
  CHECK(killed.optimizer_state_version() == 3);

  const cohort::v1::Model lost = ThirdModel(**cluster, "adam_state_lost", Run::kKilledAndStateLost);
  CHECK(lost.parameters() != uninterrupted.parameters());
  // The restarted server said it started afresh: one step since its state began.
  CHECK(lost.optimizer_state_version() == 1);
}

}  // namespace
}  // namespace cohort::recovery_test
