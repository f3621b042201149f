#include "secagg/share_encryption.h"

#include <catch2/catch.hpp>

#include <cstring>
#include <string>

#include "secagg/testing/fake_random_source.h"
#include "secagg/testing/hex.h"

namespace cohort::secagg {
namespace {

// Hands out a fixed nonce so the ciphertext is a known answer.
class FixedNonce : public RandomSource {
 public:
  void Fill(absl::Span<uint8_t> out) override {
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<uint8_t>(0xa0 + i);
  }
};

// The plan digest 00 01 .. 1f.
std::string Digest() {
  std::string d(32, '\0');
  for (size_t i = 0; i < d.size(); ++i) d[i] = static_cast<char>(i);
  return d;
}

SecretKey Key(uint8_t first) {
  std::array<uint8_t, 32> k;
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(first + i);
  return SecretKey(k);
}

TEST_CASE("Seal_MatchesAesGcmKnownAnswer") {
  // Computed independently with Python `cryptography` AESGCM over the documented AD.
  FixedNonce nonce;
  auto ct = SealShareBundle(Key(0), "round-1", Digest(), 3, 7, "share bundle", nonce);
  REQUIRE(ct.ok());
  CHECK(ToHex(*ct) ==
        "a0a1a2a3a4a5a6a7a8a9aaab95701d5f20eb60ca0c01ebb674dc7a8b20e57bf88be6a9f638156814");
}

TEST_CASE("Open_RoundTrips") {
  FakeRandomSource rng(1);
  auto ct = SealShareBundle(Key(1), "r", Digest(), 3, 7, "hello shares", rng);
  REQUIRE(ct.ok());
  CHECK(ct->size() == 12 + kAeadOverhead);
  auto pt = OpenShareBundle(Key(1), "r", Digest(), 3, 7, *ct);
  REQUIRE(pt.ok());
  CHECK(*pt == "hello shares");
}

TEST_CASE("Open_FailsOnAnyFlippedBit") {
  FakeRandomSource rng(2);
  const std::string ct = *SealShareBundle(Key(1), "r", Digest(), 3, 7, "hello shares", rng);
  for (size_t byte = 0; byte < ct.size(); ++byte) {
    std::string bad = ct;
    bad[byte] = static_cast<char>(bad[byte] ^ (1 << (byte % 8)));
    INFO("byte " << byte);
    CHECK(OpenShareBundle(Key(1), "r", Digest(), 3, 7, bad).status().code() ==
          absl::StatusCode::kDataLoss);
  }
}

TEST_CASE("Open_FailsWhenRecipientDiffers") {
  FakeRandomSource rng(3);
  const std::string ct = *SealShareBundle(Key(1), "r", Digest(), 3, 7, "x", rng);
  CHECK(OpenShareBundle(Key(1), "r", Digest(), 3, 8, ct).status().code() ==
        absl::StatusCode::kDataLoss);
  // The reverse direction under the same pair key must not open either.
  CHECK(OpenShareBundle(Key(1), "r", Digest(), 7, 3, ct).status().code() ==
        absl::StatusCode::kDataLoss);
}

TEST_CASE("Open_FailsWhenRoundDiffers") {
  FakeRandomSource rng(4);
  const std::string ct = *SealShareBundle(Key(1), "round-a", Digest(), 3, 7, "x", rng);
  CHECK(OpenShareBundle(Key(1), "round-b", Digest(), 3, 7, ct).status().code() ==
        absl::StatusCode::kDataLoss);
}

TEST_CASE("Open_FailsWhenThePlanDiffers") {
  FakeRandomSource rng(5);
  const std::string ct = *SealShareBundle(Key(1), "r", Digest(), 3, 7, "x", rng);
  CHECK(OpenShareBundle(Key(1), "r", std::string(32, 'p'), 3, 7, ct).status().code() ==
        absl::StatusCode::kDataLoss);
}

TEST_CASE("Open_FailsOnWrongKeyOrTruncation") {
  FakeRandomSource rng(5);
  const std::string ct = *SealShareBundle(Key(1), "r", Digest(), 3, 7, "x", rng);
  CHECK(OpenShareBundle(Key(2), "r", Digest(), 3, 7, ct).status().code() ==
        absl::StatusCode::kDataLoss);
  CHECK(OpenShareBundle(Key(1), "r", Digest(), 3, 7, ct.substr(0, 20)).status().code() ==
        absl::StatusCode::kDataLoss);
  CHECK(OpenShareBundle(Key(1), "r", Digest(), 3, 7, "").status().code() ==
        absl::StatusCode::kDataLoss);
}

TEST_CASE("Seal_RejectsSelfAddressedBundle") {
  FakeRandomSource rng(6);
  CHECK(SealShareBundle(Key(1), "r", Digest(), 3, 3, "x", rng).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cohort::secagg
