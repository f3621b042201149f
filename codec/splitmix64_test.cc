#include "codec/splitmix64.h"

#include <catch2/catch.hpp>

namespace cohort::codec {
namespace {

TEST_CASE("SplitMix64_MatchesTheReferenceSequenceFromSeedZero") {
  // The first outputs of Vigna's reference splitmix64.c with x = 0.
  SplitMix64 rng(0);
  CHECK(rng.Next() == 0xE220A8397B1DCDAFULL);
  CHECK(rng.Next() == 0x6E789E6AA1B965F4ULL);
  CHECK(rng.Next() == 0x06C45D188009454FULL);
}

TEST_CASE("SplitMix64_AtGivesTheSameValueAsStepping") {
  for (uint64_t seed : {uint64_t{0}, uint64_t{1}, uint64_t{0xDEADBEEF}, ~uint64_t{0}}) {
    SplitMix64 rng(seed);
    for (uint64_t i = 0; i < 1000; ++i) {
      INFO("seed=" << seed << " i=" << i);
      REQUIRE(SplitMix64::At(seed, i) == rng.Next());
    }
  }
}

TEST_CASE("ToUnitDouble_StaysInTheHalfOpenUnitInterval") {
  CHECK(ToUnitDouble(0) == 0.0);
  CHECK(ToUnitDouble(~uint64_t{0}) < 1.0);
  CHECK(ToUnitDouble(~uint64_t{0}) == 1.0 - 0x1.0p-53);
  CHECK(ToUnitDouble(uint64_t{1} << 63) == 0.5);
}

TEST_CASE("SplitMix64_NextDoubleHasMeanAndVarianceOfUniform") {
  SplitMix64 rng(42);
  constexpr int kDraws = 200000;
  double sum = 0;
  double sum_squares = 0;
  for (int i = 0; i < kDraws; ++i) {
    const double u = rng.NextDouble();
    sum += u;
    sum_squares += u * u;
  }
  const double mean = sum / kDraws;
  const double variance = sum_squares / kDraws - mean * mean;
  // Standard error of the mean: sqrt(1/12 / 200000) ~ 0.00065.
  CHECK(mean == Approx(0.5).margin(0.004));
  CHECK(variance == Approx(1.0 / 12).margin(0.002));
}

TEST_CASE("MixSeed_SeparatesStreamsAndSeeds") {
  CHECK(MixSeed(1, 1) != MixSeed(1, 2));
  CHECK(MixSeed(1, 1) != MixSeed(2, 1));
  CHECK(MixSeed(1, 1) == MixSeed(1, 1));
}

}  // namespace
}  // namespace cohort::codec
