#ifndef COHORT_SERVER_CORE_PACE_STEERING_H_
#define COHORT_SERVER_CORE_PACE_STEERING_H_

// Pace steering (Bonawitz et al., MLSys 2019, Sec. 2.3): the server tells devices it cannot use
// now when to come back, so that a large population neither stampedes the server nor starves
// the next round. Pure arithmetic; the caller passes the time.
//
//   ArrivalRate rate(absl::Seconds(60));
//   rate.Observe(now);                                   // each eligible check-in
//   double p = AdmissionProbability({...});              // thinning within a forming round
//   RetryWindow w = ComputeRetryWindow({...});           // for everyone turned away
//
// Admission: while a round forms, each eligible device that checks in is admitted with the same
// probability p = open_slots / expected_arrivals_before_the_forming_deadline (capped at 1). This
// Bernoulli thinning makes the selected cohort a uniform sample of the eligible devices that
// check in during the window, whatever their arrival order. p is 1 while the observed supply is
// below twice the selection target: then every device is needed anyway.
//
// Retry windows: a device that could not be used comes back at a uniformly random time in
// [min_delay, max_delay]. min_delay is when the next round is expected to form (or when the
// device's cool-down ends); the width spreads the estimated returning population so that about
// twice the selection target arrives per forming window: width = max(forming_window,
// population * forming_window / (2 * selection_target)), capped at one hour.
//
// ArrivalRate is not thread-safe; the free functions are.

#include <cstdint>
#include <string>

#include "absl/time/time.h"

namespace cohort::server {

// An exponentially decaying estimate of check-ins per second, time constant `tau`.
class ArrivalRate {
 public:
  explicit ArrivalRate(absl::Duration tau = absl::Seconds(60)) : tau_(tau) {}
  void Observe(absl::Time now);
  // Check-ins per second as of `now`.
  double PerSecond(absl::Time now) const;
  absl::Duration time_constant() const { return tau_; }
  // Estimated number of devices that checked in during the last `tau` (rate * tau).
  double RecentPopulation(absl::Time now) const;

 private:
  absl::Duration tau_;
  double rate_ = 0;  // per second, as of last_
  absl::Time last_ = absl::InfinitePast();
};

struct AdmissionInputs {
  int32_t open_slots = 0;        // devices the forming round still needs
  int32_t selection_target = 0;  // devices a round selects
  double arrivals_per_second = 0;
  double recent_population = 0;
  absl::Duration remaining_forming = absl::ZeroDuration();
};

// In [0, 1]; 0 when no slot is open.
double AdmissionProbability(const AdmissionInputs& in);

struct RetryWindow {
  absl::Duration min_delay;
  absl::Duration max_delay;
  std::string reason;
};

struct RetryInputs {
  // Time until a round of the task is expected to be forming again (0 if one is forming now).
  absl::Duration until_next_forming = absl::ZeroDuration();
  absl::Duration forming_window = absl::Seconds(60);
  int32_t selection_target = 1;
  double recent_population = 0;
  std::string reason;
};

RetryWindow ComputeRetryWindow(const RetryInputs& in);

}  // namespace cohort::server

#endif  // COHORT_SERVER_CORE_PACE_STEERING_H_
