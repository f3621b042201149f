#ifndef COHORT_BASE_CLOCK_H_
#define COHORT_BASE_CLOCK_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace cohort {

// The only source of time for code that owns deadlines. Pure state machines take `absl::Time now`
// as an argument; their hosts read it from a Clock, so tests drive time with a SimulatedClock.
// (absl::Clock arrived only in Abseil 20260526.)
//
//   void Host::Tick() { round_.AdvanceTo(clock_->Now()); }
//
// Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;

  // The process-wide wall clock. Never null, never destroyed.
  static Clock* Real();
};

// A clock that moves only when told to. This class is thread-safe.
class SimulatedClock : public Clock {
 public:
  explicit SimulatedClock(absl::Time start = absl::UnixEpoch() + absl::Hours(24 * 365 * 50));

  absl::Time Now() const override;
  void AdvanceTime(absl::Duration delta);
  void SetTime(absl::Time now);

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cohort

#endif  // COHORT_BASE_CLOCK_H_
