#include "privacy/randomized_rounding.h"

#include <cmath>
#include <vector>

#include <catch2/catch.hpp>

#include "secagg/testing/fake_random_source.h"

namespace cohort::privacy {
namespace {

TEST_CASE("NormBoundSquared_IsTheSmallerOfKairouzEtAlsTwoBounds") {
  // beta = 0: the deterministic bound (c + sqrt(d))^2 = (10 + 8)^2.
  auto always = NormBoundSquared(10, 0, 64);
  REQUIRE(always.ok());
  CHECK(*always == 324);
  // beta = e^-0.5: c^2 + d/4 + sqrt(2 * 0.5) (c + sqrt(d)/2) = 100 + 16 + 14 = 130.
  auto likely = NormBoundSquared(10, std::exp(-0.5), 64);
  REQUIRE(likely.ok());
  CHECK(*likely == 130);
  // For a large vector the probabilistic bound is far below the deterministic one.
  auto big = NormBoundSquared(1000, std::exp(-0.5), 1 << 16);
  REQUIRE(big.ok());
  CHECK(*big < static_cast<uint64_t>((1000 + 256) * (1000 + 256)));
  CHECK(NormBoundSquared(10, 1.0, 64).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(NormBoundSquared(-1, 0.5, 64).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(NormBoundSquared(0x1.0p40, 0.5, 64).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("NormBoundFromSquared_NeverUndershootsTheIntegerBound") {
  for (uint64_t b : {uint64_t{0}, uint64_t{1}, uint64_t{2}, uint64_t{130}, (uint64_t{1} << 53) + 1,
                     (uint64_t{1} << 62) - 1}) {
    const double root = NormBoundFromSquared(b);
    CHECK(root * root >= static_cast<double>(b));
    CHECK(root <= std::sqrt(static_cast<double>(b)) * (1 + 1e-15) + 1e-300);
  }
}

TEST_CASE("IntegerL1Bound_UsesTheBetterOfTheTwoInequalities") {
  CHECK(IntegerL1Bound(3, 100) == 9);     // l2^2 < sqrt(d) l2
  CHECK(IntegerL1Bound(30, 100) == 300);  // sqrt(d) l2 < l2^2
}

TEST_CASE("ConditionalRandomizedRound_IsUnbiasedWithoutConditioning") {
  // With beta = 0 the bound is (||z|| + sqrt(d))^2, which every rounding meets: one attempt, and
  // each coordinate's mean is its real value (std of the mean <= 0.5 / sqrt(1e5) = 0.0016).
  secagg::FakeRandomSource source(11);
  RandomBits bits(source);
  const std::vector<double> z = {0.25, -1.5, 3.9, -0.1, 2.0, 0.0, 7.3, -4.65};
  double norm = 0;
  for (double v : z) norm += v * v;
  auto bound = NormBoundSquared(std::sqrt(norm), 0, static_cast<int64_t>(z.size()));
  REQUIRE(bound.ok());
  constexpr int kDraws = 100000;
  std::vector<int64_t> total(z.size(), 0);
  std::vector<int64_t> out(z.size());
  for (int i = 0; i < kDraws; ++i) {
    auto r = ConditionalRandomizedRound(z, *bound, bits, absl::MakeSpan(out));
    REQUIRE(r.ok());
    REQUIRE(r->attempts == 1);
    for (size_t j = 0; j < z.size(); ++j) {
      REQUIRE(std::abs(static_cast<double>(out[j]) - z[j]) < 1);
      total[j] += out[j];
    }
  }
  for (size_t j = 0; j < z.size(); ++j) {
    CHECK(std::abs(static_cast<double>(total[j]) / kDraws - z[j]) < 0.01);
  }
  CHECK(total[4] == 2 * kDraws);  // integers are left alone
  CHECK(total[5] == 0);
}

TEST_CASE("ConditionalRandomizedRound_AcceptsOftenAndNeverExceedsTheBound") {
  // Kairouz et al.'s bound at beta = e^-0.5 accepts a draw with probability >= 1 - beta.
  secagg::FakeRandomSource source(14);
  RandomBits bits(source);
  std::vector<double> z(256);
  for (size_t j = 0; j < z.size(); ++j) z[j] = std::sin(static_cast<double>(j)) * 3.7;
  double norm = 0;
  for (double v : z) norm += v * v;
  const double beta = std::exp(-0.5);
  auto bound = NormBoundSquared(std::sqrt(norm), beta, static_cast<int64_t>(z.size()));
  REQUIRE(bound.ok());
  std::vector<int64_t> out(z.size());
  int64_t attempts = 0;
  constexpr int kDraws = 20000;
  for (int i = 0; i < kDraws; ++i) {
    auto r = ConditionalRandomizedRound(z, *bound, bits, absl::MakeSpan(out));
    REQUIRE(r.ok());
    attempts += r->attempts;
    absl::uint128 norm_squared = 0;
    for (int64_t v : out) norm_squared += absl::uint128(static_cast<uint64_t>(v * v));
    REQUIRE(norm_squared <= *bound);
    REQUIRE(norm_squared == r->norm_squared);
  }
  CHECK(static_cast<double>(attempts) / kDraws < 1 / (1 - beta));
}

TEST_CASE("ConditionalRandomizedRound_ResamplesUntilTheNormFits") {
  // All coordinates at 0.5: each rounds to 0 or 1 with probability 1/2, 32 ones on average. A
  // squared-norm bound of 24 rejects most draws, yet the accepted one obeys it.
  secagg::FakeRandomSource source(12);
  RandomBits bits(source);
  const std::vector<double> z(64, 0.5);
  std::vector<int64_t> out(64);
  auto tight = ConditionalRandomizedRound(z, 24, bits, absl::MakeSpan(out), 100000);
  REQUIRE(tight.ok());
  CHECK(tight->attempts > 1);
  int64_t ones = 0;
  for (int64_t v : out) ones += v;
  CHECK(ones <= 24);
}

TEST_CASE("ConditionalRandomizedRound_RefusesAnUnclippedVectorAndGivesUpWhenHopeless") {
  secagg::FakeRandomSource source(13);
  RandomBits bits(source);
  std::vector<int64_t> out(2);
  const std::vector<double> z = {3.0, 4.0};
  CHECK(ConditionalRandomizedRound(z, 24, bits, absl::MakeSpan(out)).status().code() ==
        absl::StatusCode::kInvalidArgument);
  // 64 coordinates at 0.5 have squared norm 16; a bound of 16 needs at most 16 of them to
  // round up, probability ~2.5e-5 per attempt, so 5 attempts fail (the seed is fixed).
  const std::vector<double> halves(64, 0.5);
  std::vector<int64_t> out64(64);
  auto hopeless = ConditionalRandomizedRound(halves, 16, bits, absl::MakeSpan(out64), 5);
  CHECK(hopeless.status().code() == absl::StatusCode::kResourceExhausted);
  const std::vector<double> nan = {std::nan(""), 0.0};
  CHECK(ConditionalRandomizedRound(nan, 10, bits, absl::MakeSpan(out)).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cohort::privacy
