// Whole rounds over real gRPC on loopback with protocol-speaking test devices: SecAgg+ without
// and with dropouts at each phase, too few survivors, a plain (non-secure) round, and a device
// that uploads a vector of the wrong length. The committed model must equal plain weighted
// FedAvg of the contributors' updates within the quantization bound; a failed round leaves the
// model untouched.

#include <cmath>
#include <future>
#include <map>
#include <thread>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "tests/server/fedavg_check.h"
#include "tests/server/loopback_server.h"
#include "tests/server/test_device.h"

namespace cohort::server::test_util {
namespace {

constexpr int kParams = 8;
// Quantization: range 1, 12 bits -> one level is 2/4095; stochastic rounding errs by < 1 level
// per device, and the weighted average of such errors is < 1 level as well.
constexpr double kBound = 2.0 / 4095 + 1e-6;

TestDeviceOptions Device(const std::string& population, int i, StopAt stop = StopAt::kNever) {
  TestDeviceOptions o;
  o.population = population;
  o.device_id = absl::StrCat("test-device-", population, "-", 1000 + i);
  o.delta.resize(kParams);
  for (int j = 0; j < kParams; ++j) {
    o.delta[static_cast<size_t>(j)] = static_cast<float>(std::sin(1.7 * i + 0.9 * j) * 0.5);
  }
  o.examples = 1 + (i * 7) % 20;
  o.stop_at = stop;
  o.seed = static_cast<uint64_t>(i + 1);
  o.max_wait = absl::Seconds(5);
  return o;
}

struct Outcome {
  std::vector<absl::StatusOr<TestDevice::Result>> results;
};

// Runs the devices, each on its own thread. With `stalled` set, waits until every device is done
// with that phase (acted or vanished), then moves the server's clock past its deadline: the
// vanished devices are dropped then, and only then, whatever the machine's load.
Outcome RunDevices(LoopbackServer& server, std::vector<TestDeviceOptions> devices,
                   cohort::v1::RoundPhase stalled = cohort::v1::ROUND_PHASE_UNSPECIFIED) {
  DeviceLog log;
  std::vector<std::future<absl::StatusOr<TestDevice::Result>>> futures;
  for (auto& options : devices) {
    options.log = &log;
    futures.push_back(std::async(std::launch::async, [&server, options] {
      TestDevice device(server.NewDeviceStub(), options);
      return device.Run(absl::Seconds(120));
    }));
  }
  if (stalled != cohort::v1::ROUND_PHASE_UNSPECIFIED) {
    const bool all_done =
        log.AwaitDoneWith(stalled, static_cast<int>(devices.size()), absl::Seconds(120));
    INFO("devices done with " << cohort::v1::RoundPhase_Name(stalled) << ": "
                              << log.DoneWith(stalled) << " of " << devices.size());
    CHECK(all_done);
    server.PassPhaseDeadline();
  }
  Outcome outcome;
  for (auto& f : futures) outcome.results.push_back(f.get());
  return outcome;
}

// Creates a task, starts one round, runs the devices, returns the task after the round ended.
struct RoundRun {
  cohort::v1::Model before;
  cohort::v1::Model after;
  cohort::v1::Task task;
  Outcome outcome;
};

RoundRun RunOneRound(LoopbackServer& server, const cohort::v1::TaskConfig& config,
                     const std::vector<TestDeviceOptions>& devices,
                     cohort::v1::RoundPhase stalled = cohort::v1::ROUND_PHASE_UNSPECIFIED) {
  RoundRun run;
  auto task = server.CreateTask(config);
  REQUIRE(task.ok());
  auto before = server.LatestModel(task->task_id());
  REQUIRE(before.ok());
  run.before = *before;
  REQUIRE(server.StartRounds(task->task_id(), 1).ok());
  run.outcome = RunDevices(server, devices, stalled);
  auto ended = server.WaitForRoundsEnded(task->task_id(), 1, absl::Seconds(60));
  for (const auto& result : run.outcome.results) {
    UNSCOPED_INFO("device: " << (result.ok() ? "ran" : result.status().ToString()));  // if stuck
  }
  REQUIRE(ended.ok());
  run.task = *ended;
  auto after = server.LatestModel(task->task_id());
  REQUIRE(after.ok());
  run.after = *after;
  return run;
}

TEST_CASE("SecAggRound_NoDropout_CommitsPlainWeightedFedAvg") {
  auto server = LoopbackServer::Start();
  REQUIRE(server.ok());
  std::vector<TestDeviceOptions> devices;
  for (int i = 0; i < 6; ++i) devices.push_back(Device("nodrop", i));
  RoundRun run = RunOneRound(**server, SmallTask("nodrop", 6, 4, true, kParams), devices);
  for (const auto& r : run.outcome.results) {
    REQUIRE(r.ok());
    CHECK(r->last_phase == cohort::v1::ROUND_PHASE_COMMITTED);
    CHECK(r->outcome.new_model_version() == 1);
    CHECK(r->outcome.contributors() == 6);
  }
  CHECK(run.task.rounds_committed() == 1);
  CHECK(run.after.version() == 1);
  CHECK(MaxAbsDiff(Floats(run.after.parameters()), PlainFedAvg(run.before, devices)) < kBound);
}

TEST_CASE("SecAggRound_DropoutAtEachPhase_CommitsFedAvgOfTheContributors") {
  const StopAt stop = GENERATE(StopAt::kBeforeKeys, StopAt::kAfterKeys, StopAt::kAfterShares,
                               StopAt::kAfterMaskedInput);
  const std::string population = absl::StrCat("dropout-", static_cast<int>(stop));
  auto server = LoopbackServer::Start();
  REQUIRE(server.ok());
  std::vector<TestDeviceOptions> devices;
  for (int i = 0; i < 7; ++i)
    devices.push_back(Device(population, i, i == 2 ? stop : StopAt::kNever));
  RoundRun run = RunOneRound(**server, SmallTask(population, 7, 4, true, kParams), devices,
                             StalledPhase(stop));
  INFO("stop_at=" << static_cast<int>(stop));
  REQUIRE(run.task.rounds_committed() == 1);
  // A device that vanished after uploading is still in the sum (its self mask is rebuilt from
  // its neighbours' shares); earlier vanishers are not.
  std::vector<TestDeviceOptions> contributors;
  for (int i = 0; i < 7; ++i) {
    if (i != 2 || stop == StopAt::kAfterMaskedInput)
      contributors.push_back(devices[static_cast<size_t>(i)]);
  }
  for (size_t i = 0; i < devices.size(); ++i) {
    REQUIRE(run.outcome.results[i].ok());
    if (i == 2) {
      CHECK(run.outcome.results[i]->vanished);
    } else {
      CHECK(run.outcome.results[i]->outcome.contributors() ==
            static_cast<int>(contributors.size()));
    }
  }
  CHECK(MaxAbsDiff(Floats(run.after.parameters()), PlainFedAvg(run.before, contributors)) < kBound);
  // The round's metrics saw the dropout.
  auto stub = (*server)->NewAdminStub();
  cohort::v1::ListRoundsRequest list;
  list.set_task_id(run.task.task_id());
  cohort::v1::ListRoundsResponse rounds;
  REQUIRE(stub->ListRounds(LoopbackServer::AdminContext().get(), list, &rounds).ok());
  REQUIRE(rounds.rounds_size() == 1);
  CHECK(rounds.rounds(0).phase() == cohort::v1::ROUND_PHASE_COMMITTED);
  CHECK(rounds.rounds(0).dropouts() == 1);
  CHECK(rounds.rounds(0).selected() == 7);
}

TEST_CASE("SecAggRound_TooFewSurvivors_FailsCleanlyAndKeepsTheModel") {
  auto server = LoopbackServer::Start();
  REQUIRE(server.ok());
  std::vector<TestDeviceOptions> devices;
  for (int i = 0; i < 5; ++i) {
    devices.push_back(Device("toofew", i, i < 2 ? StopAt::kAfterShares : StopAt::kNever));
  }
  RoundRun run = RunOneRound(**server, SmallTask("toofew", 5, 4, true, kParams), devices,
                             StalledPhase(StopAt::kAfterShares));
  CHECK(run.task.rounds_failed() == 1);
  CHECK(run.task.rounds_committed() == 0);
  CHECK(run.after.version() == 0);
  CHECK(run.after.parameters() == run.before.parameters());
  for (size_t i = 2; i < devices.size(); ++i) {
    REQUIRE(run.outcome.results[i].ok());
    CHECK(run.outcome.results[i]->last_phase == cohort::v1::ROUND_PHASE_FAILED);
    CHECK(run.outcome.results[i]->outcome.failure_reason().find("only 3 devices uploaded") !=
          std::string::npos);
  }
}

TEST_CASE("PlainRound_WithoutSecAgg_SkipsKeyPhasesAndCommitsFedAvg") {
  auto server = LoopbackServer::Start();
  REQUIRE(server.ok());
  std::vector<TestDeviceOptions> devices;
  for (int i = 0; i < 4; ++i) devices.push_back(Device("plain", i));
  RoundRun run = RunOneRound(**server, SmallTask("plain", 4, 3, false, kParams), devices);
  REQUIRE(run.task.rounds_committed() == 1);
  CHECK(MaxAbsDiff(Floats(run.after.parameters()), PlainFedAvg(run.before, devices)) < kBound);
}

TEST_CASE("SecAggRound_WrongVectorLength_RefusesAndDropsOnlyThatDevice") {
  auto server = LoopbackServer::Start();
  REQUIRE(server.ok());
  std::vector<TestDeviceOptions> devices;
  for (int i = 0; i < 6; ++i) devices.push_back(Device("badlen", i));
  devices[3].wrong_vector_length = true;
  // The bad upload drops its sender at once: the phase closes without waiting for a deadline.
  RoundRun run = RunOneRound(**server, SmallTask("badlen", 6, 4, true, kParams), devices);
  REQUIRE(run.outcome.results[3].ok());
  CHECK(run.outcome.results[3]->upload_error == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(run.outcome.results[3]->dropped);
  CHECK(run.outcome.results[3]->dropped_reason.find("malformed masked input") != std::string::npos);
  REQUIRE(run.task.rounds_committed() == 1);
  std::vector<TestDeviceOptions> contributors = devices;
  contributors.erase(contributors.begin() + 3);
  CHECK(MaxAbsDiff(Floats(run.after.parameters()), PlainFedAvg(run.before, contributors)) < kBound);
}

TEST_CASE("Rounds_RunBackToBack_ModelVersionsAdvance") {
  auto server = LoopbackServer::Start();
  REQUIRE(server.ok());
  auto task = (*server)->CreateTask(SmallTask("multi", 5, 4, true, kParams));
  REQUIRE(task.ok());
  REQUIRE((*server)->StartRounds(task->task_id(), 2).ok());
  for (int round = 0; round < 2; ++round) {
    std::vector<TestDeviceOptions> devices;
    for (int i = 0; i < 5; ++i) devices.push_back(Device("multi", i));
    Outcome outcome = RunDevices(**server, devices);
    for (const auto& r : outcome.results) {
      REQUIRE(r.ok());
      CHECK(r->outcome.new_model_version() == round + 1);
    }
  }
  auto ended = (*server)->WaitForRoundsEnded(task->task_id(), 2, absl::Seconds(60));
  REQUIRE(ended.ok());
  CHECK(ended->rounds_committed() == 2);
  CHECK(ended->latest_model_version() == 2);
  CHECK(ended->state() == cohort::v1::TASK_STATE_IDLE);
}

}  // namespace
}  // namespace cohort::server::test_util
