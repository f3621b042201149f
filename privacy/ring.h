#ifndef COHORT_PRIVACY_RING_H_
#define COHORT_PRIVACY_RING_H_

// Sizing Z_(2^b) for a distributed-DP sum so that the modular wrap-around has a bounded
// probability (docs/privacy.md#ring). The server decodes the sum of n devices' vectors mod 2^b
// into [-2^(b-1), 2^(b-1)); a coordinate whose true value Y_j falls outside wraps and is
// decoded wrong. Per coordinate of the rotated, scaled sum,
//   Y_j = S_j + R_j + N_j,
//   S_j = s (U sum_i x_i)_j : a Rademacher sum over the rotation's signs, sub-Gaussian with
//         variance proxy s^2 ||sum_i x_i||^2 / d' <= (n s C)^2 / d' (the x_i do not depend on
//         the signs; ||sum x_i|| <= n C is the worst case of aligned updates);
//   R_j = the rounding errors, |R_j| < n (each in (-1, 1), whatever the conditioning);
//   N_j = the noise: for the discrete Gaussian, a sum of n N_Z(0, s2) shares, sub-Gaussian with
//         proxy n s2 (Canonne, Kamath, Steinke 2020 show N_Z(0, s2) is s2-sub-Gaussian); for
//         Skellam, Sk(n mu_l) with log-MGF n mu_l (cosh t - 1).
// Chernoff: P(|Y_j| >= L) <= 2 min_t exp(-t (L - n) + t^2 v_S / 2 + K_N(t)), L = 2^(b-1), and a
// union bound over the coordinates. An extra coordinate (the adaptive-clipping count, each
// device +-h) is bounded the same way with |sum| <= n h in place of S + R.
//
// Thread-safe (pure functions).

#include <cstdint>

namespace cohort::privacy {

enum class NoiseKind { kDiscreteGaussian, kSkellam };

struct RingLoad {
  int bits = 0;                 // b
  int64_t contributors = 0;     // n: the most devices that may be summed
  int64_t coordinates = 0;      // d' rotated coordinates
  double scaled_clip_norm = 0;  // s C
  NoiseKind noise = NoiseKind::kDiscreteGaussian;
  double local_variance = 0;    // per device, integer units
  int64_t count_magnitude = 0;  // h of the extra count coordinate; 0 = none
};

// log2 of the bound on P(any coordinate wraps); 0 (probability 1) when nothing fits.
double Log2WrapProbability(const RingLoad& load);

// log of min_{t > 0} exp(-t a + t^2 v / 2 + K_N(t)) for a margin a > 0 (else 0).
double LogChernoffTail(double margin, double signal_proxy, NoiseKind noise, double noise_variance);

}  // namespace cohort::privacy

#endif  // COHORT_PRIVACY_RING_H_
