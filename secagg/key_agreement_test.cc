#include "secagg/key_agreement.h"

#include <catch2/catch.hpp>

#include <optional>
#include <string>

#include "secagg/testing/fake_random_source.h"
#include "secagg/testing/hex.h"

namespace cohort::secagg {
namespace {

// RFC 7748, Sec. 6.1.
constexpr char kAlicePrivate[] = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
constexpr char kAlicePublic[] = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
constexpr char kBobPrivate[] = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
constexpr char kBobPublic[] = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
constexpr char kShared[] = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";

KeyPair Pair(const char* private_hex) {
  return *KeyPair::FromPrivateKey(*PrivateKey::FromBytes(FromHex(private_hex)));
}

std::string Digest() {
  std::string d(32, '\0');
  for (size_t i = 0; i < d.size(); ++i) d[i] = static_cast<char>(i);
  return d;
}

absl::Span<const uint8_t> U8(const std::string& s) {
  return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

TEST_CASE("FromPrivateKey_MatchesRfc7748PublicKeys") {
  CHECK(ToHex(Pair(kAlicePrivate).public_key().ToBytes()) == kAlicePublic);
  CHECK(ToHex(Pair(kBobPrivate).public_key().ToBytes()) == kBobPublic);
}

TEST_CASE("X25519Agree_MatchesRfc7748SharedSecret") {
  auto ab = X25519Agree(Pair(kAlicePrivate).private_key(), Pair(kBobPrivate).public_key());
  auto ba = X25519Agree(Pair(kBobPrivate).private_key(), Pair(kAlicePrivate).public_key());
  REQUIRE(ab.ok());
  REQUIRE(ba.ok());
  CHECK(ToHex(ab->ToBytes()) == kShared);
  CHECK(ToHex(ba->ToBytes()) == kShared);
}

TEST_CASE("X25519Agree_WithAKeyPairMatchesRfc7748SharedSecretAndSurvivesCopies") {
  // The pair keeps the OpenSSL key it was built from; a copy, and the pair after its source
  // is gone, must agree the same.
  std::optional<KeyPair> alice = Pair(kAlicePrivate);
  const KeyPair copy = *alice;
  alice.reset();
  auto shared = X25519Agree(copy, Pair(kBobPrivate).public_key());
  REQUIRE(shared.ok());
  CHECK(ToHex(shared->ToBytes()) == kShared);
  CHECK(X25519Agree(copy, PublicKey()).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("HkdfSha256_MatchesRfc5869TestCase1") {
  const std::string ikm(22, '\x0b');
  const std::string salt = FromHex("000102030405060708090a0b0c");
  const std::string info = FromHex("f0f1f2f3f4f5f6f7f8f9");
  auto okm = HkdfSha256(U8(ikm), U8(salt), U8(info));
  REQUIRE(okm.ok());
  // The first 32 bytes of the RFC's 42-byte OKM (HKDF-Expand's T(1)).
  CHECK(ToHex(okm->ToBytes()) ==
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf");
}

std::string Bytes(int first, int count) {
  std::string out;
  for (int i = 0; i < count; ++i) out.push_back(static_cast<char>(first + i));
  return out;
}

TEST_CASE("HkdfSha256_MatchesRfc5869TestCase2LongInputs") {
  // 80-byte IKM, salt and info: each longer than SHA-256's 64-byte block, so HMAC hashes its key.
  const std::string ikm = Bytes(0x00, 80);
  const std::string salt = Bytes(0x60, 80);
  const std::string info = Bytes(0xb0, 80);
  auto okm = HkdfSha256(U8(ikm), U8(salt), U8(info));
  REQUIRE(okm.ok());
  // The first 32 bytes of the RFC's 82-byte OKM.
  CHECK(ToHex(okm->ToBytes()) ==
        "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c");
}

TEST_CASE("HkdfSha256_MatchesRfc5869TestCase3EmptySaltAndInfo") {
  // An empty salt means HashLen zero bytes (RFC 5869, Sec. 2.2); an empty info is allowed.
  const std::string ikm(22, '\x0b');
  auto okm = HkdfSha256(U8(ikm), U8(""), U8(""));
  REQUIRE(okm.ok());
  // The first 32 bytes of the RFC's 42-byte OKM.
  CHECK(ToHex(okm->ToBytes()) ==
        "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d");
}

TEST_CASE("Derive_MatchesDocumentedConstruction") {
  // Expected values computed independently (Python `cryptography`) from the formula in
  // key_agreement.h, with Alice as index 2 and Bob as index 5, round "round-1" and plan digest
  // 00 01 .. 1f.
  const KeyPair alice = Pair(kAlicePrivate);
  const KeyPair bob = Pair(kBobPrivate);
  auto enc = DeriveShareEncryptionKey(alice, 2, bob.public_key(), 5, "round-1", Digest());
  auto mask = DerivePairwiseMaskSeed(bob, 5, alice.public_key(), 2, "round-1", Digest());
  REQUIRE(enc.ok());
  REQUIRE(mask.ok());
  CHECK(ToHex(enc->ToBytes()) ==
        "0217c1cf7153ccab0d7e815b3cf28938b163873eb37949b015bc8b4c46d726ea");
  CHECK(ToHex(mask->ToBytes()) ==
        "566fa3659c14089d71cb413448a836233f8dd80b1f574356ea3eb657e4d0782e");
}

TEST_CASE("Derive_IsSymmetricAndBindsRoundIndicesAndLabel") {
  FakeRandomSource rng(1);
  const KeyPair u = KeyPair::Generate(rng);
  const KeyPair v = KeyPair::Generate(rng);
  auto uv = *DerivePairwiseMaskSeed(u, 3, v.public_key(), 9, "r", Digest());
  auto vu = *DerivePairwiseMaskSeed(v, 9, u.public_key(), 3, "r", Digest());
  CHECK(uv.Equals(vu));
  CHECK_FALSE(uv.Equals(*DerivePairwiseMaskSeed(u, 3, v.public_key(), 9, "r2", Digest())));
  CHECK_FALSE(uv.Equals(*DerivePairwiseMaskSeed(u, 3, v.public_key(), 8, "r", Digest())));
  CHECK_FALSE(uv.Equals(*DeriveShareEncryptionKey(u, 3, v.public_key(), 9, "r", Digest())));
  // Another plan (or model) gives an unrelated seed.
  CHECK_FALSE(
      uv.Equals(*DerivePairwiseMaskSeed(u, 3, v.public_key(), 9, "r", std::string(32, 'x'))));
}

TEST_CASE("Derive_RejectsBadIndices") {
  FakeRandomSource rng(2);
  const KeyPair u = KeyPair::Generate(rng);
  const KeyPair v = KeyPair::Generate(rng);
  CHECK(DerivePairwiseMaskSeed(u, 3, v.public_key(), 3, "r", Digest()).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(DerivePairwiseMaskSeed(u, 0, v.public_key(), 3, "r", Digest()).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("PublicKeyFromBytes_RejectsWrongLength") {
  CHECK(PublicKey::FromBytes(std::string(31, '\x09')).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(PublicKey::FromBytes(std::string(33, '\x09')).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(PrivateKey::FromBytes(std::string(16, '\x09')).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("PublicKeyFromBytes_RejectsLowOrderAndNonCanonicalPoints") {
  const char* kLowOrder[] = {
      "0000000000000000000000000000000000000000000000000000000000000000",
      "0100000000000000000000000000000000000000000000000000000000000000",
      "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
      "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
      "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  };
  FakeRandomSource rng(3);
  const KeyPair own = KeyPair::Generate(rng);
  for (const char* hex : kLowOrder) {
    INFO(hex);
    CHECK(PublicKey::FromBytes(FromHex(hex)).status().code() ==
          absl::StatusCode::kInvalidArgument);
  }
  // p, p + 1 and anything with the top bit set are non-canonical.
  CHECK_FALSE(
      PublicKey::FromBytes(FromHex("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"))
          .ok());
  CHECK_FALSE(
      PublicKey::FromBytes(FromHex("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"))
          .ok());
  CHECK_FALSE(PublicKey::FromBytes(FromHex(
                  "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4eea"))
                  .ok());
}

TEST_CASE("X25519Agree_RejectsAllZeroSharedSecret") {
  // The default PublicKey is u = 0, whose agreement is all zero: the check must catch it even
  // if a low-order key slipped past parsing.
  FakeRandomSource rng(4);
  const KeyPair own = KeyPair::Generate(rng);
  auto shared = X25519Agree(own.private_key(), PublicKey());
  CHECK(shared.status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("Generate_IsDeterministicUnderFakeRandomSource") {
  FakeRandomSource a(7), b(7), c(8);
  CHECK(KeyPair::Generate(a).public_key() == KeyPair::Generate(b).public_key());
  FakeRandomSource d(7);
  CHECK_FALSE(KeyPair::Generate(c).public_key() == KeyPair::Generate(d).public_key());
}

}  // namespace
}  // namespace cohort::secagg
