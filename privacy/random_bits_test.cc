#include "privacy/random_bits.h"

#include <cmath>
#include <vector>

#include <catch2/catch.hpp>

#include "secagg/testing/fake_random_source.h"

namespace cohort::privacy {
namespace {

// A source that counts the bytes it hands out.
class CountingSource : public secagg::RandomSource {
 public:
  void Fill(absl::Span<uint8_t> out) override {
    inner_.Fill(out);
    bytes += out.size();
  }
  size_t bytes = 0;

 private:
  secagg::FakeRandomSource inner_{7};
};

TEST_CASE("UniformBelow_IsUniformOverAnAwkwardRange") {
  secagg::FakeRandomSource source(1);
  RandomBits bits(source);
  // n = 5 wastes 3 of every 8 3-bit values; a biased reduction (x % 5) would put 2/8 on 0..2.
  constexpr int kN = 5;
  constexpr int kDraws = 500000;
  std::vector<int> counts(kN);
  for (int i = 0; i < kDraws; ++i) ++counts[bits.UniformBelow(uint64_t{kN})];
  double chi2 = 0;
  for (int c : counts) chi2 += std::pow(c - kDraws / kN, 2) / (kDraws / kN);
  // 4 degrees of freedom: P(chi2 > 30) < 1e-5; x % 5 on 3-bit values would give chi2 ~ 1e4.
  CHECK(chi2 < 30);
}

TEST_CASE("UniformBelow_Covers128BitRanges") {
  secagg::FakeRandomSource source(2);
  RandomBits bits(source);
  const absl::uint128 n = absl::MakeUint128(3, 0);  // 3 * 2^64
  int high_counts[3] = {0, 0, 0};
  for (int i = 0; i < 30000; ++i) {
    const absl::uint128 v = bits.UniformBelow(n);
    REQUIRE(v < n);
    ++high_counts[absl::Uint128High64(v)];
  }
  for (int c : high_counts) CHECK(std::abs(c - 10000) < 600);  // 6.5 sigma
}

TEST_CASE("Bernoulli_HasTheExactRationalProbability") {
  secagg::FakeRandomSource source(3);
  RandomBits bits(source);
  constexpr int kDraws = 400000;
  int ones = 0;
  for (int i = 0; i < kDraws; ++i) ones += bits.Bernoulli(uint64_t{1}, uint64_t{3}) ? 1 : 0;
  const double sd = std::sqrt(kDraws * (1.0 / 3) * (2.0 / 3));
  CHECK(std::abs(ones - kDraws / 3.0) < 6 * sd);
  CHECK(bits.Bernoulli(uint64_t{0}, uint64_t{7}) == false);
  CHECK(bits.Bernoulli(uint64_t{7}, uint64_t{7}) == true);
}

TEST_CASE("Bits_TakesOnlyTheBitsItNeedsFromTheSource") {
  CountingSource source;
  RandomBits bits(source);
  for (int i = 0; i < 1024; ++i) bits.Bits(1);
  CHECK(bits.bits_used() == 1024);
  // 1024 bits are 16 words: one 512-byte buffer fill, not 1024 calls for 8 bytes each.
  CHECK(source.bytes == 512);
}

TEST_CASE("Bits_ConcatenatesAcrossWordBoundaries") {
  secagg::FakeRandomSource a(9);
  secagg::FakeRandomSource b(9);
  RandomBits split(a);
  RandomBits whole(b);
  // 60 + 8 bits straddle the first word; the same 68 bits read as 64 + 4 must agree bit for
  // bit where they overlap (the low 60 bits of the first word).
  const uint64_t first60 = split.Bits(60);
  const uint64_t word = whole.Bits(64);
  CHECK(first60 == (word & ((uint64_t{1} << 60) - 1)));
  const uint64_t next8 = split.Bits(8);
  CHECK((next8 & 0xF) == (word >> 60));
}

TEST_CASE("UnitDouble_IsInTheUnitIntervalWithMeanOneHalf") {
  secagg::FakeRandomSource source(4);
  RandomBits bits(source);
  double sum = 0;
  for (int i = 0; i < 100000; ++i) {
    const double u = bits.UnitDouble();
    REQUIRE(u >= 0);
    REQUIRE(u < 1);
    sum += u;
  }
  CHECK(std::abs(sum / 100000 - 0.5) < 6 * std::sqrt(1.0 / 12 / 100000));
}

}  // namespace
}  // namespace cohort::privacy
