#include "server/core/pace_steering.h"

#include <catch2/catch.hpp>

namespace cohort::server {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

TEST_CASE("ArrivalRate_TracksSteadyArrivals") {
  ArrivalRate rate(absl::Seconds(10));
  absl::Time t = kNow;
  for (int i = 0; i < 1000; ++i) {
    rate.Observe(t);
    t += absl::Milliseconds(100);  // 10 per second
  }
  CHECK(rate.PerSecond(t) == Approx(10).epsilon(0.1));
  CHECK(rate.RecentPopulation(t) == Approx(100).epsilon(0.1));
  // Decays when nobody comes.
  CHECK(rate.PerSecond(t + absl::Seconds(60)) < 0.1);
}

TEST_CASE("AdmissionProbability_IsOneWhileSupplyIsScarce") {
  AdmissionInputs in{.open_slots = 10,
                     .selection_target = 13,
                     .arrivals_per_second = 1,
                     .recent_population = 20,
                     .remaining_forming = absl::Seconds(60)};
  CHECK(AdmissionProbability(in) == 1.0);
}

TEST_CASE("AdmissionProbability_ThinsWhenArrivalsExceedOpenSlots") {
  AdmissionInputs in{.open_slots = 10,
                     .selection_target = 13,
                     .arrivals_per_second = 100,
                     .recent_population = 6000,
                     .remaining_forming = absl::Seconds(10)};
  CHECK(AdmissionProbability(in) == Approx(0.01));
  in.open_slots = 0;
  CHECK(AdmissionProbability(in) == 0.0);
}

TEST_CASE("ComputeRetryWindow_StartsWhenTheNextRoundFormsAndSpreadsByDemand") {
  RetryInputs in{.until_next_forming = absl::Seconds(120),
                 .forming_window = absl::Seconds(30),
                 .selection_target = 10,
                 .recent_population = 200,
                 .reason = "full"};
  RetryWindow w = ComputeRetryWindow(in);
  CHECK(w.min_delay == absl::Seconds(120));
  // 200 devices for 2 * 10 per window: spread over 10 windows.
  CHECK(w.max_delay == absl::Seconds(120) + absl::Seconds(300));
  CHECK(w.reason == "full");

  in.recent_population = 0;
  in.until_next_forming = absl::ZeroDuration();
  w = ComputeRetryWindow(in);
  CHECK(w.min_delay == absl::Seconds(1));
  CHECK(w.max_delay == absl::Seconds(31));

  in.recent_population = 1e9;
  w = ComputeRetryWindow(in);
  CHECK(w.max_delay - w.min_delay == absl::Hours(1));
}

}  // namespace
}  // namespace cohort::server
