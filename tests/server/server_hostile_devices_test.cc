// Hostile devices against the real server over loopback, with protocol-speaking test devices
// (an independent client of the documented protocol): a device that shares signed garbage with
// every neighbour, one that replays its share bundles of an earlier round, and a second client
// that checks in with a victim's device id. Each costs only itself: the round commits the exact
// FedAvg of everyone else, the attacker is excluded and, after repeats, refused for a while; the
// victim's session stands.

#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "base/version.h"
#include "tests/server/fedavg_check.h"
#include "tests/server/loopback_server.h"
#include "tests/server/test_device.h"

namespace cohort::server::test_util {
namespace {

constexpr int kParams = 8;
constexpr int kDevices = 7;
constexpr double kBound = 2.0 / 4095 + 1e-6;

TestDeviceOptions Device(const std::string& population, int i) {
  TestDeviceOptions o;
  o.population = population;
  o.device_id = absl::StrCat("hostile-", population, "-", 1000 + i);
  o.delta.resize(kParams);
  for (int j = 0; j < kParams; ++j) {
    o.delta[static_cast<size_t>(j)] = static_cast<float>(std::cos(1.3 * i + 0.7 * j) * 0.4);
  }
  o.examples = 1 + (i * 5) % 11;
  o.seed = static_cast<uint64_t>(i + 1);
  o.max_wait = absl::Seconds(5);
  return o;
}

// Runs the devices (each on its own thread, the attacker's TestDevice kept across rounds so it
// can replay) through one round of `task_id`; returns the attacker's result.
// Pace steering estimates the supply of devices from the check-ins of about the last minute of
// the server's clock, which stands still: without a move, the previous round's check-ins count
// too, and the last device to check in would be admitted only with probability < 1 (and retry
// until sampled). Each round therefore starts a minute and a bit after the previous one.
absl::StatusOr<TestDevice::Result> RunRound(LoopbackServer& server, const std::string& task_id,
                                            const std::vector<TestDeviceOptions>& honest,
                                            TestDevice& attacker) {
  server.AdvanceClock(absl::Seconds(61));
  REQUIRE(server.StartRounds(task_id, 1).ok());
  std::vector<std::future<absl::StatusOr<TestDevice::Result>>> futures;
  for (const auto& options : honest) {
    futures.push_back(std::async(std::launch::async, [&server, options] {
      TestDevice device(server.NewDeviceStub(), options);
      return device.Run(absl::Seconds(40));
    }));
  }
  absl::StatusOr<TestDevice::Result> attacked = attacker.Run(absl::Seconds(40));
  for (auto& f : futures) {
    auto r = f.get();
    REQUIRE(r.ok());
    CHECK(r->last_phase == cohort::v1::ROUND_PHASE_COMMITTED);
  }
  return attacked;
}

void CheckCommittedFedAvgOfHonest(LoopbackServer& server, const std::string& task_id,
                                  const cohort::v1::Model& before,
                                  const std::vector<TestDeviceOptions>& honest, int64_t rounds) {
  auto task = server.WaitForRoundsEnded(task_id, rounds, absl::Seconds(30));
  REQUIRE(task.ok());
  CHECK(task->rounds_committed() == rounds);
  auto after = server.LatestModel(task_id);
  REQUIRE(after.ok());
  CHECK(MaxAbsDiff(Floats(after->parameters()), PlainFedAvg(before, honest)) < kBound);
}

TEST_CASE("GarbageBundles_TheSenderIsExcludedTheSumOfEveryoneElseCommitsThenItIsRefused") {
  auto server = LoopbackServer::Start();
  REQUIRE(server.ok());
  const std::string population = "garbage";
  auto task = (*server)->CreateTask(SmallTask(population, kDevices, 4, true, kParams));
  REQUIRE(task.ok());
  std::vector<TestDeviceOptions> honest;
  for (int i = 1; i < kDevices; ++i) honest.push_back(Device(population, i));
  TestDeviceOptions bad = Device(population, 0);
  bad.garbage_bundles = true;
  TestDevice attacker((*server)->NewDeviceStub(), bad);
  for (int round = 1; round <= 2; ++round) {
    INFO("round " << round);
    auto before = (*server)->LatestModel(task->task_id());
    REQUIRE(before.ok());
    auto attacked = RunRound(**server, task->task_id(), honest, attacker);
    INFO(attacked.status().ToString());
    REQUIRE(attacked.ok());
    CHECK(attacked->dropped);
    CHECK(attacked->dropped_reason.find("excluded") != std::string::npos);
    CheckCommittedFedAvgOfHonest(**server, task->task_id(), *before, honest, round);
    auto summary = (*server)->store().ListRounds(task->task_id(), 0, 1);
    REQUIRE(summary.ok());
    CHECK(summary->front().excluded() == 1);
  }
  // Two exclusions: the next check-in is told to come back after the cool-off.
  cohort::v1::CheckInRequest request;
  request.set_population(population);
  request.set_device_id(bad.device_id);
  request.set_sdk_version(cohort::kProtocolVersion);
  TestDevice probe((*server)->NewDeviceStub(), bad);
  REQUIRE((*server)->StartRounds(task->task_id(), 1).ok());
  auto refused = probe.Run(absl::Seconds(2));
  CHECK((!refused.ok() || !refused->accepted));  // never admitted while cooling off
}

TEST_CASE("ReplayedBundles_FromAnEarlierRoundAreReportedAndTheReplayerExcluded") {
  auto server = LoopbackServer::Start();
  REQUIRE(server.ok());
  const std::string population = "replay";
  auto task = (*server)->CreateTask(SmallTask(population, kDevices, 4, true, kParams));
  REQUIRE(task.ok());
  std::vector<TestDeviceOptions> everyone;
  for (int i = 0; i < kDevices; ++i) everyone.push_back(Device(population, i));
  std::vector<TestDeviceOptions> honest(everyone.begin() + 1, everyone.end());
  TestDeviceOptions replayer = everyone[0];
  replayer.replay_bundles = true;
  TestDevice attacker((*server)->NewDeviceStub(), replayer);
  // Round 1: it behaves (and keeps its bundles).
  auto before = (*server)->LatestModel(task->task_id());
  REQUIRE(before.ok());
  auto first = RunRound(**server, task->task_id(), honest, attacker);
  REQUIRE(first.ok());
  CHECK(first->last_phase == cohort::v1::ROUND_PHASE_COMMITTED);
  CheckCommittedFedAvgOfHonest(**server, task->task_id(), *before, everyone, 1);
  // Round 2: it replays them, signed anew; they do not open under the new round and plan.
  before = (*server)->LatestModel(task->task_id());
  REQUIRE(before.ok());
  auto second = RunRound(**server, task->task_id(), honest, attacker);
  INFO(second.status().ToString());
  REQUIRE(second.ok());
  CHECK(second->dropped);
  CHECK(second->dropped_reason.find("excluded") != std::string::npos);
  CheckCommittedFedAvgOfHonest(**server, task->task_id(), *before, honest, 2);
}

TEST_CASE("KnownDeviceId_ASecondClientCannotTakeTheVictimsSession") {
  auto server = LoopbackServer::Start();
  REQUIRE(server.ok());
  const std::string population = "takeover";
  auto task = (*server)->CreateTask(SmallTask(population, 4, 4, true, kParams));
  REQUIRE(task.ok());
  REQUIRE((*server)->StartRounds(task->task_id(), 1).ok());
  std::vector<TestDeviceOptions> devices;
  for (int i = 0; i < 4; ++i) devices.push_back(Device(population, i));
  std::vector<std::future<absl::StatusOr<TestDevice::Result>>> futures;
  for (const auto& options : devices) {
    futures.push_back(std::async(std::launch::async, [&server, options] {
      TestDevice device((*server)->NewDeviceStub(), options);
      return device.Run(absl::Seconds(40));
    }));
  }
  // Once the four are admitted, an impostor checks in with device 0's id and its own key.
  // (Polled without a time limit: the round waits for all four, and ctest's timeout bounds it.)
  while (true) {
    auto t = (*server)->GetTask(task->task_id());
    REQUIRE(t.ok());
    if (t->current_round().selected() == 4) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  TestDeviceOptions impostor = devices[0];
  impostor.identity_seed = std::string(32, 'i');
  bool refused = false;
  for (int attempt = 0; attempt < 200 && !refused; ++attempt) {
    TestDevice thief((*server)->NewDeviceStub(), impostor);
    auto r = thief.Run(absl::Milliseconds(300));
    if (r.ok() && r->check_in_error == grpc::StatusCode::PERMISSION_DENIED) refused = true;
    if (r.ok() && r->accepted) FAIL("the impostor was admitted");
  }
  CHECK(refused);
  for (auto& f : futures) {
    auto r = f.get();
    REQUIRE(r.ok());
    CHECK(r->last_phase == cohort::v1::ROUND_PHASE_COMMITTED);
    CHECK(r->outcome.contributors() == 4);
  }
}

}  // namespace
}  // namespace cohort::server::test_util
