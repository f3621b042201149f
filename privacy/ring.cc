#include "privacy/ring.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "privacy/log_math.h"

namespace cohort::privacy {
namespace {

double Exponent(double t, double margin, double v, NoiseKind noise, double noise_variance) {
  const double k_noise = noise == NoiseKind::kDiscreteGaussian
                             ? t * t * noise_variance / 2
                             : noise_variance * (std::cosh(t) - 1);
  return -t * margin + t * t * v / 2 + k_noise;
}

}  // namespace

double LogChernoffTail(double margin, double signal_proxy, NoiseKind noise, double noise_variance) {
  if (!(margin > 0)) return 0;
  if (noise == NoiseKind::kDiscreteGaussian) {
    const double v = signal_proxy + noise_variance;
    if (!(v > 0)) return -std::numeric_limits<double>::infinity();
    return -margin * margin / (2 * v);
  }
  // The exponent is convex in t; its derivative -a + t v + mu sinh t is increasing, so bisect
  // for its root on [0, hi] with hi where the derivative is certainly positive.
  auto derivative = [&](double t) {
    return -margin + t * signal_proxy + noise_variance * std::sinh(t);
  };
  double lo = 0;
  double hi = 1;
  while (derivative(hi) < 0 && hi < 700) hi *= 2;
  for (int i = 0; i < 200; ++i) {
    const double mid = (lo + hi) / 2;
    (derivative(mid) < 0 ? lo : hi) = mid;
  }
  return std::min(0.0, Exponent(lo, margin, signal_proxy, noise, noise_variance));
}

double Log2WrapProbability(const RingLoad& load) {
  if (load.bits < 2 || load.bits > 62 || load.contributors < 1 || load.coordinates < 1) return 0;
  const double half = std::ldexp(1.0, load.bits - 1);
  const double n = static_cast<double>(load.contributors);
  const double noise_variance = n * load.local_variance;
  const double signal_proxy =
      std::pow(n * load.scaled_clip_norm, 2) / static_cast<double>(load.coordinates);
  // Two tails per coordinate, union over the coordinates.
  double log_p = std::log(2.0 * static_cast<double>(load.coordinates)) +
                 LogChernoffTail(half - n, signal_proxy, load.noise, noise_variance);
  if (load.count_magnitude > 0) {
    const double extra =
        std::log(2.0) + LogChernoffTail(half - n * static_cast<double>(load.count_magnitude), 0,
                                        load.noise, noise_variance);
    log_p = LogAdd(log_p, extra);
  }
  return std::min(0.0, log_p / std::log(2.0));
}

}  // namespace cohort::privacy
