// Differential privacy end to end over real gRPC on loopback (docs/privacy.md): devices encode
// with the distributed mechanisms under SecAgg+, some of them drop at each phase, and the noise
// the server decodes must have mean zero and exactly the variance the round's parameters
// promise for the devices that contributed (dropped devices' noise shares are lost, which is
// why every round is accounted with the fewest contributors it may commit with). Devices send
// zero updates, so the model's change per round is the noise alone.

#include <cmath>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "prometheus/text_serializer.h"
#include "tests/server/fedavg_check.h"
#include "tests/server/loopback_server.h"
#include "tests/server/test_device.h"

namespace cohort::server::test_util {
namespace {

constexpr int kParams = 1000;
constexpr int kCohort = 6;
constexpr int kMin = 4;
// Passes only when the test moves the server clock.
constexpr absl::Duration kDpPhaseDeadline = absl::Seconds(10);

cohort::v1::TaskConfig DpTask(const std::string& population, cohort::v1::DpMechanism mechanism) {
  // A round with a vanished device waits for the deadline of the phase it vanished in (the test
  // moves the clock past it); every other round closes as soon as all answered.
  cohort::v1::TaskConfig config =
      SmallTask(population, kCohort, kMin, /*secagg=*/true, kParams, kDpPhaseDeadline);
  config.mutable_codec()->set_l2_clip_norm(1.0);
  auto* dp = config.mutable_dp();
  dp->set_mechanism(mechanism);
  dp->set_noise_multiplier(1.0);
  dp->set_delta(1e-5);
  dp->set_epsilon_budget(1000);
  dp->set_bits(20);
  return config;
}

std::vector<absl::StatusOr<TestDevice::Result>> RunRound(LoopbackServer& server,
                                                         const std::string& population, int round,
                                                         StopAt stop) {
  DeviceLog log;
  std::vector<std::future<absl::StatusOr<TestDevice::Result>>> futures;
  for (int i = 0; i < kCohort; ++i) {
    TestDeviceOptions o;
    o.log = &log;
    o.population = population;
    o.device_id = absl::StrCat("dp-device-", population, "-", i, "-0000");
    o.delta.assign(kParams, 0.0f);
    o.examples = 10;
    o.stop_at = i == 0 ? stop : StopAt::kNever;
    o.seed = static_cast<uint64_t>(100 * round + i + 1);
    o.max_wait = absl::Seconds(15);
    futures.push_back(std::async(std::launch::async, [&server, o] {
      TestDevice device(server.NewDeviceStub(), o);
      return device.Run(absl::Seconds(90));
    }));
  }
  if (stop != StopAt::kNever) {
    // Everyone is done with the phase the vanished device left unfinished: close it.
    const bool all_done = log.AwaitDoneWith(StalledPhase(stop), kCohort, absl::Seconds(120));
    INFO("round " << round << ": devices done with "
                  << cohort::v1::RoundPhase_Name(StalledPhase(stop)) << ": "
                  << log.DoneWith(StalledPhase(stop)) << " of " << kCohort);
    REQUIRE(all_done);
    server.AdvanceClock(kDpPhaseDeadline + absl::Seconds(1));
  }
  std::vector<absl::StatusOr<TestDevice::Result>> results;
  for (auto& f : futures) results.push_back(f.get());
  return results;
}

TEST_CASE("DpRound_DecodedNoiseHasTheConfiguredVarianceUnderSecAggWithDropouts") {
  const auto mechanism = GENERATE(cohort::v1::DP_MECHANISM_DISTRIBUTED_DISCRETE_GAUSSIAN,
                                  cohort::v1::DP_MECHANISM_DISTRIBUTED_SKELLAM);
  const std::string population = absl::StrCat("dp-noise-", static_cast<int>(mechanism));
  auto server = LoopbackServer::Start();
  REQUIRE(server.ok());
  auto task = (*server)->CreateTask(DpTask(population, mechanism));
  INFO(task.status().ToString());
  REQUIRE(task.ok());
  const std::string task_id = task->task_id();
  auto before = (*server)->LatestModel(task_id);
  REQUIRE(before.ok());
  std::vector<float> previous = Floats(before->parameters());

  // One device drops at a different phase in most rounds; after uploading it still contributes.
  const std::vector<StopAt> schedule = {
      StopAt::kNever,       StopAt::kBeforeKeys,       StopAt::kAfterKeys,
      StopAt::kAfterShares, StopAt::kAfterMaskedInput, StopAt::kAfterShares};
  double sum = 0, sum_squares = 0;
  int64_t samples = 0;
  double last_epsilon = 0;
  for (size_t r = 0; r < schedule.size(); ++r) {
    // A minute passes between rounds, as it would in a deployment: pace steering counts check-ins
    // over a sliding minute, and on a clock that stood still every earlier round's check-ins
    // would still count as supply and thin admission towards zero.
    (*server)->AdvanceClock(absl::Seconds(61));
    REQUIRE((*server)->StartRounds(task_id, 1).ok());
    auto results = RunRound(**server, population, static_cast<int>(r), schedule[r]);
    auto ended =
        (*server)->WaitForRoundsEnded(task_id, static_cast<int64_t>(r) + 1, absl::Seconds(30));
    REQUIRE(ended.ok());
    REQUIRE(ended->rounds_committed() == static_cast<int64_t>(r) + 1);
    const int expected_contributors =
        schedule[r] == StopAt::kNever || schedule[r] == StopAt::kAfterMaskedInput ? kCohort
                                                                                  : kCohort - 1;
    auto model = (*server)->LatestModel(task_id);
    REQUIRE(model.ok());
    const std::vector<float> now = Floats(model->parameters());
    // The round's parameters as the admin API reports them.
    auto stub = (*server)->NewAdminStub();
    cohort::v1::ListRoundsRequest list;
    list.set_task_id(task_id);
    list.set_page_size(1);
    cohort::v1::ListRoundsResponse rounds;
    REQUIRE(stub->ListRounds(LoopbackServer::AdminContext().get(), list, &rounds).ok());
    REQUIRE(rounds.rounds_size() == 1);
    const cohort::v1::RoundSummary& summary = rounds.rounds(0);
    INFO("round " << r << " stop " << static_cast<int>(schedule[r]));
    REQUIRE(summary.contributors() == expected_contributors);
    REQUIRE(summary.privacy().charged());
    CHECK(summary.privacy().accounted_contributors() == kMin);
    CHECK(summary.privacy().epsilon_spent() > last_epsilon);
    last_epsilon = summary.privacy().epsilon_spent();
    // noise_stddev is sqrt(n_min * share variance) in update units: each contributor's share has
    // variance noise_stddev^2 / n_min, and the average divides the sum by the contributors.
    const double share_variance =
        summary.privacy().noise_stddev() * summary.privacy().noise_stddev() / kMin;
    const double n = summary.contributors();
    const double average_stddev = std::sqrt(n * share_variance) / n;
    CHECK(summary.privacy().noise_stddev() == Approx(1.0).epsilon(0.01));  // z C at n_min
    for (int j = 0; j < kParams; ++j) {
      const double z = (static_cast<double>(now[j]) - previous[j]) / average_stddev;
      sum += z;
      sum_squares += z * z;
      ++samples;
    }
    previous = now;
  }
  // 6000 standardised samples: mean within 6 standard errors of 0, variance within 6 standard
  // errors (sqrt(2 / 6000) = 1.8% each) of 1. A round accounted at the admitted count instead
  // of the contributors would be off by (5/6)^-1 = 20% in the dropout rounds.
  const double mean = sum / static_cast<double>(samples);
  const double variance = sum_squares / static_cast<double>(samples) - mean * mean;
  INFO("mean " << mean << " variance " << variance);
  CHECK(std::abs(mean) < 6 / std::sqrt(static_cast<double>(samples)));
  CHECK(std::abs(variance - 1) < 6 * std::sqrt(2.0 / static_cast<double>(samples)));
  auto final_task = (*server)->GetTask(task_id);
  REQUIRE(final_task.ok());
  CHECK(final_task->privacy().rounds_charged() == static_cast<int64_t>(schedule.size()));
  CHECK(final_task->privacy().epsilon_spent() == Approx(last_epsilon));
}

TEST_CASE("DpTask_StopsBeforeTheRoundThatWouldExceedItsBudget") {
  auto server = LoopbackServer::Start();
  REQUIRE(server.ok());
  cohort::v1::TaskConfig config =
      DpTask("dp-budget", cohort::v1::DP_MECHANISM_DISTRIBUTED_DISCRETE_GAUSSIAN);
  config.mutable_dp()->set_noise_multiplier(0);
  config.mutable_dp()->set_epsilon_budget(0);
  config.mutable_dp()->set_target_epsilon(20);
  config.mutable_dp()->set_target_rounds(2);
  auto task = (*server)->CreateTask(config);
  INFO(task.status().ToString());
  REQUIRE(task.ok());
  REQUIRE((*server)->StartRounds(task->task_id(), 5).ok());
  for (int r = 0; r < 2; ++r) {
    RunRound(**server, "dp-budget", r, StopAt::kNever);
    REQUIRE((*server)->WaitForRoundsEnded(task->task_id(), r + 1, absl::Seconds(90)).ok());
  }
  // The third round is never opened: the task pauses and says why.
  absl::StatusOr<cohort::v1::Task> paused;
  for (int i = 0; i < 200; ++i) {
    paused = (*server)->GetTask(task->task_id());
    REQUIRE(paused.ok());
    if (paused->state() == cohort::v1::TASK_STATE_PAUSED) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(paused->state() == cohort::v1::TASK_STATE_PAUSED);
  CHECK(paused->rounds_committed() == 2);
  CHECK_FALSE(paused->has_current_round());
  CHECK(paused->privacy().exhausted());
  CHECK(paused->privacy().epsilon_spent() <= 20);
  CHECK(paused->privacy().stop_reason().find("round 3 would bring epsilon") != std::string::npos);
  // Prometheus shows what the task spent and its budget.
  const std::string metrics =
      prometheus::TextSerializer().Serialize((*server)->metrics().Collect());
  const std::string gauge = absl::StrCat("cohort_privacy_epsilon_spent{task=\"", task->task_id(),
                                         "\"} ");
  const size_t at = metrics.find(gauge);
  REQUIRE(at != std::string::npos);
  CHECK(std::stod(metrics.substr(at + gauge.size())) ==
        Approx(paused->privacy().epsilon_spent()).epsilon(1e-6));
  CHECK(metrics.find(absl::StrCat("cohort_privacy_epsilon_budget{task=\"", task->task_id(),
                                  "\"} 20")) != std::string::npos);
  // Asking for more rounds is refused with the same reason.
  auto stub = (*server)->NewAdminStub();
  cohort::v1::StartRoundsRequest more;
  more.set_task_id(task->task_id());
  more.set_count(1);
  cohort::v1::Task ignored;
  const grpc::Status refused =
      stub->StartRounds(LoopbackServer::AdminContext().get(), more, &ignored);
  CHECK(refused.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
  CHECK(refused.error_message().find("privacy budget") != std::string::npos);
}

TEST_CASE("DpTask_CreateRefusesABudgetItCannotMeetNamingTheNumbers") {
  auto server = LoopbackServer::Start();
  REQUIRE(server.ok());
  cohort::v1::TaskConfig config =
      DpTask("dp-refused", cohort::v1::DP_MECHANISM_DISTRIBUTED_DISCRETE_GAUSSIAN);
  config.mutable_dp()->set_noise_multiplier(0.2);
  config.mutable_dp()->set_epsilon_budget(0.5);
  auto stub = (*server)->NewAdminStub();
  cohort::v1::CreateTaskRequest request;
  *request.mutable_config() = config;
  cohort::v1::Task task;
  const grpc::Status status =
      stub->CreateTask(LoopbackServer::AdminContext().get(), request, &task);
  CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(status.error_message().find("one round at noise multiplier 0.2") != std::string::npos);
  CHECK(status.error_message().find("budget of 0.5") != std::string::npos);
}

}  // namespace
}  // namespace cohort::server::test_util
