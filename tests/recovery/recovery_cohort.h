#ifndef COHORT_TESTS_RECOVERY_RECOVERY_COHORT_H_
#define COHORT_TESTS_RECOVERY_RECOVERY_COHORT_H_

// The federation of the recovery tests: a six-device SecAgg+ task, its devices (one set per
// round, each on its own thread and connection), and waits on what the admin API reports.

#include <cmath>
#include <future>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "tests/recovery/server_process.h"
#include "tests/server/loopback_server.h"
#include "tests/server/test_device.h"

namespace cohort::recovery_test {

using server::test_util::StopAt;
using server::test_util::TestDevice;
using server::test_util::TestDeviceOptions;

inline constexpr int kParams = 8;
inline constexpr int kCohort = 6;

inline TestDeviceOptions Device(const std::string& population, int round, int i,
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

inline std::vector<TestDeviceOptions> Cohort(const std::string& population, int round,
                                             StopAt last_device_stop = StopAt::kNever) {
  std::vector<TestDeviceOptions> devices;
  for (int i = 0; i < kCohort; ++i) {
    devices.push_back(
        Device(population, round, i, i == kCohort - 1 ? last_device_stop : StopAt::kNever));
  }
  return devices;
}

// Each device on its own thread and connection; results are collected when the futures are read.
inline std::vector<std::future<absl::StatusOr<TestDevice::Result>>> LaunchDevices(
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

// Runs one full cohort and waits for the task to reach `committed` rounds.
inline void CommitOneRound(ServerProcess& server, const std::string& task_id,
                           const std::string& population, int round, int64_t committed) {
  auto futures = LaunchDevices(server, Cohort(population, round));
  auto task = server.admin().WaitForTask(
      task_id, [committed](const cohort::v1::Task& t) { return t.rounds_committed() >= committed; },
      absl::Seconds(120));
  INFO(server.Output());
  REQUIRE(task.ok());
  for (auto& f : futures) f.wait();
}

// Waits until the round in flight is `round_number` in `phase`.
inline absl::StatusOr<cohort::v1::Task> WaitForPhase(ServerProcess& server,
                                                     const std::string& task_id,
                                                     int64_t round_number,
                                                     cohort::v1::RoundPhase phase) {
  return server.admin().WaitForTask(
      task_id,
      [round_number, phase](const cohort::v1::Task& t) {
        return t.current_round().round_number() == round_number &&
               t.current_round().phase() == phase;
      },
      absl::Seconds(120));
}

inline cohort::v1::TaskConfig RecoveryTask(const std::string& population) {
  // The real binary runs on the real clock. Deadlines far longer than any test step: a round
  // with a vanished or held device waits until the test acts, and honest devices slowed by a
  // loaded machine are never dropped; complete rounds close each phase as soon as everyone has
  // answered, so no test waits for a deadline.
  return server::test_util::SmallTask(population, kCohort, kCohort - 2, /*secagg=*/true, kParams,
                                      absl::Seconds(120));
}

inline const cohort::v1::RoundSummary* FindRound(
    const std::vector<cohort::v1::RoundSummary>& rounds, int64_t number) {
  for (const auto& r : rounds) {
    if (r.round_number() == number) return &r;
  }
  return nullptr;
}

}  // namespace cohort::recovery_test

#endif  // COHORT_TESTS_RECOVERY_RECOVERY_COHORT_H_
