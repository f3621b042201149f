#include "server/core/pace_steering.h"

#include <algorithm>
#include <cmath>

namespace cohort::server {
namespace {

constexpr absl::Duration kMinDelay = absl::Seconds(1);
constexpr absl::Duration kMaxWidth = absl::Hours(1);

}  // namespace

void ArrivalRate::Observe(absl::Time now) {
  rate_ = PerSecond(now) + 1.0 / absl::ToDoubleSeconds(tau_);
  last_ = std::max(last_, now);
}

double ArrivalRate::PerSecond(absl::Time now) const {
  if (last_ == absl::InfinitePast()) return 0;
  const double dt = std::max(0.0, absl::ToDoubleSeconds(now - last_));
  return rate_ * std::exp(-dt / absl::ToDoubleSeconds(tau_));
}

double ArrivalRate::RecentPopulation(absl::Time now) const {
  return PerSecond(now) * absl::ToDoubleSeconds(tau_);
}

double AdmissionProbability(const AdmissionInputs& in) {
  if (in.open_slots <= 0) return 0;
  if (in.recent_population < 2.0 * in.selection_target) return 1;
  const double expected =
      in.arrivals_per_second * std::max(1.0, absl::ToDoubleSeconds(in.remaining_forming));
  if (expected <= in.open_slots) return 1;
  return std::clamp(in.open_slots / expected, 0.0, 1.0);
}

RetryWindow ComputeRetryWindow(const RetryInputs& in) {
  RetryWindow window;
  window.reason = in.reason;
  window.min_delay = std::max(kMinDelay, in.until_next_forming);
  const double target = std::max(1, in.selection_target);
  const double spread = in.recent_population / (2.0 * target);
  absl::Duration width = in.forming_window * std::max(1.0, spread);
  width = std::min(std::max(width, kMinDelay), kMaxWidth);
  window.max_delay = window.min_delay + width;
  return window;
}

}  // namespace cohort::server
