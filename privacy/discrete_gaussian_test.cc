#include "privacy/discrete_gaussian.h"

#include <cmath>
#include <map>
#include <vector>

#include <catch2/catch.hpp>

#include "secagg/testing/fake_random_source.h"

namespace cohort::privacy {
namespace {

// Exact moments of N_Z(0, s2) by summing the pmf; for s2 >= 1 the variance is s2 to ~1e-7.
struct Moments {
  double variance;
  double p_zero;
};
Moments ExactMoments(double s2) {
  const int n = static_cast<int>(60 * std::sqrt(s2)) + 20;
  double z = 0;
  double second = 0;
  for (int x = -n; x <= n; ++x) {
    const double w = std::exp(-x * static_cast<double>(x) / (2 * s2));
    z += w;
    second += x * static_cast<double>(x) * w;
  }
  return {second / z, 1 / z};
}

TEST_CASE("BernoulliExpNeg_HitsExpOfMinusGammaForFractionsAndWholeParts") {
  secagg::FakeRandomSource source(21);
  RandomBits bits(source);
  constexpr int kDraws = 200000;
  struct Case {
    uint64_t num, den;
  };
  for (Case c : {Case{1, 2}, Case{1, 1}, Case{27, 10}, Case{0, 5}}) {
    int ones = 0;
    for (int i = 0; i < kDraws; ++i) ones += BernoulliExpNeg(c.num, c.den, bits) ? 1 : 0;
    const double p = std::exp(-static_cast<double>(c.num) / static_cast<double>(c.den));
    const double sd = std::sqrt(kDraws * p * (1 - p)) + 1e-9;
    INFO("gamma " << c.num << "/" << c.den);
    CHECK(std::abs(ones - kDraws * p) <= 6 * sd);
  }
}

TEST_CASE("SampleDiscreteLaplace_HasTheGeometricTwoSidedLaw") {
  // P(x) = (1 - r) / (1 + r) r^|x|, r = e^{-1/t}: P(0) and the variance 2r / (1 - r)^2.
  secagg::FakeRandomSource source(22);
  RandomBits bits(source);
  constexpr int kDraws = 200000;
  const uint64_t t = 3;
  const double r = std::exp(-1.0 / t);
  int zeros = 0;
  double sum = 0, sum_squares = 0;
  for (int i = 0; i < kDraws; ++i) {
    const int64_t x = SampleDiscreteLaplace(t, bits);
    zeros += x == 0 ? 1 : 0;
    sum += static_cast<double>(x);
    sum_squares += static_cast<double>(x * x);
  }
  const double p0 = (1 - r) / (1 + r);
  CHECK(std::abs(zeros - kDraws * p0) < 6 * std::sqrt(kDraws * p0 * (1 - p0)));
  const double variance = 2 * r / ((1 - r) * (1 - r));
  CHECK(std::abs(sum / kDraws) < 6 * std::sqrt(variance / kDraws));
  CHECK(sum_squares / kDraws == Approx(variance).epsilon(0.03));
}

TEST_CASE("DiscreteGaussianSampler_HasMeanZeroAndTheExactVariance") {
  // Fixed seeds: each check is deterministic. Tolerances are 6 standard errors: the variance
  // estimate of N draws has relative standard error ~sqrt(2 / N) = 0.32% at N = 200,000.
  constexpr int kDraws = 200000;
  uint64_t seed = 30;
  for (double s2 : {0.25, 1.0, 2.5, 10.5, 1000.0, 1048576.0, 0x1.0p40}) {
    secagg::FakeRandomSource source(++seed);
    RandomBits bits(source);
    auto dg = DiscreteGaussianSampler::Create(s2);
    REQUIRE(dg.ok());
    double sum = 0, sum_squares = 0;
    int zeros = 0;
    for (int i = 0; i < kDraws; ++i) {
      const double x = static_cast<double>(dg->Sample(bits));
      sum += x;
      sum_squares += x * x;
      zeros += x == 0 ? 1 : 0;
    }
    const Moments exact = s2 <= 1e4 ? ExactMoments(s2) : Moments{s2, 1 / std::sqrt(2 * M_PI * s2)};
    INFO("variance " << s2);
    CHECK(std::abs(sum / kDraws) < 6 * std::sqrt(exact.variance / kDraws));
    CHECK(std::abs(sum_squares / kDraws / exact.variance - 1) < 6 * std::sqrt(2.0 / kDraws));
    const double sd0 = std::sqrt(kDraws * exact.p_zero * (1 - exact.p_zero));
    CHECK(std::abs(zeros - kDraws * exact.p_zero) < 6 * sd0 + 1);
  }
}

TEST_CASE("DiscreteGaussianSampler_MatchesThePmfPointByPoint") {
  // Chi-square over the values -8..8 (and the two tails) for s2 = 4: 18 cells; P(chi2 > 50)
  // < 1e-4 for 17 degrees of freedom, while N_Z(0, 4.25) instead of N_Z(0, 4) gives ~200.
  secagg::FakeRandomSource source(40);
  RandomBits bits(source);
  auto dg = DiscreteGaussianSampler::Create(4);
  REQUIRE(dg.ok());
  constexpr int kDraws = 300000;
  std::map<int, int> counts;
  for (int i = 0; i < kDraws; ++i) {
    const int64_t x = dg->Sample(bits);
    ++counts[static_cast<int>(std::clamp<int64_t>(x, -9, 9))];
  }
  double z = 0;
  for (int x = -100; x <= 100; ++x) z += std::exp(-x * x / 8.0);
  auto p = [&](int x) { return std::exp(-x * x / 8.0) / z; };
  double chi2 = 0;
  for (int cell = -9; cell <= 9; ++cell) {
    double expected = 0;
    if (cell == -9 || cell == 9) {
      for (int x = 9; x <= 100; ++x) expected += p(x);
    } else {
      expected = p(cell);
    }
    expected *= kDraws;
    chi2 += std::pow(counts[cell] - expected, 2) / expected;
  }
  CHECK(chi2 < 50);
}

TEST_CASE("DiscreteGaussianSampler_RefusesVariancesOffTheGrid") {
  CHECK(DiscreteGaussianSampler::Create(0).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(DiscreteGaussianSampler::Create(-1).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(DiscreteGaussianSampler::Create(0.001).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(DiscreteGaussianSampler::Create(0x1.0p45).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(DiscreteGaussianSampler::Create(RoundUpToVarianceGrid(0.001)).ok());
  CHECK(RoundUpToVarianceGrid(0.001) == 1.0 / 256);
  CHECK(RoundUpToVarianceGrid(2.5) == 2.5);
  CHECK(RoundUpToVarianceGrid(2.501) == 2.5 + 1.0 / 256);
}

}  // namespace
}  // namespace cohort::privacy
