#include "secagg/signing.h"

#include <catch2/catch.hpp>

#include "secagg/testing/fake_random_source.h"
#include "secagg/testing/hex.h"

namespace cohort::secagg {
namespace {

// RFC 8032, Sec. 7.1, tests 1 and 2.
constexpr char kSecret1[] = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
constexpr char kPublic1[] = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
constexpr char kSignature1[] =
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9"
    "b46bd25bf5f0595bbe24655141438e7a100b";
constexpr char kSecret2[] = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";
constexpr char kPublic2[] = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
constexpr char kMessage2[] = "72";
constexpr char kSignature2[] =
    "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f1"
    "1d8c387b2eaeb4302aeeb00d291612bb0c00";

TEST_CASE("SigningKey_MatchesRfc8032Vectors") {
  auto k1 = SigningKey::FromSeed(FromHex(kSecret1));
  REQUIRE(k1.ok());
  CHECK(ToHex(k1->verifying_key().ToBytes()) == kPublic1);
  CHECK(ToHex(*k1->Sign("")) == kSignature1);
  auto k2 = SigningKey::FromSeed(FromHex(kSecret2));
  REQUIRE(k2.ok());
  CHECK(ToHex(k2->verifying_key().ToBytes()) == kPublic2);
  CHECK(ToHex(*k2->Sign(FromHex(kMessage2))) == kSignature2);
  CHECK(k2->verifying_key().Verify(FromHex(kMessage2), FromHex(kSignature2)).ok());
}

TEST_CASE("Verify_RefusesAnotherMessageKeyOrAFlippedBit") {
  FakeRandomSource rng(3);
  SigningKey a = SigningKey::Generate(rng);
  SigningKey b = SigningKey::Generate(rng);
  const std::string sig = *a.Sign("survivors 1,2,3");
  CHECK(a.verifying_key().Verify("survivors 1,2,3", sig).ok());
  CHECK(a.verifying_key().Verify("survivors 1,2", sig).code() ==
        absl::StatusCode::kUnauthenticated);
  CHECK(b.verifying_key().Verify("survivors 1,2,3", sig).code() ==
        absl::StatusCode::kUnauthenticated);
  std::string flipped = sig;
  flipped[10] ^= 1;
  CHECK(a.verifying_key().Verify("survivors 1,2,3", flipped).code() ==
        absl::StatusCode::kUnauthenticated);
  CHECK(a.verifying_key().Verify("survivors 1,2,3", sig.substr(1)).code() ==
        absl::StatusCode::kUnauthenticated);
}

TEST_CASE("FromBytes_RefusesWrongLengths") {
  CHECK(VerifyingKey::FromBytes(std::string(31, 'a')).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(SigningKey::FromSeed(std::string(33, 'a')).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(VerifyingKey().empty());
}

}  // namespace
}  // namespace cohort::secagg
