#include "base/clock.h"

namespace cohort {
namespace {

class RealClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};

}  // namespace

Clock* Clock::Real() {
  static RealClock* const clock = new RealClock();
  return clock;
}

SimulatedClock::SimulatedClock(absl::Time start) : now_(start) {}

absl::Time SimulatedClock::Now() const {
  absl::MutexLock lock(&mu_);
  return now_;
}

void SimulatedClock::AdvanceTime(absl::Duration delta) {
  absl::MutexLock lock(&mu_);
  now_ += delta;
}

void SimulatedClock::SetTime(absl::Time now) {
  absl::MutexLock lock(&mu_);
  now_ = now;
}

}  // namespace cohort
