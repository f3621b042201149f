#ifndef COHORT_SECAGG_KEY_AUTHENTICITY_H_
#define COHORT_SECAGG_KEY_AUTHENTICITY_H_

// Whether a device's Ed25519 signing key belongs to a genuine device, judged from a credential
// the device presents with it. Against a server that lies, this is what stops the server from
// inventing devices (sybils) to stand in for honest neighbours: the server and every device run
// the same verifier over each neighbour's key (docs/secagg.md#key-authenticity).
//
// Built in: CertificateAuthorityVerifier, for an operator CA that issues each device an X.509
// certificate for its Ed25519 key (the credential is the certificate, DER). Platform
// attestation plugs in through the same interface: an implementation for Play Integrity checks
// the integrity verdict token (signed by Google) and that its nonce is SHA-256 of the signing
// key; one for App Attest checks the attestation object's certificate chain to Apple's App
// Attest root and that its clientDataHash commits to the signing key. Such verifiers need the
// platform's roots and policies and are supplied by the app and the operator.
//
//   COHORT_ASSIGN_OR_RETURN(auto verifier, CertificateAuthorityVerifier::Create(ca_pem));
//   COHORT_RETURN_IF_ERROR(verifier->Verify(neighbour_key, neighbour_certificate_der, now));
//
// Codes: Verify returns UNAUTHENTICATED for a credential that does not vouch for the key
// (unparseable, not issued by the CA, outside its validity at `now`, or for another key);
// Create returns INVALID_ARGUMENT for a CA bundle without a certificate.
// Implementations must be thread-safe.

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "secagg/signing.h"

namespace cohort::secagg {

class KeyAuthenticityVerifier {
 public:
  virtual ~KeyAuthenticityVerifier() = default;
  virtual absl::Status Verify(const VerifyingKey& key, absl::string_view credential,
                              absl::Time now) const = 0;
};

// Accepts a DER X.509 certificate issued directly by one of the CA certificates in `ca_pem`,
// valid at `now`, whose subject public key is exactly the Ed25519 key presented.
class CertificateAuthorityVerifier final : public KeyAuthenticityVerifier {
 public:
  static absl::StatusOr<std::unique_ptr<CertificateAuthorityVerifier>> Create(
      absl::string_view ca_pem);
  ~CertificateAuthorityVerifier() override;
  absl::Status Verify(const VerifyingKey& key, absl::string_view credential,
                      absl::Time now) const override;

 private:
  struct Roots;
  explicit CertificateAuthorityVerifier(std::unique_ptr<Roots> roots);
  std::unique_ptr<Roots> roots_;
};

}  // namespace cohort::secagg

#endif  // COHORT_SECAGG_KEY_AUTHENTICITY_H_
