// Who gets into a round: pace steering's admission thinning when the population far exceeds the
// round, the retry windows that spread the turned-away devices' returns, and several tasks of
// one population sharing its devices.

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "server/core/testing/coordinator_fixture.h"

namespace cohort::server {
namespace {

using test_util::Fixture;
using test_util::PlainConfig;

absl::Duration FromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

TEST_CASE("CheckIn_ADeviceRepeatingItsCheckIn_IsOneDeviceOfSupplyAndThinsNoOne") {
  // Before the round opens, one device checks in 500 times (a hostile or impatient one, or a
  // test device that ignores its retry window). Counted each time, it would look like a
  // population of 500 and the next ten devices would be admitted with p = 10/500.
  Fixture f;
  constexpr int kTarget = 10;
  const std::string task_id = f.Create(PlainConfig(kTarget, 8));
  for (int i = 0; i < 500; ++i) CHECK(f.CheckIn(0).has_retry_later());
  f.Start(task_id, 1);
  int admitted = 0;
  for (int device = 1; device <= kTarget; ++device) admitted += f.CheckIn(device).has_accepted();
  CHECK(admitted == kTarget);
  CHECK(f.observer.checkins.count("not_sampled") == 0);
}

TEST_CASE("CheckIn_PopulationFarAboveTheTarget_ThinsAdmissionAndSpreadsTheReturns") {
  // 20 new devices a second, for a round of 10 that forms for 60 s: about 1,200 arrive while it
  // forms, 120 times what it needs. The arrivals of the minute before the round opens teach the
  // server the rate (they are turned away: no round yet).
  Fixture f;
  constexpr int kTarget = 10;
  const absl::Duration kForming = absl::Seconds(60);
  const absl::Duration kGap = absl::Milliseconds(50);
  const std::string task_id = f.Create(PlainConfig(kTarget, 8));
  int device = 0;
  for (; device < 1200; ++device) {
    CHECK(f.CheckIn(device).has_retry_later());
    f.clock.AdvanceTime(kGap);
  }
  f.Start(task_id, 1);
  const absl::Time opened = f.clock.Now();

  std::vector<absl::Duration> admitted_at;
  struct Window {
    absl::Time from, to;
  };
  std::vector<Window> not_sampled;
  while (f.clock.Now() < opened + kForming && admitted_at.size() < kTarget) {
    const cohort::v1::CheckInResponse response = f.CheckIn(device++);
    if (response.has_accepted()) {
      admitted_at.push_back(f.clock.Now() - opened);
    } else if (response.retry_later().reason() == "not sampled for this round") {
      // A round is forming now: come back from 1 s on, spread over the window.
      CHECK(FromProto(response.retry_later().min_delay()) == absl::Seconds(1));
      not_sampled.push_back({f.clock.Now() + FromProto(response.retry_later().min_delay()),
                             f.clock.Now() + FromProto(response.retry_later().max_delay())});
    }
    f.clock.AdvanceTime(kGap);
    f.coordinator->AdvanceTo(f.clock.Now());
  }
  INFO("admitted " << admitted_at.size() << ", not sampled " << not_sampled.size());
  // The round fills, from devices spread over its forming window rather than the first ten
  // to arrive (without thinning they would be admitted within the first half second).
  REQUIRE(admitted_at.size() == kTarget);
  CHECK(admitted_at.back() > kForming / 2);
  CHECK(static_cast<int>(not_sampled.size()) == f.observer.checkins["not_sampled"]);
  CHECK(not_sampled.size() > 900);

  // The turned-away devices come back uniformly inside their windows. Windows are as wide as
  // the population over twice the target, in forming windows, so that about 2 * target of them
  // return per forming window. The peak expected return count over 60 s buckets stays within a
  // small factor of that (the rate estimate lags the true population by its time constant);
  // windows one forming window wide would bring back some 900 devices in the first minute.
  absl::Time end = opened;
  for (const Window& w : not_sampled) end = std::max(end, w.to);
  double peak = 0;
  for (absl::Time bucket = opened; bucket < end; bucket += kForming) {
    double expected = 0;
    for (const Window& w : not_sampled) {
      const absl::Duration overlap = std::min(w.to, bucket + kForming) - std::max(w.from, bucket);
      if (overlap > absl::ZeroDuration()) expected += absl::FDivDuration(overlap, w.to - w.from);
    }
    peak = std::max(peak, expected);
  }
  INFO("peak expected returns per forming window: " << peak);
  CHECK(peak >= kTarget);
  CHECK(peak <= 4 * kTarget);
}

TEST_CASE("CheckIn_TasksSharingAPopulation_FillEachRoundAndCommitEachModelApart") {
  Fixture f;
  const std::string first = f.CreateAndStart(PlainConfig(2, 2));
  const std::string second = f.CreateAndStart(PlainConfig(2, 2));
  std::map<std::string, std::vector<std::string>> tokens;  // task id -> its devices' tokens
  for (int i = 0; i < 4; ++i) {
    const cohort::v1::CheckInResponse response = f.CheckIn(i);
    REQUIRE(response.has_accepted());
    tokens[response.accepted().task_id()].push_back(response.accepted().session_token());
  }
  // Each round took two devices; a fifth finds both full.
  REQUIRE(tokens[first].size() == 2);
  REQUIRE(tokens[second].size() == 2);
  CHECK(f.CheckIn(4).has_retry_later());
  // A device already in one task's round resumes that round when it checks in again.
  const cohort::v1::CheckInResponse again = f.CheckIn(0);
  REQUIRE(again.has_accepted());
  const std::string task_of_0 = again.accepted().task_id();
  CHECK(f.observer.checkins["resumed"] == 1);
  // The first task's devices move its parameters by +1, the second's by -1 (levels 255, 0).
  for (const std::string& token : tokens[first]) REQUIRE(f.Upload(token, 255, 1).ok());
  for (const std::string& token : tokens[second]) REQUIRE(f.Upload(token, 0, 1).ok());
  for (const auto& [task_id, delta] : {std::pair{first, 1.0}, std::pair{second, -1.0}}) {
    auto task = f.coordinator->GetTask(task_id);
    REQUIRE(task.ok());
    CHECK(task->rounds_committed() == 1);
    auto v0 = f.store.GetModel(task_id, 0);
    auto v1 = f.store.GetModel(task_id, 1);
    REQUIRE(v0.ok());
    REQUIRE(v1.ok());
    const std::vector<float> before = test_util::FloatsOf(*v0);
    const std::vector<float> after = test_util::FloatsOf(*v1);
    for (size_t i = 0; i < after.size(); ++i) {
      CHECK(after[i] == Approx(before[i] + delta).margin(1e-6));
    }
  }
  CHECK((task_of_0 == first || task_of_0 == second));
}

}  // namespace
}  // namespace cohort::server
