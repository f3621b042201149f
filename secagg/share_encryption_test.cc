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

// The GCM specification's Test Case 16 (McGrew and Viega, "The Galois/Counter Mode of
// Operation", also in NIST's CAVP gcmEncryptExtIV256 set): 256-bit key, 96-bit IV, 20 bytes of
// associated data, 60 bytes of plaintext.
constexpr char kGcmKey[] = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
constexpr char kGcmIv[] = "cafebabefacedbaddecaf888";
constexpr char kGcmAad[] = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
constexpr char kGcmPlaintext[] =
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
constexpr char kGcmCiphertext[] =
    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662";
constexpr char kGcmTag[] = "76fc6ece0f4e1768cddf8853bb2d551b";

TEST_CASE("AesGcm256Seal_MatchesGcmSpecTestCase16") {
  auto key = SecretKey::FromBytes(FromHex(kGcmKey));
  REQUIRE(key.ok());
  auto sealed = AesGcm256Seal(*key, FromHex(kGcmIv), FromHex(kGcmAad), FromHex(kGcmPlaintext));
  REQUIRE(sealed.ok());
  CHECK(ToHex(*sealed) == std::string(kGcmCiphertext) + kGcmTag);
}

TEST_CASE("AesGcm256Open_AcceptsGcmSpecTestCase16AndRefusesAnotherTag") {
  auto key = SecretKey::FromBytes(FromHex(kGcmKey));
  REQUIRE(key.ok());
  const std::string sealed = FromHex(std::string(kGcmCiphertext) + kGcmTag);
  auto opened = AesGcm256Open(*key, FromHex(kGcmIv), FromHex(kGcmAad), sealed);
  REQUIRE(opened.ok());
  CHECK(ToHex(*opened) == kGcmPlaintext);
  std::string bad_tag = sealed;
  bad_tag.back() = static_cast<char>(bad_tag.back() ^ 0x01);
  CHECK(AesGcm256Open(*key, FromHex(kGcmIv), FromHex(kGcmAad), bad_tag).status().code() ==
        absl::StatusCode::kDataLoss);
  // The associated data is authenticated too.
  CHECK(AesGcm256Open(*key, FromHex(kGcmIv), FromHex("feedface"), sealed).status().code() ==
        absl::StatusCode::kDataLoss);
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
