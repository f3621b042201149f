#include "privacy/discrete_gaussian.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace cohort::privacy {
namespace {

constexpr uint64_t kMaxChain = uint64_t{1} << 20;

// Largest x with x^2 * q <= p, i.e. floor(sqrt(p / q)), exactly.
uint64_t FloorSqrtRatio(uint64_t p, uint64_t q) {
  uint64_t x = static_cast<uint64_t>(std::sqrt(static_cast<double>(p) / static_cast<double>(q)));
  auto square_fits = [&](uint64_t v) { return absl::uint128(v) * v * q <= p; };
  while (x > 0 && !square_fits(x)) --x;
  while (square_fits(x + 1)) ++x;
  return x;
}

// Bernoulli(exp(-gamma)) for gamma = num / den in [0, 1]: CKS Alg. 1. K counts the Bernoulli(
// gamma / K) successes plus one; P(K odd) = sum_k (-gamma)^k / k! = exp(-gamma).
bool BernoulliExpNegAtMostOne(absl::uint128 num, absl::uint128 den, RandomBits& bits) {
  uint64_t k = 1;
  while (k < kMaxChain && bits.Bernoulli(num, den * k)) ++k;
  return k % 2 == 1;
}

}  // namespace

double RoundUpToVarianceGrid(double variance) {
  constexpr double kGrid = 1 << kVarianceFractionBits;
  return std::ceil(variance * kGrid) / kGrid;
}

bool BernoulliExpNeg(absl::uint128 num, absl::uint128 den, RandomBits& bits) {
  const absl::uint128 whole = num / den;
  // Each of the floor(gamma) factors exp(-1) is a trial; the product is exp(-floor(gamma)).
  for (absl::uint128 i = 0; i < whole; ++i) {
    if (!BernoulliExpNegAtMostOne(1, 1, bits)) return false;
  }
  return BernoulliExpNegAtMostOne(num % den, den, bits);
}

int64_t SampleDiscreteLaplace(uint64_t t, RandomBits& bits) {
  while (true) {
    const uint64_t u = bits.UniformBelow(t);
    if (!BernoulliExpNeg(u, t, bits)) continue;
    uint64_t v = 0;
    while (v < kMaxChain && BernoulliExpNegAtMostOne(1, 1, bits)) ++v;
    if (v == kMaxChain) continue;  // probability exp(-2^20): restart
    const uint64_t x = u + t * v;
    const bool negative = bits.Bits(1) == 1;
    if (negative && x == 0) continue;  // otherwise 0 would be drawn twice as often
    return negative ? -static_cast<int64_t>(x) : static_cast<int64_t>(x);
  }
}

absl::StatusOr<DiscreteGaussianSampler> DiscreteGaussianSampler::Create(double variance) {
  if (!std::isfinite(variance) || variance <= 0 || variance > kMaxSamplerVariance) {
    return absl::InvalidArgumentError(
        absl::StrCat("the discrete Gaussian variance must be in (0, 2^44], got ", variance));
  }
  if (RoundUpToVarianceGrid(variance) != variance) {
    return absl::InvalidArgumentError(
        absl::StrCat("the discrete Gaussian variance ", variance,
                     " is not a multiple of 2^-8; use RoundUpToVarianceGrid"));
  }
  DiscreteGaussianSampler s;
  s.variance_ = variance;
  s.p_ = static_cast<uint64_t>(variance * static_cast<double>(s.q_));
  s.t_ = FloorSqrtRatio(s.p_, s.q_) + 1;
  s.den_ = absl::uint128(2) * s.p_ * s.q_ * s.t_ * s.t_;
  return s;
}

int64_t DiscreteGaussianSampler::Sample(RandomBits& bits) const {
  while (true) {
    const int64_t y = SampleDiscreteLaplace(t_, bits);
    const uint64_t a = static_cast<uint64_t>(y < 0 ? -y : y);
    if (a > (uint64_t{1} << 10) * t_) continue;  // acceptance < exp(-2^18); see the header
    // gamma = (a - s2/t)^2 / (2 s2) = (a q t - p)^2 / (2 p q t^2).
    const absl::int128 u = absl::int128(a) * q_ * t_ - absl::int128(p_);
    const absl::uint128 magnitude = static_cast<absl::uint128>(u < 0 ? -u : u);
    if (BernoulliExpNeg(magnitude * magnitude, den_, bits)) return y;
  }
}

}  // namespace cohort::privacy
