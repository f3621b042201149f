#include "secagg/key_authenticity.h"

#include <catch2/catch.hpp>

#include "secagg/testing/fake_random_source.h"
#include "secagg/testing/test_ca.h"

namespace cohort::secagg {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

TEST_CASE("CertificateAuthorityVerifier_AcceptsACertificateTheCaIssuedForTheKey") {
  FakeRandomSource rng(1);
  auto ca = TestCa::Create(rng, kNow);
  REQUIRE(ca.ok());
  SigningKey device = SigningKey::Generate(rng);
  auto cert = ca->Issue(device.verifying_key(), kNow);
  REQUIRE(cert.ok());
  auto verifier = CertificateAuthorityVerifier::Create(ca->pem());
  REQUIRE(verifier.ok());
  CHECK((*verifier)->Verify(device.verifying_key(), *cert, kNow).ok());
}

TEST_CASE("CertificateAuthorityVerifier_RefusesOtherKeysCasTimesAndGarbage") {
  FakeRandomSource rng(2);
  auto ca = *TestCa::Create(rng, kNow);
  auto other_ca = *TestCa::Create(rng, kNow);
  SigningKey device = SigningKey::Generate(rng);
  SigningKey sybil = SigningKey::Generate(rng);
  const std::string cert = *ca.Issue(device.verifying_key(), kNow);
  auto verifier = *CertificateAuthorityVerifier::Create(ca.pem());
  // A certificate for another key.
  CHECK(verifier->Verify(sybil.verifying_key(), cert, kNow).code() ==
        absl::StatusCode::kUnauthenticated);
  // Issued by another CA.
  const std::string foreign = *other_ca.Issue(sybil.verifying_key(), kNow);
  CHECK(verifier->Verify(sybil.verifying_key(), foreign, kNow).code() ==
        absl::StatusCode::kUnauthenticated);
  // Expired, and not yet valid.
  const std::string old =
      *ca.Issue(device.verifying_key(), kNow - absl::Hours(48), kNow - absl::Hours(1));
  CHECK(verifier->Verify(device.verifying_key(), old, kNow).code() ==
        absl::StatusCode::kUnauthenticated);
  CHECK(verifier->Verify(device.verifying_key(), cert, kNow - absl::Hours(100)).code() ==
        absl::StatusCode::kUnauthenticated);
  // Not a certificate; a certificate with trailing bytes.
  CHECK(verifier->Verify(device.verifying_key(), "garbage", kNow).code() ==
        absl::StatusCode::kUnauthenticated);
  CHECK(verifier->Verify(device.verifying_key(), cert + "x", kNow).code() ==
        absl::StatusCode::kUnauthenticated);
}

TEST_CASE("CertificateAuthorityVerifier_RefusesABundleWithoutCertificates") {
  CHECK(CertificateAuthorityVerifier::Create("not pem").status().code() ==
        absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cohort::secagg
