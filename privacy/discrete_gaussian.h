#ifndef COHORT_PRIVACY_DISCRETE_GAUSSIAN_H_
#define COHORT_PRIVACY_DISCRETE_GAUSSIAN_H_

// Exact samplers of Canonne, Kamath and Steinke, "The Discrete Gaussian for Differential
// Privacy" (NeurIPS 2020), Algorithms 1-3, in integer arithmetic: every probability the
// algorithms compare against is a ratio of integers, sampled with RandomBits' exact rational
// Bernoulli trials. No floating point touches a sample, so there is no floating-point side
// channel of the kind Mironov (CCS 2012) found in textbook Laplace samplers.
//
//   N_Z(0, s2): P(x) proportional to exp(-x^2 / (2 s2)) on the integers.
//   Algorithm 3: t = floor(sigma) + 1; Y ~ DiscreteLaplace(t); accept Y with probability
//   exp(-(|Y| - s2/t)^2 / (2 s2)); expected trials < 2 for every s2 (CKS, Thm. 6).
//
// The variance is a multiple of 2^-kVarianceFractionBits (s2 = p / 2^8, p an integer) in
// (0, kMaxSamplerVariance]; RoundUpToVarianceGrid gives the next such value, which is what the
// server puts in the round plan, so the variance sampled is exactly the one accounted for.
// Sizes: p <= 2^52, t <= 2^22 + 1, so (|Y| q t - p)^2 < 2^124 and 2 p q t^2 < 2^106 fit in
// 128 bits.
//
// The one departure from the paper: a Laplace candidate with |Y| > 2^10 t is rejected
// outright instead of by a Bernoulli trial; its acceptance probability would be below
// exp(-2^18), so the output distribution differs from N_Z(0, s2) by less than that in total
// variation (and the Bernoulli(exp(-1)) chain of the Laplace step is cut at 2^20 links, an event
// of probability exp(-2^20)). Both are far below any failure probability elsewhere in Cohort.
//
//   COHORT_ASSIGN_OR_RETURN(DiscreteGaussianSampler dg, DiscreteGaussianSampler::Create(2.5));
//   int64_t noise = dg.Sample(bits);
//
// Codes: Create returns INVALID_ARGUMENT for a variance that is not finite, not positive, above
// kMaxSamplerVariance or not on the grid. Thread-safe: samplers are immutable; each thread
// brings its own RandomBits.

#include <cstdint>

#include "absl/numeric/int128.h"
#include "absl/status/statusor.h"
#include "privacy/random_bits.h"

namespace cohort::privacy {

inline constexpr int kVarianceFractionBits = 8;
inline constexpr double kMaxSamplerVariance = 0x1.0p44;

// The smallest multiple of 2^-8 that is >= variance (variance >= 0).
double RoundUpToVarianceGrid(double variance);

// True with probability exactly exp(-num / den); den >= 1, den < 2^106 (CKS Alg. 1, with the
// integer part handled as floor(num/den) Bernoulli(exp(-1)) trials that stop at the first 0).
bool BernoulliExpNeg(absl::uint128 num, absl::uint128 den, RandomBits& bits);

// P(x) proportional to exp(-|x| / t) on the integers, t >= 1 (CKS Alg. 2 with s = 1).
int64_t SampleDiscreteLaplace(uint64_t t, RandomBits& bits);

class DiscreteGaussianSampler {
 public:
  static absl::StatusOr<DiscreteGaussianSampler> Create(double variance);

  int64_t Sample(RandomBits& bits) const;
  double variance() const { return variance_; }

 private:
  DiscreteGaussianSampler() = default;

  double variance_ = 0;
  uint64_t p_ = 0;  // variance = p_ / q_
  uint64_t q_ = uint64_t{1} << kVarianceFractionBits;
  uint64_t t_ = 1;         // floor(sigma) + 1
  absl::uint128 den_ = 0;  // 2 p q t^2
};

}  // namespace cohort::privacy

#endif  // COHORT_PRIVACY_DISCRETE_GAUSSIAN_H_
