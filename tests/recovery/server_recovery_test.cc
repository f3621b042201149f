// cohort-server on a real PostgreSQL: what an operator relies on when things break.
//  - SIGKILL in the middle of a round: after a restart on the same database the last committed
//    model is intact (checksum), the interrupted round is recorded FAILED "server restart", and
//    the next round commits the next version.
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
#include "tests/recovery/server_process.h"
#include "tests/server/loopback_server.h"
#include "tests/server/test_device.h"

namespace cohort::recovery_test {
namespace {

using server::test_util::SmallTask;
using server::test_util::StopAt;
using server::test_util::TestDevice;
using server::test_util::TestDeviceOptions;
using testing::PostgresCluster;
using testing::TempDir;

constexpr int kParams = 8;
constexpr int kCohort = 6;

TestDeviceOptions Device(const std::string& population, int round, int i,
                         StopAt stop = StopAt::kNever) {
  TestDeviceOptions o;
  o.population = population;
  o.device_id = absl::StrCat("recovery-device-", population, "-", round, "-", i);
  o.delta.resize(kParams);
  for (int j = 0; j < kParams; ++j) {
    o.delta[static_cast<size_t>(j)] = static_cast<float>(std::sin(1.3 * i + 0.7 * j + round) * 0.3);
  }
  o.examples = 5 + i;
  o.stop_at = stop;
  o.seed = static_cast<uint64_t>(100 * round + i + 1);
  o.max_wait = absl::Seconds(5);
  return o;
}

// Each device on its own thread and connection; results are collected when the futures are read.
std::vector<std::future<absl::StatusOr<TestDevice::Result>>> LaunchDevices(
    const ServerProcess& server, const std::vector<TestDeviceOptions>& devices) {
  std::vector<std::future<absl::StatusOr<TestDevice::Result>>> futures;
  for (const TestDeviceOptions& options : devices) {
    futures.push_back(std::async(std::launch::async, [stub = server.NewDeviceStub(), options] {
      TestDevice device(stub, options);
      return device.Run(absl::Seconds(120));
    }));
  }
  return futures;
}

std::vector<TestDeviceOptions> Cohort(const std::string& population, int round,
                                      StopAt last_device_stop = StopAt::kNever) {
  std::vector<TestDeviceOptions> devices;
  for (int i = 0; i < kCohort; ++i) {
    devices.push_back(Device(population, round, i, i == kCohort - 1 ? last_device_stop : StopAt::kNever));
  }
  return devices;
}

// Runs one full cohort and waits for the task to reach `committed` rounds.
void CommitOneRound(ServerProcess& server, const std::string& task_id,
                    const std::string& population, int round, int64_t committed) {
  auto futures = LaunchDevices(server, Cohort(population, round));
  auto task = server.admin().WaitForTask(
      task_id, committed == 1 ? +[](const cohort::v1::Task& t) { return t.rounds_committed() >= 1; }
                              : +[](const cohort::v1::Task& t) { return t.rounds_committed() >= 2; },
      absl::Seconds(60));
  INFO(server.Output());
  REQUIRE(task.ok());
  for (auto& f : futures) f.wait();
}

cohort::v1::TaskConfig RecoveryTask(const std::string& population) {
  // The real binary runs on the real clock. Deadlines far longer than any test step: a round
  // with a vanished device sits in MASKED_INPUT until the test acts, and honest devices slowed by
  // a loaded machine are never dropped; complete rounds close each phase as soon as everyone
  // has answered, so no test waits for a deadline.
  return SmallTask(population, kCohort, kCohort - 2, /*secagg=*/true, kParams, absl::Seconds(120));
}

const cohort::v1::RoundSummary* FindRound(const std::vector<cohort::v1::RoundSummary>& rounds,
                                          int64_t number) {
  for (const auto& r : rounds) {
    if (r.round_number() == number) return &r;
  }
  return nullptr;
}

TEST_CASE("PostgresServer_SigkillMidRound_RestartKeepsTheCommittedModelAndFailsTheInterruptedRound") {
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
  auto in_masked_input = (*first)->admin().WaitForTask(
      task_id,
      +[](const cohort::v1::Task& t) {
        return t.current_round().round_number() == 2 &&
               t.current_round().phase() == cohort::v1::ROUND_PHASE_MASKED_INPUT;
      },
      absl::Seconds(60));
  REQUIRE(in_masked_input.ok());
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
  server::test_util::PhaseGate gate(cohort::v1::ROUND_PHASE_MASKED_INPUT);
  for (TestDeviceOptions& d : second_round) d.on_phase = gate.Hook();
  futures = LaunchDevices(**server, second_round);
  REQUIRE(gate.AwaitHeld(kCohort, absl::Seconds(60)));
  REQUIRE((*cluster)->Stop("fast").ok());
  gate.Open();
  for (auto& f : futures) f.wait();
  auto failed = (*server)->admin().WaitForTask(
      task_id, +[](const cohort::v1::Task& t) { return t.rounds_failed() >= 1; },
      absl::Seconds(60));
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
