#ifndef COHORT_PRIVACY_MECHANISM_INL_H_
#define COHORT_PRIVACY_MECHANISM_INL_H_

// Template definitions for privacy/mechanism.h; include that header, not this one.

#include <algorithm>
#include <cmath>
#include <limits>

#include "privacy/log_math.h"

namespace cohort::privacy {

template <typename RdpAt>
double PoissonSubsampledRdp(double sampling_rate, int64_t alpha, RdpAt rdp_at) {
  const double unsampled = rdp_at(alpha);
  if (sampling_rate >= 1 || alpha < 2) return unsampled;
  if (sampling_rate <= 0) return 0;
  const double g = sampling_rate;
  const double a = static_cast<double>(alpha);
  // log of (1-g)^(a-1) (a g - g + 1) + C(a,2) g^2 (1-g)^(a-2) e^{rdp(2)}
  //        + 3 sum_{l=3}^{a} C(a,l) (1-g)^(a-l) g^l e^{(l-1) rdp(l)}.
  double log_sum = (a - 1) * std::log1p(-g) + std::log(a * g - g + 1);
  const double rdp2 = rdp_at(2);
  if (std::isinf(rdp2)) return unsampled;
  log_sum = LogAdd(log_sum, LogBinomial(static_cast<uint64_t>(alpha), 2) + 2 * std::log(g) +
                                (a - 2) * std::log1p(-g) + rdp2);
  for (int64_t l = 3; l <= alpha; ++l) {
    const double rdp_l = rdp_at(l);
    if (std::isinf(rdp_l)) return unsampled;
    const double dl = static_cast<double>(l);
    log_sum =
        LogAdd(log_sum, std::log(3.0) +
                            LogBinomial(static_cast<uint64_t>(alpha), static_cast<uint64_t>(l)) +
                            (a - dl) * std::log1p(-g) + dl * std::log(g) + (dl - 1) * rdp_l);
  }
  return std::min(unsampled, log_sum / (a - 1));
}

}  // namespace cohort::privacy

#endif  // COHORT_PRIVACY_MECHANISM_INL_H_
