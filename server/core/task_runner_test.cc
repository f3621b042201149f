// The task runner's commit paths through the Coordinator: a commit whose acknowledgement is lost
// (with the store reachable at once, and with the store gone until later), and the server
// optimizer's state across rounds, across a restart and across a refused commit.

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "server/core/testing/coordinator_fixture.h"

namespace cohort::server {
namespace {

using test_util::CommitFault;
using test_util::Fixture;
using test_util::FloatsOf;
using test_util::PlainConfig;

// Level l of PlainConfig's codec decodes to -1 + l * 2 / 255.
double DeltaOfLevel(uint64_t level) { return -1.0 + static_cast<double>(level) * 2.0 / 255.0; }

void CheckModelMoved(Fixture& f, const std::string& task_id, int64_t from, int64_t to,
                     double delta) {
  auto a = f.store.GetModel(task_id, from);
  auto b = f.store.GetModel(task_id, to);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  const std::vector<float> before = FloatsOf(*a);
  const std::vector<float> after = FloatsOf(*b);
  REQUIRE(after.size() == before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    CHECK(after[i] == Approx(before[i] + delta).margin(1e-5));
  }
}

TEST_CASE("CommitAckLost_StoreAnswersAtOnce_TheRoundCountsAsCommitted") {
  Fixture f;
  const std::string task_id = f.CreateAndStart(PlainConfig(2, 2), 2);
  f.store.SetCommitFault(CommitFault::kAckLost, absl::UnavailableError("connection reset"));
  const cohort::v1::RoundUpdate first = f.RunRound(2, 255);
  // The model version landed; the runner asked the store instead of failing the round.
  CHECK(f.store.landed_commits() == 1);
  CHECK(first.phase() == cohort::v1::ROUND_PHASE_COMMITTED);
  CHECK(first.outcome().new_model_version() == 1);
  f.store.SetCommitFault(CommitFault::kNone);
  const cohort::v1::RoundUpdate second = f.RunRound(2, 0, 10);
  CHECK(second.phase() == cohort::v1::ROUND_PHASE_COMMITTED);
  CHECK(second.outcome().new_model_version() == 2);
  auto task = f.coordinator->GetTask(task_id);
  REQUIRE(task.ok());
  CHECK(task->rounds_committed() == 2);
  CHECK(task->rounds_failed() == 0);
  CheckModelMoved(f, task_id, 0, 1, DeltaOfLevel(255));
  CheckModelMoved(f, task_id, 1, 2, DeltaOfLevel(0));
}

TEST_CASE("CommitAckLostThenOutage_NextRoundWaitsForTheStoreAndBuildsOnTheLandedVersion") {
  Fixture f;
  const std::string task_id = f.CreateAndStart(PlainConfig(2, 2), 2);
  f.store.SetCommitFault(CommitFault::kAckLostThenOutage,
                         absl::UnavailableError("connection reset"));
  const cohort::v1::RoundUpdate first = f.RunRound(2, 255);
  // The store cannot say whether the commit landed: the devices are told the round failed.
  CHECK(f.store.landed_commits() == 1);
  CHECK(first.phase() == cohort::v1::ROUND_PHASE_FAILED);
  CHECK(first.outcome().failure_reason().find("commit failed") != std::string::npos);
  // While the store is down, no round opens.
  f.clock.AdvanceTime(absl::Seconds(5));
  f.coordinator->AdvanceTo(f.clock.Now());
  CHECK_FALSE(f.coordinator->GetTask(task_id)->has_current_round());

  f.store.SetCommitFault(CommitFault::kNone);
  f.store.FailAll(absl::OkStatus());
  f.coordinator->AdvanceTo(f.clock.Now());
  // The runner found version 1 in the store and counts its round as committed, not failed.
  auto task = f.coordinator->GetTask(task_id);
  REQUIRE(task.ok());
  CHECK(task->latest_model_version() == 1);
  CHECK(task->rounds_committed() == 1);
  CHECK(task->rounds_failed() == 0);
  REQUIRE(task->has_current_round());
  CHECK(task->current_round().base_model_version() == 1);

  const cohort::v1::RoundUpdate second = f.RunRound(2, 0, 10);
  CHECK(second.phase() == cohort::v1::ROUND_PHASE_COMMITTED);
  CHECK(second.outcome().new_model_version() == 2);
  CheckModelMoved(f, task_id, 1, 2, DeltaOfLevel(0));
  // The store's records agree: round 1 committed version 1, round 2 version 2.
  auto rounds = f.store.ListRounds(task_id, 0, 10);
  REQUIRE(rounds.ok());
  REQUIRE(rounds->size() == 2);
  CHECK((*rounds)[1].round_number() == 1);
  CHECK((*rounds)[1].phase() == cohort::v1::ROUND_PHASE_COMMITTED);
  CHECK((*rounds)[1].new_model_version() == 1);
  CHECK((*rounds)[0].phase() == cohort::v1::ROUND_PHASE_COMMITTED);
  CHECK((*rounds)[0].new_model_version() == 2);
  auto stored = f.store.GetTask(task_id);
  REQUIRE(stored.ok());
  CHECK(stored->rounds_committed() == 2);
  CHECK(stored->rounds_failed() == 0);
}

TEST_CASE("FedAvgM_AcrossRounds_AddsTheMomentumOfEarlierRounds") {
  Fixture f;
  cohort::v1::TaskConfig config = PlainConfig(2, 2);
  config.mutable_optimizer()->set_kind(cohort::v1::ServerOptimizerConfig::KIND_FEDAVGM);
  config.mutable_optimizer()->set_learning_rate(1.0);
  config.mutable_optimizer()->set_momentum(0.5);
  const std::string task_id = f.CreateAndStart(config, 2);
  // Round 1: delta +1, velocity 1, step +1. Round 2: delta -0.6 (level 51), velocity
  // 0.5 * 1 - 0.6 = -0.1, step -0.1. FedAvg would step -0.6.
  REQUIRE(f.RunRound(2, 255).phase() == cohort::v1::ROUND_PHASE_COMMITTED);
  REQUIRE(f.RunRound(2, 51, 10).phase() == cohort::v1::ROUND_PHASE_COMMITTED);
  CheckModelMoved(f, task_id, 0, 1, 1.0);
  CheckModelMoved(f, task_id, 1, 2, -0.1);
}

// Three rounds of two devices at levels 255, 51 and 200 (deltas +1, -0.6, +0.569), with a
// restart of the Coordinator after the second when `restart` is set; returns the last model.
cohort::v1::Model ThreeRounds(cohort::v1::ServerOptimizerConfig::Kind kind, bool restart) {
  Fixture f;
  cohort::v1::TaskConfig config = PlainConfig(2, 2);
  config.mutable_optimizer()->set_kind(kind);
  config.mutable_optimizer()->set_learning_rate(
      kind == cohort::v1::ServerOptimizerConfig::KIND_FEDAVGM ? 0.5 : 0.05);
  // One more round requested when restarting: the restart fails the round that was forming.
  const std::string task_id = f.CreateAndStart(config, restart ? 4 : 3);
  REQUIRE(f.RunRound(2, 255).phase() == cohort::v1::ROUND_PHASE_COMMITTED);
  REQUIRE(f.RunRound(2, 51, 10).phase() == cohort::v1::ROUND_PHASE_COMMITTED);
  if (restart) {
    f.Restart();
    auto state = f.store.GetOptimizerState(task_id, 2);
    REQUIRE(state.ok());
    CHECK(state->kind() == kind);
    CHECK(state->steps() == 2);
  }
  REQUIRE(f.RunRound(2, 200, 20).phase() == cohort::v1::ROUND_PHASE_COMMITTED);
  auto model = f.store.GetLatestModel(task_id);
  REQUIRE(model.ok());
  REQUIRE(model->version() == 3);
  return *model;
}

TEST_CASE("OptimizerState_SurvivesARestart_TheNextStepIsTheUninterruptedOne") {
  const auto kind = GENERATE(cohort::v1::ServerOptimizerConfig::KIND_FEDAVGM,
                             cohort::v1::ServerOptimizerConfig::KIND_FEDADAGRAD,
                             cohort::v1::ServerOptimizerConfig::KIND_FEDADAM,
                             cohort::v1::ServerOptimizerConfig::KIND_FEDYOGI);
  INFO(cohort::v1::ServerOptimizerConfig::Kind_Name(kind));
  const cohort::v1::Model uninterrupted = ThreeRounds(kind, /*restart=*/false);
  const cohort::v1::Model restarted = ThreeRounds(kind, /*restart=*/true);
  CHECK(restarted.parameters() == uninterrupted.parameters());
  CHECK(restarted.optimizer_kind() == kind);
  CHECK(restarted.optimizer_state_version() == 3);
  CHECK(uninterrupted.optimizer_state_version() == 3);
}

TEST_CASE("OptimizerState_IsAdoptedOnlyWhenItsCommitLands") {
  // A refused commit must not advance the momentum: the next round steps from the state of the
  // last committed version, as if the refused round had not run.
  auto run = [](bool refuse_first) {
    Fixture f;
    cohort::v1::TaskConfig config = PlainConfig(2, 2);
    config.mutable_optimizer()->set_kind(cohort::v1::ServerOptimizerConfig::KIND_FEDAVGM);
    config.mutable_optimizer()->set_momentum(0.5);
    const std::string task_id = f.CreateAndStart(config, 3);
    REQUIRE(f.RunRound(2, 255).phase() == cohort::v1::ROUND_PHASE_COMMITTED);
    if (refuse_first) {
      f.store.SetCommitFault(CommitFault::kRefused, absl::UnavailableError("database down"));
      REQUIRE(f.RunRound(2, 0, 10).phase() == cohort::v1::ROUND_PHASE_FAILED);
      f.store.SetCommitFault(CommitFault::kNone);
    }
    REQUIRE(f.RunRound(2, 51, 20).phase() == cohort::v1::ROUND_PHASE_COMMITTED);
    auto model = f.store.GetLatestModel(task_id);
    REQUIRE(model.ok());
    REQUIRE(model->version() == 2);
    return model->parameters();
  };
  CHECK(run(true) == run(false));
}

}  // namespace
}  // namespace cohort::server
