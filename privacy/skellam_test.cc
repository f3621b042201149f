#include "privacy/skellam.h"

#include <cmath>
#include <map>

#include <catch2/catch.hpp>

#include "privacy/log_math.h"
#include "secagg/testing/fake_random_source.h"

namespace cohort::privacy {
namespace {

double PoissonPmf(double lambda, int k) {
  return std::exp(-lambda + k * std::log(lambda) - LogFactorial(static_cast<uint64_t>(k)));
}

// Chi-square of `draws` samples from `sample` against Poisson(lambda) over cells
// [lo, hi) plus the two tails.
template <typename Sample>
double PoissonChiSquare(double lambda, int lo, int hi, int draws, Sample sample) {
  std::map<int, int> counts;
  for (int i = 0; i < draws; ++i) {
    const int k = static_cast<int>(sample());
    ++counts[std::clamp(k, lo - 1, hi)];
  }
  double chi2 = 0;
  for (int cell = lo - 1; cell <= hi; ++cell) {
    double p = 0;
    if (cell == lo - 1) {
      for (int k = 0; k < lo; ++k) p += PoissonPmf(lambda, k);
    } else if (cell == hi) {
      p = 1;
      for (int k = 0; k < hi; ++k) p -= PoissonPmf(lambda, k);
    } else {
      p = PoissonPmf(lambda, cell);
    }
    const double expected = p * draws;
    if (expected > 0) chi2 += std::pow(counts[cell] - expected, 2) / expected;
  }
  return chi2;
}

TEST_CASE("LogFactorial_MatchesTheProductAcrossTheTableAndStirlingRanges") {
  double exact = 0;
  for (uint64_t k = 1; k <= 200; ++k) {
    exact += std::log(static_cast<double>(k));
    CHECK(std::abs(LogFactorial(k) - exact) < 1e-9 * std::max(1.0, exact));
  }
  CHECK(LogFactorial(0) == 0);
}

TEST_CASE("SamplePoissonOne_HasThePoissonOnePmf") {
  secagg::FakeRandomSource source(51);
  RandomBits bits(source);
  // 9 cells (0..6 and the tails): P(chi2 > 40) < 1e-5 at 8 degrees of freedom.
  CHECK(PoissonChiSquare(1.0, 0, 7, 300000, [&] { return SamplePoissonOne(bits); }) < 40);
}

TEST_CASE("SamplePoisson_MatchesThePmfOnTheExactAndThePtrsPaths") {
  secagg::FakeRandomSource source(52);
  RandomBits bits(source);
  struct Case {
    uint64_t num;  // lambda = num / 512
    int lo, hi;
  };
  // 0.3 and 5.5 and 15.9: exact path; 16 and 40: PTRS (below 10 PTRS would be invalid).
  for (Case c : {Case{154, 0, 4}, Case{2816, 1, 12}, Case{8141, 6, 27}, Case{8192, 6, 28},
                 Case{20480, 25, 57}}) {
    const double lambda = static_cast<double>(c.num) / 512;
    const int cells = c.hi - c.lo + 2;
    const double chi2 =
        PoissonChiSquare(lambda, c.lo, c.hi, 200000, [&] { return SamplePoisson(c.num, bits); });
    INFO("lambda " << lambda << " cells " << cells);
    // P(chi2 > df + 6 sqrt(2 df)) is below 1e-4 for these df.
    CHECK(chi2 < (cells - 1) + 6 * std::sqrt(2.0 * (cells - 1)));
  }
}

TEST_CASE("SkellamSampler_HasMeanZeroAndTheConfiguredVariance") {
  constexpr int kDraws = 200000;
  uint64_t seed = 60;
  for (double mu : {0.5, 7.0, 31.5, 100.0, 12345.5, 0x1.0p30}) {
    secagg::FakeRandomSource source(++seed);
    RandomBits bits(source);
    auto sk = SkellamSampler::Create(mu);
    REQUIRE(sk.ok());
    double sum = 0, sum_squares = 0;
    for (int i = 0; i < kDraws; ++i) {
      const double x = static_cast<double>(sk->Sample(bits));
      sum += x;
      sum_squares += x * x;
    }
    INFO("variance " << mu);
    CHECK(std::abs(sum / kDraws) < 6 * std::sqrt(mu / kDraws));
    // Var of x^2 for Skellam is 2 mu^2 + mu (excess kurtosis 1/mu): 6 standard errors.
    CHECK(std::abs(sum_squares / kDraws - mu) < 6 * std::sqrt((2 * mu * mu + mu) / kDraws));
  }
}

TEST_CASE("SkellamSampler_RefusesVariancesOffTheGrid") {
  CHECK(SkellamSampler::Create(0).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(SkellamSampler::Create(1.0 / 1000).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(SkellamSampler::Create(0x1.0p50).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(SkellamSampler::Create(1.0 / 256).ok());
}

}  // namespace
}  // namespace cohort::privacy
