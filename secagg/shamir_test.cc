#include "secagg/shamir.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include "secagg/testing/fake_random_source.h"

namespace cohort::secagg {
namespace {

SecretKey RandomSecret(FakeRandomSource& rng) {
  SecretKey s;
  rng.Fill(absl::MakeSpan(s.mutable_data(), SecretKey::size()));
  return s;
}

std::vector<ShamirShare> Pick(const std::vector<int32_t>& xs, const std::vector<std::string>& shares,
                              const std::vector<size_t>& which) {
  std::vector<ShamirShare> out;
  for (size_t i : which) out.push_back({xs[i], shares[i]});
  return out;
}

TEST_CASE("Reconstruct_RecoversSecretFromAnyThresholdSubset") {
  FakeRandomSource rng(1);
  std::mt19937 shuffle(1);
  for (int trial = 0; trial < 30; ++trial) {
    const int k = 2 + static_cast<int>(rng.NextU64() % 30);
    const int t = 1 + static_cast<int>(rng.NextU64() % static_cast<uint64_t>(k));
    std::vector<int32_t> xs(static_cast<size_t>(k));
    for (int i = 0; i < k; ++i) xs[i] = 1 + i * 3 + static_cast<int32_t>(rng.NextU64() % 3);
    const SecretKey secret = RandomSecret(rng);
    auto shares = ShamirSplit(secret, t, xs, rng);
    REQUIRE(shares.ok());
    for (const std::string& s : *shares) REQUIRE(s.size() == kShamirShareSize);
    std::vector<size_t> order(static_cast<size_t>(k));
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), shuffle);
    const size_t m = static_cast<size_t>(t) + rng.NextU64() % static_cast<uint64_t>(k - t + 1);
    order.resize(m);
    auto back = ShamirReconstruct(Pick(xs, *shares, order), t);
    INFO("k=" << k << " t=" << t << " m=" << m);
    REQUIRE(back.ok());
    CHECK(back->Equals(secret));
  }
}

TEST_CASE("Reconstruct_RefusesFewerThanThreshold") {
  FakeRandomSource rng(2);
  std::vector<int32_t> xs = {1, 2, 3, 4, 5};
  auto shares = *ShamirSplit(RandomSecret(rng), 3, xs, rng);
  CHECK(ShamirReconstruct(Pick(xs, shares, {0, 4}), 3).status().code() ==
        absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("Reconstruct_DetectsInconsistentExtraShare") {
  FakeRandomSource rng(3);
  std::vector<int32_t> xs = {2, 4, 6, 8, 10};
  auto shares = *ShamirSplit(RandomSecret(rng), 3, xs, rng);
  shares[4][0] = static_cast<char>(shares[4][0] ^ 1);
  auto r = ShamirReconstruct(Pick(xs, shares, {0, 1, 2, 3, 4}), 3);
  CHECK(r.status().code() == absl::StatusCode::kDataLoss);
  CHECK(r.status().message().find("10") != absl::string_view::npos);
}

TEST_CASE("Reconstruct_DetectsMostCorruptionWithExactlyThresholdShares") {
  // With exactly t shares nothing can be cross-checked; a corrupted high-order byte still
  // yields a limb wider than the secret's bytes (a low-order one may not: see shamir.h).
  FakeRandomSource rng(4);
  std::vector<int32_t> xs = {1, 2, 3};
  auto shares = *ShamirSplit(RandomSecret(rng), 3, xs, rng);
  shares[1][7] = static_cast<char>(shares[1][7] ^ 0x04);
  CHECK(ShamirReconstruct(Pick(xs, shares, {0, 1, 2}), 3).status().code() ==
        absl::StatusCode::kDataLoss);
}

TEST_CASE("Reconstruct_RejectsMalformedShares") {
  FakeRandomSource rng(5);
  std::vector<int32_t> xs = {1, 2, 3};
  auto shares = *ShamirSplit(RandomSecret(rng), 2, xs, rng);
  CHECK(ShamirReconstruct({{1, shares[0]}, {1, shares[1]}}, 2).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(ShamirReconstruct({{1, shares[0]}, {2, shares[1].substr(1)}}, 2).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(ShamirReconstruct({{1, shares[0]}, {0, shares[1]}}, 2).status().code() ==
        absl::StatusCode::kInvalidArgument);
  std::string out_of_field = shares[1];
  for (int i = 0; i < 8; ++i) out_of_field[i] = '\xff';
  CHECK(ShamirReconstruct({{1, shares[0]}, {2, out_of_field}}, 2).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("Split_RejectsBadParameters") {
  FakeRandomSource rng(6);
  const SecretKey s = RandomSecret(rng);
  std::vector<int32_t> xs = {1, 2, 3};
  CHECK(ShamirSplit(s, 0, xs, rng).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(ShamirSplit(s, 4, xs, rng).status().code() == absl::StatusCode::kInvalidArgument);
  std::vector<int32_t> dup = {1, 2, 2};
  CHECK(ShamirSplit(s, 2, dup, rng).status().code() == absl::StatusCode::kInvalidArgument);
  std::vector<int32_t> zero = {0, 1, 2};
  CHECK(ShamirSplit(s, 2, zero, rng).status().code() == absl::StatusCode::kInvalidArgument);
}

// Independent arithmetic over F_p, p = 2^61 - 1, for checks that must not go through
// ShamirReconstruct.
constexpr uint64_t kP = (uint64_t{1} << 61) - 1;

uint64_t MulMod(uint64_t a, uint64_t b) {
  return static_cast<uint64_t>(static_cast<unsigned __int128>(a) * b % kP);
}

uint64_t PowMod(uint64_t a, uint64_t e) {
  uint64_t r = 1;
  for (; e > 0; e >>= 1, a = MulMod(a, a)) {
    if (e & 1) r = MulMod(r, a);
  }
  return r;
}

// The value at 0 of the lowest-degree polynomial through (xs[i], ys[i]) (Lagrange).
uint64_t InterpolateAtZero(const std::vector<uint64_t>& xs, const std::vector<uint64_t>& ys) {
  uint64_t sum = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    uint64_t num = 1, den = 1;
    for (size_t j = 0; j < xs.size(); ++j) {
      if (j == i) continue;
      num = MulMod(num, kP - xs[j]);                 // (0 - x_j)
      den = MulMod(den, (xs[i] + kP - xs[j]) % kP);  // (x_i - x_j)
    }
    sum = (sum + MulMod(ys[i], MulMod(num, PowMod(den, kP - 2)))) % kP;
  }
  return sum;
}

// Limb `l` of a share (five u64 little endian) and of a secret (7+7+7+7+4 bytes little endian),
// as shamir.h documents them.
uint64_t ShareLimb(const std::string& share, int l) {
  uint64_t v = 0;
  for (int b = 7; b >= 0; --b) {
    v = (v << 8) | static_cast<uint8_t>(share[static_cast<size_t>(8 * l + b)]);
  }
  return v;
}

uint64_t SecretLimb(const SecretKey& secret, int l) {
  const int width = l < 4 ? 7 : 4;
  uint64_t v = 0;
  for (int b = width - 1; b >= 0; --b) v = (v << 8) | secret.data()[7 * l + b];
  return v;
}

TEST_CASE("Split_FewerThanThresholdSharesDoNotDetermineSecret") {
  // The shares of threshold t lie on polynomials of degree exactly t - 1: t of them fix the
  // secret (interpolated here, not by ShamirReconstruct), while the lowest-degree polynomial
  // through any t - 1 of them misses it. Were the polynomials of lower degree (a broken split),
  // t - 1 shares would interpolate to the secret and this would fail (odds 2^-61 per limb of a
  // false alarm).
  FakeRandomSource rng(7);
  for (int t = 2; t <= 6; ++t) {
    const SecretKey s = RandomSecret(rng);
    std::vector<int32_t> holders = {3, 5, 8, 13, 21, 34, 55};
    auto shares = ShamirSplit(s, t, holders, rng);
    REQUIRE(shares.ok());
    for (int l = 0; l < 5; ++l) {
      std::vector<uint64_t> xs, ys;
      for (int i = 0; i < t; ++i) {
        xs.push_back(static_cast<uint64_t>(holders[static_cast<size_t>(i)]));
        ys.push_back(ShareLimb((*shares)[static_cast<size_t>(i)], l));
      }
      INFO("t=" << t << " limb=" << l);
      CHECK(InterpolateAtZero(xs, ys) == SecretLimb(s, l));
      xs.pop_back();
      ys.pop_back();
      CHECK(InterpolateAtZero(xs, ys) != SecretLimb(s, l));
    }
  }
}

TEST_CASE("Split_ThresholdOneSharesAreTheSecretItself") {
  // t = 1: the degenerate polynomial is the constant secret, so every share is the same.
  FakeRandomSource rng(9);
  const SecretKey s = RandomSecret(rng);
  std::vector<int32_t> xs = {5, 9};
  auto shares = *ShamirSplit(s, 1, xs, rng);
  CHECK(shares[0] == shares[1]);
  for (int l = 0; l < 5; ++l) CHECK(ShareLimb(shares[0], l) == SecretLimb(s, l));
}

TEST_CASE("Reconstruct_HandlesLargeSparseIndices") {
  FakeRandomSource rng(8);
  std::vector<int32_t> xs = {1, 1000000, 2000000000, 77};
  const SecretKey s = RandomSecret(rng);
  auto shares = *ShamirSplit(s, 3, xs, rng);
  auto back = ShamirReconstruct(Pick(xs, shares, {3, 2, 1, 0}), 3);
  REQUIRE(back.ok());
  CHECK(back->Equals(s));
}

}  // namespace
}  // namespace cohort::secagg
