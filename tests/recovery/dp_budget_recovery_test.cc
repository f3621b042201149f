// A differentially private task on a real PostgreSQL across server restarts (docs/privacy.md):
// what it spent is stored with every commit and read back after SIGKILL, it stops at its budget
// with the reason on the task, a round interrupted by the restart is not charged (its sum was
// never seen), and a restarted server never opens a round the budget cannot pay for.

#include <chrono>
#include <cmath>
#include <future>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "testing/postgres_cluster.h"
#include "tests/recovery/server_process.h"
#include "tests/server/loopback_server.h"
#include "tests/server/test_device.h"

namespace cohort::recovery_test {
namespace {

using server::test_util::SmallTask;
using server::test_util::TestDevice;
using server::test_util::TestDeviceOptions;
using testing::PostgresCluster;
using testing::TempDir;

constexpr int kParams = 64;
constexpr int kCohort = 6;
constexpr double kBudget = 20;

cohort::v1::TaskConfig BudgetTask(const std::string& population) {
  cohort::v1::TaskConfig config =
      SmallTask(population, kCohort, kCohort - 2, /*secagg=*/true, kParams, absl::Seconds(25));
  config.mutable_codec()->set_l2_clip_norm(1.0);
  auto* dp = config.mutable_dp();
  dp->set_mechanism(cohort::v1::DP_MECHANISM_DISTRIBUTED_DISCRETE_GAUSSIAN);
  dp->set_delta(1e-5);
  // Calibrated so that exactly three worst-case rounds fit in the budget.
  dp->set_target_epsilon(kBudget);
  dp->set_target_rounds(3);
  return config;
}

// Runs a full cohort and waits until the task has committed `committed` rounds.
void CommitRound(ServerProcess& server, const std::string& task_id, const std::string& population,
                 int round, int64_t committed) {
  std::vector<std::future<absl::StatusOr<TestDevice::Result>>> futures;
  for (int i = 0; i < kCohort; ++i) {
    TestDeviceOptions o;
    o.population = population;
    o.device_id = absl::StrCat("dp-recovery-", population, "-", round, "-", i);
    o.delta.resize(kParams);
    for (int j = 0; j < kParams; ++j) o.delta[j] = static_cast<float>(std::sin(i + 0.3 * j) * 0.1);
    o.examples = 5;
    o.seed = static_cast<uint64_t>(100 * round + i + 1);
    o.max_wait = absl::Seconds(5);
    futures.push_back(std::async(std::launch::async, [stub = server.NewDeviceStub(), o] {
      TestDevice device(stub, o);
      return device.Run(absl::Seconds(60));
    }));
  }
  absl::StatusOr<cohort::v1::Task> task;
  for (int i = 0; i < 600; ++i) {
    task = server.admin().GetTask(task_id);
    REQUIRE(task.ok());
    if (task->rounds_committed() >= committed) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  INFO(server.Output());
  REQUIRE(task->rounds_committed() == committed);
  for (auto& f : futures) f.wait();
}

bool Paused(const cohort::v1::Task& t) { return t.state() == cohort::v1::TASK_STATE_PAUSED; }

TEST_CASE("PostgresServer_DpTaskStopsAtItsBudgetAcrossRestartsAndNeverOverspends") {
  auto cluster = PostgresCluster::Start();
  REQUIRE(cluster.ok());
  auto uri = (*cluster)->CreateDatabase("dp_budget");
  REQUIRE(uri.ok());
  TempDir dir;
  const std::string population = "dp-budget";

  auto first = ServerProcess::Start(dir, *uri);
  REQUIRE(first.ok());
  auto created = (*first)->admin().CreateTask(BudgetTask(population));
  INFO(created.status().ToString());
  REQUIRE(created.ok());
  const std::string task_id = created->task_id();
  CHECK(created->config().dp().noise_multiplier() > 0);
  REQUIRE((*first)->admin().StartRounds(task_id, 10).ok());
  CommitRound(**first, task_id, population, 1, 1);
  CommitRound(**first, task_id, population, 2, 2);
  auto before_kill = (*first)->admin().GetTask(task_id);
  REQUIRE(before_kill.ok());
  REQUIRE(before_kill->privacy().rounds_charged() == 2);
  const double spent_before_kill = before_kill->privacy().epsilon_spent();
  CHECK(spent_before_kill > 0);
  CHECK(spent_before_kill <= kBudget);
  // Round 3 is forming (no devices): kill the server there.
  auto forming = (*first)->admin().WaitForTask(
      task_id, +[](const cohort::v1::Task& t) { return t.current_round().round_number() == 3; },
      absl::Seconds(30));
  REQUIRE(forming.ok());
  REQUIRE((*first)->Kill().ok());
  first->reset();

  // After the restart the spent budget is what the commits stored; the interrupted round failed
  // without being charged.
  auto second = ServerProcess::Start(dir, *uri);
  REQUIRE(second.ok());
  auto restored = (*second)->admin().GetTask(task_id);
  REQUIRE(restored.ok());
  CHECK(restored->privacy().rounds_charged() == 2);
  CHECK(restored->privacy().epsilon_spent() == spent_before_kill);
  auto rounds = (*second)->admin().ListRounds(task_id);
  REQUIRE(rounds.ok());
  for (const auto& r : *rounds) {
    if (r.round_number() == 3) {
      CHECK(r.phase() == cohort::v1::ROUND_PHASE_FAILED);
      CHECK_FALSE(r.privacy().charged());
    }
  }
  // One more round fits; then the task stops before the round that would overspend.
  CommitRound(**second, task_id, population, 4, 3);
  auto stopped = (*second)->admin().WaitForTask(task_id, &Paused, absl::Seconds(30));
  INFO((*second)->Output());
  REQUIRE(stopped.ok());
  CHECK(stopped->rounds_committed() == 3);
  CHECK_FALSE(stopped->has_current_round());
  CHECK(stopped->privacy().exhausted());
  CHECK(stopped->privacy().rounds_charged() == 3);
  CHECK(stopped->privacy().epsilon_spent() <= kBudget);
  CHECK(stopped->privacy().epsilon_spent() > spent_before_kill);
  CHECK(absl::StrContains(stopped->privacy().stop_reason(), "round 4 would bring epsilon"));
  CHECK(absl::StrContains(stopped->privacy().stop_reason(), "budget of 20"));
  const double final_spent = stopped->privacy().epsilon_spent();
  REQUIRE((*second)->Kill().ok());
  second->reset();

  // A third start: still stopped, nothing opens, asking for more is refused.
  auto third = ServerProcess::Start(dir, *uri);
  REQUIRE(third.ok());
  std::this_thread::sleep_for(std::chrono::seconds(1));
  auto after = (*third)->admin().GetTask(task_id);
  REQUIRE(after.ok());
  CHECK(after->state() == cohort::v1::TASK_STATE_PAUSED);
  CHECK_FALSE(after->has_current_round());
  CHECK(after->privacy().exhausted());
  CHECK(after->privacy().epsilon_spent() == final_spent);
  const absl::Status more = (*third)->admin().StartRounds(task_id, 1);
  CHECK(more.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(absl::StrContains(more.message(), "privacy budget"));
  // The database agrees: three ledger rows, and the task's spent epsilon within its budget.
  auto ledger = (*cluster)->QueryValue("dp_budget", "SELECT count(*) FROM privacy_ledger");
  REQUIRE(ledger.ok());
  CHECK(*ledger == "3");
  auto within = (*cluster)->QueryValue(
      "dp_budget", "SELECT epsilon_spent <= epsilon_budget AND privacy_rounds = 3 FROM tasks");
  REQUIRE(within.ok());
  CHECK(*within == "t");
}

}  // namespace
}  // namespace cohort::recovery_test
