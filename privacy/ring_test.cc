#include "privacy/ring.h"

#include <cmath>

#include <catch2/catch.hpp>

namespace cohort::privacy {
namespace {

RingLoad Load() {
  RingLoad load;
  load.bits = 16;
  load.contributors = 100;
  load.coordinates = 8192;
  load.scaled_clip_norm = 500;
  load.local_variance = 2500;
  return load;
}

TEST_CASE("LogChernoffTail_IsTheSubGaussianBoundForTheDiscreteGaussian") {
  CHECK(LogChernoffTail(10, 30, NoiseKind::kDiscreteGaussian, 70) == Approx(-100.0 / 200));
  CHECK(LogChernoffTail(-1, 30, NoiseKind::kDiscreteGaussian, 70) == 0);
}

TEST_CASE("LogChernoffTail_SkellamHasTheHeavierTailAndConvergesToTheGaussian") {
  // Poisson differences have sub-exponential tails: the bound is weaker than the Gaussian one
  // at the same variance, and the gap closes as the variance grows at a fixed number of sigmas.
  for (double variance : {10.0, 1e3, 1e6}) {
    const double margin = 6 * std::sqrt(variance);
    const double gaussian = LogChernoffTail(margin, 0, NoiseKind::kDiscreteGaussian, variance);
    const double skellam = LogChernoffTail(margin, 0, NoiseKind::kSkellam, variance);
    CHECK(skellam > gaussian);
    if (variance >= 1e6) CHECK(skellam == Approx(gaussian).epsilon(0.01));
  }
}

TEST_CASE("LogChernoffTail_SkellamBoundIsTheOptimisedMgfBound") {
  // Pure Skellam: min_t -t a + mu (cosh t - 1) at t = asinh(a / mu).
  const double a = 40, mu = 100;
  const double t = std::asinh(a / mu);
  CHECK(LogChernoffTail(a, 0, NoiseKind::kSkellam, mu) ==
        Approx(-t * a + mu * (std::cosh(t) - 1)).epsilon(1e-9));
}

TEST_CASE("Log2WrapProbability_FallsWithBitsAndRisesWithLoad") {
  RingLoad load = Load();
  const double base = Log2WrapProbability(load);
  CHECK(base < 0);
  load.bits = 18;
  CHECK(Log2WrapProbability(load) < base);
  load = Load();
  load.contributors = 200;
  CHECK(Log2WrapProbability(load) > base);
  load = Load();
  load.scaled_clip_norm = 1000;
  CHECK(Log2WrapProbability(load) > base);
  load = Load();
  load.count_magnitude = 300;  // 100 devices * 300 = 30,000 of the ring's 32,768 half-width
  CHECK(Log2WrapProbability(load) > base);
  load = Load();
  load.contributors = 40000;  // rounding alone overflows 2^15
  CHECK(Log2WrapProbability(load) == 0);
}

TEST_CASE("Log2WrapProbability_AddsTheTermsItDocuments") {
  // bits 16: L = 32768, margin L - n; proxies (n s C)^2 / d' and n s2.
  const RingLoad load = Load();
  const double n = 100, margin = 32768 - n;
  const double v = std::pow(n * 500, 2) / 8192 + n * 2500;
  const double expected = (std::log(2.0 * 8192) - margin * margin / (2 * v)) / std::log(2.0);
  CHECK(Log2WrapProbability(load) == Approx(expected));
}

}  // namespace
}  // namespace cohort::privacy
