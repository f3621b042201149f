#ifndef COHORT_PRIVACY_MECHANISM_H_
#define COHORT_PRIVACY_MECHANISM_H_

// One DP round's parameters, resolved from what the operator sets (docs/privacy.md): the
// scale that fills the ring without wrapping, each device's noise share, the sensitivities the
// accountant uses, and the round's RDP curve; and the inverse, the noise multiplier that meets
// a target epsilon over a number of rounds.
//
// Distributed (discrete Gaussian or Skellam under secure aggregation), per device:
//   clip to C -> rotate (padded to d' = 2^ceil(log2 d)) -> scale by s -> conditional randomized
//   rounding to ||.||^2 <= norm_bound_squared -> add a noise share of variance local_variance
//   -> reduce mod 2^b. The total noise is z C s over the fewest contributors n_min the round may
//   commit with: local_variance = RoundUpToVarianceGrid((z C s)^2 / n_min), so every committed
//   round has at least the accounted noise (devices beyond n_min only add more: post-processing).
//   s is the largest scale with P(wrap) <= 2^log2_max_wrap at n_max contributors (privacy/ring.h).
//   With adaptive clipping, one more coordinate carries each device's centred clipped bit as
//   +-h, h = max(1, floor(z C s / (2 clipped_count_stddev))), noised like the others.
// Central (plain rounds, the server adds the noise): the server rounds s * (clipped sum) to
// integers and adds N_Z(0, (z C s)^2); the rounding adds up to sqrt(d) to the sensitivity.
//
//   COHORT_ASSIGN_OR_RETURN(DpRoundParams round, ResolveDpRound(spec));
//   std::vector<double> rdp = RoundRdpCurve(round, accountant.orders());
//
// Codes: INVALID_ARGUMENT naming the field and the numbers for a spec that cannot work (no
// scale keeps the wrap probability under the bound, a target epsilon the ring cannot reach).
// Thread-safe (pure functions).

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "privacy/ring.h"

namespace cohort::privacy {

enum class Mechanism {
  kNone,
  kDistributedDiscreteGaussian,
  kDistributedSkellam,
  kCentralGaussian,
};

std::string MechanismName(Mechanism mechanism);

struct DpSpec {
  Mechanism mechanism = Mechanism::kNone;
  double clip_norm = 0;              // C, update units
  double noise_multiplier = 0;       // z: total noise stddev / C
  int64_t dimension = 0;             // d, model parameters
  int bits = 20;                     // b, distributed only
  int64_t min_contributors = 0;      // n_min: accounting
  int64_t max_contributors = 0;      // n_max: ring sizing
  double beta = 0.6065306597126334;  // exp(-1/2), the reference implementation's default
  double log2_max_wrap = -20;
  double clipped_count_stddev = 0;  // > 0: adaptive clipping's count coordinate
  double sampling_rate = 0;         // > 0 only under a declared Poisson-sampling assumption
  // For budget checks, not for sampling: account with the unrounded noise variance and with
  // max(1, z C s / (2 clipped_count_stddev)) as the count's sensitivity, so that the resulting
  // curve bounds every round of the same spec at this scale or a finer one (fewer contributors);
  // the integer h of an actual round makes its count sensitivity jump with the scale.
  bool upper_bound = false;
};

struct DpRoundParams {
  Mechanism mechanism = Mechanism::kNone;
  double clip_norm = 0;  // C this round (adaptive clipping moves it between rounds)
  int64_t dimension = 0;
  int64_t padded_dimension = 0;  // d'; central: d
  int bits = 0;
  double scale = 0;                 // s
  double local_variance = 0;        // distributed: per device; central: the server's, integer units
  uint64_t norm_bound_squared = 0;  // conditional rounding threshold (distributed)
  int64_t count_magnitude = 0;      // h; 0 without adaptive clipping
  double l2_sensitivity = 0;        // integer units, the count coordinate included
  double l1_sensitivity = 0;
  int64_t noised_coordinates = 0;      // dimension of the noised integer vector
  int64_t accounted_contributors = 0;  // n_min
  double log2_wrap_probability = 0;
  double sampling_rate = 0;
  // Noise stddev of the decoded sum in update units, at n_min contributors.
  double noise_stddev() const;
  // Effective noise multiplier the accountant sees: total stddev over the L2 sensitivity.
  double effective_noise_multiplier() const;
};

absl::StatusOr<DpRoundParams> ResolveDpRound(const DpSpec& spec);

// The round's RDP at each order (Zhu & Wang 2019's Poisson-subsampling bound applied when
// sampling_rate > 0).
std::vector<double> RoundRdpCurve(const DpRoundParams& round, absl::Span<const double> orders);

// The smallest noise multiplier (to 0.1%) whose `rounds` rounds compose to epsilon <= target
// at `delta`; spec.noise_multiplier is ignored. INVALID_ARGUMENT if even z = 1000 cannot.
absl::StatusOr<double> CalibrateNoiseMultiplier(DpSpec spec, double target_epsilon, double delta,
                                                int64_t rounds, absl::Span<const double> orders);

// Zhu & Wang 2019 ("Poisson Subsampled Renyi Differential Privacy", ICML), the general upper
// bound for integer alpha >= 2 from the mechanism's RDP at orders 2..alpha; `rdp_at(l)` must
// return the RDP at integer order l. Returns min(that, rdp_at(alpha)).
template <typename RdpAt>
double PoissonSubsampledRdp(double sampling_rate, int64_t alpha, RdpAt rdp_at);

}  // namespace cohort::privacy

#include "privacy/mechanism_inl.h"

#endif  // COHORT_PRIVACY_MECHANISM_H_
