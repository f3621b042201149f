#include "base/clock.h"

#include <catch2/catch.hpp>

namespace cohort {
namespace {

TEST_CASE("SimulatedClock_MovesOnlyWhenAdvanced") {
  SimulatedClock clock;
  const absl::Time start = clock.Now();
  CHECK(clock.Now() == start);
  clock.AdvanceTime(absl::Seconds(5));
  CHECK(clock.Now() - start == absl::Seconds(5));
  clock.SetTime(start);
  CHECK(clock.Now() == start);
}

TEST_CASE("RealClock_IsMonotoneEnoughForDeadlines") {
  const absl::Time a = Clock::Real()->Now();
  const absl::Time b = Clock::Real()->Now();
  CHECK(b >= a);
  CHECK(Clock::Real() == Clock::Real());
}

}  // namespace
}  // namespace cohort
