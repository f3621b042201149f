// A 1,000-device SecAgg+ cohort on loopback: every device is a TestDevice on its own thread
// (sync stubs over a handful of shared channels), all long-polling WaitForPhase while the
// server parks them on the callback API. d is small so that the test measures the
// coordination, not the crypto. Labelled `load`; runs in the normal build (about 20 s on two
// idle cores, a few minutes on a machine running other builds: no deadline passes, the round
// waits for every device). `ctest -LE load` skips it.

#include <future>
#include <iostream>
#include <thread>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "tests/server/fedavg_check.h"
#include "tests/server/loopback_server.h"
#include "tests/server/test_device.h"

namespace cohort::server::test_util {
namespace {

TEST_CASE("SecAggRound_ThousandDevices_CommitsFedAvg") {
  constexpr int kDevices = 1000;
  constexpr int kParams = 16;
  constexpr int kChannels = 16;
  auto server = LoopbackServer::Start(absl::Milliseconds(50));
  REQUIRE(server.ok());
  auto config = SmallTask("thousand", kDevices, 900, true, kParams, absl::Seconds(60));
  config.mutable_secagg()->set_expected_dropout_rate(0.05);
  config.mutable_secagg()->set_correctness_bits(20);
  auto task = (*server)->CreateTask(config);
  REQUIRE(task.ok());
  auto before = (*server)->LatestModel(task->task_id());
  REQUIRE(before.ok());
  REQUIRE((*server)->StartRounds(task->task_id(), 1).ok());

  std::vector<std::shared_ptr<cohort::v1::DeviceService::Stub>> stubs;
  for (int i = 0; i < kChannels; ++i) stubs.push_back((*server)->NewDeviceStub());
  std::vector<TestDeviceOptions> devices;
  for (int i = 0; i < kDevices; ++i) {
    TestDeviceOptions o;
    o.population = "thousand";
    o.device_id = absl::StrCat("load-test-device-", 100000 + i);
    o.delta.resize(kParams);
    for (int j = 0; j < kParams; ++j) {
      o.delta[static_cast<size_t>(j)] = static_cast<float>(((i * 31 + j * 17) % 200) / 250.0 - 0.4);
    }
    o.examples = 1 + i % 50;
    o.seed = static_cast<uint64_t>(i + 1);
    o.max_wait = absl::Seconds(20);
    devices.push_back(std::move(o));
  }
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  std::vector<absl::StatusOr<TestDevice::Result>> results(kDevices, absl::UnknownError("not run"));
  threads.reserve(kDevices);
  for (int i = 0; i < kDevices; ++i) {
    threads.emplace_back([&, i] {
      TestDevice device(stubs[static_cast<size_t>(i % kChannels)], devices[static_cast<size_t>(i)]);
      results[static_cast<size_t>(i)] = device.Run(absl::Seconds(500));
    });
  }
  for (auto& t : threads) t.join();
  const absl::Duration elapsed = absl::Now() - start;

  auto ended = (*server)->WaitForRoundsEnded(task->task_id(), 1, absl::Seconds(60));
  REQUIRE(ended.ok());
  int committed = 0;
  int reported = 0;
  for (const auto& r : results) {
    if (r.ok() && r->last_phase == cohort::v1::ROUND_PHASE_COMMITTED) ++committed;
    if (!r.ok() && ++reported <= 5) std::cout << "device error: " << r.status() << "\n";
  }
  auto after = (*server)->LatestModel(task->task_id());
  REQUIRE(after.ok());
  cohort::v1::ListRoundsRequest list;
  list.set_task_id(task->task_id());
  cohort::v1::ListRoundsResponse rounds;
  REQUIRE((*server)
              ->NewAdminStub()
              ->ListRounds(LoopbackServer::AdminContext().get(), list, &rounds)
              .ok());
  REQUIRE(rounds.rounds_size() == 1);
  const auto& summary = rounds.rounds(0);
  std::cout << "1000-device SecAgg+ round: " << absl::FormatDuration(elapsed)
            << " wall, k=" << summary.secagg().neighbour_degree()
            << " t=" << summary.secagg().threshold() << " contributors=" << summary.contributors()
            << "\n";
  for (const auto& p : summary.phases()) {
    std::cout << "  " << cohort::v1::RoundPhase_Name(p.phase()) << " entered=" << p.entered()
              << " completed=" << p.completed() << " duration=" << p.duration().seconds() << "."
              << p.duration().nanos() / 1000000 << "s\n";
  }
  CHECK(ended->rounds_committed() == 1);
  CHECK(committed == kDevices);
  CHECK(summary.contributors() == kDevices);
  // 12-bit quantization, range 1: within one level of plain FedAvg.
  CHECK(MaxAbsDiff(Floats(after->parameters()), PlainFedAvg(*before, devices)) < 2.0 / 4095 + 1e-6);
}

}  // namespace
}  // namespace cohort::server::test_util
