#include "privacy/skellam.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "privacy/discrete_gaussian.h"
#include "privacy/log_math.h"

namespace cohort::privacy {
namespace {

constexpr int kPoissonFractionBits = kVarianceFractionBits + 1;
constexpr uint64_t kPoissonDen = uint64_t{1} << kPoissonFractionBits;

// Hormann (1993), PTRS, for lambda >= 10.
uint64_t SamplePoissonPtrs(double lambda, RandomBits& bits) {
  const double sqrt_lambda = std::sqrt(lambda);
  const double log_lambda = std::log(lambda);
  const double b = 0.931 + 2.53 * sqrt_lambda;
  const double a = -0.059 + 0.02483 * b;
  const double inv_alpha = 1.1239 + 1.1328 / (b - 3.4);
  const double v_r = 0.9277 - 3.6224 / (b - 2);
  while (true) {
    const double u = bits.UnitDouble() - 0.5;
    const double v = bits.UnitDouble();
    const double us = 0.5 - std::abs(u);
    const double k = std::floor((2 * a / us + b) * u + lambda + 0.43);
    // The squeeze: inside it every candidate is accepted without the full test.
    if (us >= 0.07 && v <= v_r) return static_cast<uint64_t>(k);
    if (k < 0 || (us < 0.013 && v > us)) continue;
    if (k > 0x1.0p52) continue;  // mass beyond 2^52 for lambda <= 2^43 is below any double
    const double lhs = std::log(v) + std::log(inv_alpha) - std::log(a / (us * us) + b);
    const double rhs = -lambda + k * log_lambda - LogFactorial(static_cast<uint64_t>(k));
    if (lhs <= rhs) return static_cast<uint64_t>(k);
  }
}

}  // namespace

uint64_t SamplePoissonOne(RandomBits& bits) {
  // Duchon & Duvignau (2016), Alg. 1: grow a uniform random permutation one element at a time
  // and track the count of a cycle statistic whose limit law is exactly Poisson(1); the loop
  // ends with probability 1 and takes e steps on average.
  uint64_t n = 1;
  uint64_t g = 0;
  uint64_t k = 1;
  while (true) {
    const uint64_t i = bits.UniformBelow(n + 1) + 1;  // uniform in [1, n + 1]
    if (i == n + 1) {
      ++k;
    } else if (i > g) {
      --k;
      g = n + 1;
    } else {
      return k;
    }
    ++n;
  }
}

uint64_t SamplePoisson(uint64_t num, RandomBits& bits) {
  const uint64_t whole = num / kPoissonDen;
  if (whole >= kExactPoissonMeanLimit) {
    return SamplePoissonPtrs(static_cast<double>(num) / static_cast<double>(kPoissonDen), bits);
  }
  uint64_t result = 0;
  for (uint64_t i = 0; i < whole; ++i) result += SamplePoissonOne(bits);
  const uint64_t frac = num % kPoissonDen;
  if (frac > 0) {
    // Thinning: keep each of Poisson(1) points with probability frac / 2^9.
    const uint64_t points = SamplePoissonOne(bits);
    for (uint64_t i = 0; i < points; ++i) result += bits.Bernoulli(frac, kPoissonDen) ? 1 : 0;
  }
  return result;
}

absl::StatusOr<SkellamSampler> SkellamSampler::Create(double variance) {
  if (!std::isfinite(variance) || variance <= 0 || variance > kMaxSamplerVariance) {
    return absl::InvalidArgumentError(
        absl::StrCat("the Skellam variance must be in (0, 2^44], got ", variance));
  }
  if (RoundUpToVarianceGrid(variance) != variance) {
    return absl::InvalidArgumentError(
        absl::StrCat("the Skellam variance ", variance,
                     " is not a multiple of 2^-8; use RoundUpToVarianceGrid"));
  }
  SkellamSampler s;
  s.variance_ = variance;
  // mu / 2 = (mu * 2^8) / 2^9.
  s.half_num_ = static_cast<uint64_t>(variance * (1 << kVarianceFractionBits));
  return s;
}

int64_t SkellamSampler::Sample(RandomBits& bits) const {
  const uint64_t plus = SamplePoisson(half_num_, bits);
  const uint64_t minus = SamplePoisson(half_num_, bits);
  return static_cast<int64_t>(plus) - static_cast<int64_t>(minus);
}

}  // namespace cohort::privacy
