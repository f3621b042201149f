#ifndef COHORT_PRIVACY_SKELLAM_H_
#define COHORT_PRIVACY_SKELLAM_H_

// The Skellam noise of Agarwal, Kairouz and Liu, "The Skellam Mechanism for Differentially
// Private Federated Learning" (NeurIPS 2021): Sk(mu) = Poisson(mu/2) - Poisson(mu/2), variance
// mu, symmetric. Unlike the discrete Gaussian, Skellam is closed under summation: n devices'
// Sk(mu/n) shares add up to exactly Sk(mu), so the accountant needs no correction term.
//
// Poisson(lambda), lambda = p / 2^9 (the Skellam variance is on the 2^-8 grid of
// discrete_gaussian.h, so each half is on the 2^-9 grid):
//  - lambda < kExactPoissonMeanLimit: exact, in integer arithmetic. floor(lambda) draws of
//    Poisson(1) by Duchon and Duvignau's growing-permutation algorithm (Electron. J. Combin.
//    23(4), 2016, Alg. 1: only uniform integer draws), plus Poisson(frac) as a binomial thinning
//    of one more Poisson(1) with the exact rational Bernoulli(frac) (Devroye 1986, p. 487).
//    Cost O(lambda).
//  - larger lambda: Hormann's PTRS transformed rejection (Insurance: Math. Econ. 12, 1993) from
//    53-bit uniforms of the same RandomBits. The algorithm is exact in real arithmetic; in double
//    precision its acceptance test carries relative errors of about 1e-15 (log, log-factorial by
//    Stirling's series). The output is an integer, so this is not the floating-point side channel
//    of continuous samplers, but it is not bit-exact, and docs/privacy.md says so: use the
//    discrete Gaussian where exactness is required.
//
//   COHORT_ASSIGN_OR_RETURN(SkellamSampler sk, SkellamSampler::Create(/*variance=*/40.0));
//   int64_t noise = sk.Sample(bits);
//
// Codes: Create returns INVALID_ARGUMENT for a variance that is not finite, not positive, above
// kMaxSamplerVariance or off the 2^-8 grid. Thread-safe: immutable; each thread brings its own
// RandomBits.

#include <cstdint>

#include "absl/status/statusor.h"
#include "privacy/random_bits.h"

namespace cohort::privacy {

inline constexpr uint64_t kExactPoissonMeanLimit = 16;

// Poisson(1), exactly.
uint64_t SamplePoissonOne(RandomBits& bits);

// Poisson(num / 2^9); exact below kExactPoissonMeanLimit, PTRS above.
uint64_t SamplePoisson(uint64_t num, RandomBits& bits);

class SkellamSampler {
 public:
  static absl::StatusOr<SkellamSampler> Create(double variance);

  int64_t Sample(RandomBits& bits) const;
  double variance() const { return variance_; }

 private:
  SkellamSampler() = default;

  double variance_ = 0;
  uint64_t half_num_ = 0;  // each Poisson's mean is half_num_ / 2^9
};

}  // namespace cohort::privacy

#endif  // COHORT_PRIVACY_SKELLAM_H_
