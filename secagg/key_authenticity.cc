#include "secagg/key_authenticity.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <vector>

#include "absl/strings/str_cat.h"

namespace cohort::secagg {

struct CertificateAuthorityVerifier::Roots {
  std::vector<X509*> certs;
  ~Roots() {
    for (X509* c : certs) X509_free(c);
  }
};

CertificateAuthorityVerifier::CertificateAuthorityVerifier(std::unique_ptr<Roots> roots)
    : roots_(std::move(roots)) {}

CertificateAuthorityVerifier::~CertificateAuthorityVerifier() = default;

absl::StatusOr<std::unique_ptr<CertificateAuthorityVerifier>> CertificateAuthorityVerifier::Create(
    absl::string_view ca_pem) {
  auto roots = std::make_unique<Roots>();
  BIO* bio = BIO_new_mem_buf(ca_pem.data(), static_cast<int>(ca_pem.size()));
  if (bio == nullptr) return absl::InternalError("OpenSSL BIO_new_mem_buf failed");
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    roots->certs.push_back(cert);
  }
  BIO_free(bio);
  if (roots->certs.empty()) {
    return absl::InvalidArgumentError("the device CA bundle holds no PEM certificate");
  }
  return std::unique_ptr<CertificateAuthorityVerifier>(
      new CertificateAuthorityVerifier(std::move(roots)));
}

absl::Status CertificateAuthorityVerifier::Verify(const VerifyingKey& key,
                                                  absl::string_view credential,
                                                  absl::Time now) const {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(credential.data());
  X509* cert = d2i_X509(nullptr, &p, static_cast<long>(credential.size()));
  if (cert == nullptr ||
      p != reinterpret_cast<const unsigned char*>(credential.data()) + credential.size()) {
    X509_free(cert);
    return absl::UnauthenticatedError("the device credential is not one DER X.509 certificate");
  }
  absl::Status result = absl::OkStatus();
  // The certificate must be for exactly this key.
  EVP_PKEY* subject = X509_get0_pubkey(cert);
  unsigned char raw[kEd25519PublicKeySize];
  size_t raw_len = sizeof(raw);
  if (subject == nullptr || EVP_PKEY_get_id(subject) != EVP_PKEY_ED25519 ||
      EVP_PKEY_get_raw_public_key(subject, raw, &raw_len) != 1 || raw_len != sizeof(raw) ||
      std::string(reinterpret_cast<const char*>(raw), raw_len) != key.ToBytes()) {
    result = absl::UnauthenticatedError(
        "the device certificate is not for the Ed25519 signing key presented with it");
  }
  if (result.ok()) {
    X509_STORE* store = X509_STORE_new();
    X509_STORE_CTX* ctx = X509_STORE_CTX_new();
    if (store == nullptr || ctx == nullptr) {
      result = absl::InternalError("OpenSSL X509_STORE_new failed");
    } else {
      for (X509* root : roots_->certs) X509_STORE_add_cert(store, root);
      if (X509_STORE_CTX_init(ctx, store, cert, nullptr) != 1) {
        result = absl::InternalError("OpenSSL X509_STORE_CTX_init failed");
      } else {
        // Validity is judged at the caller's time, not the machine's.
        X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx);
        X509_VERIFY_PARAM_set_time(param, static_cast<time_t>(absl::ToUnixSeconds(now)));
        if (X509_verify_cert(ctx) != 1) {
          result = absl::UnauthenticatedError(
              absl::StrCat("the device certificate does not verify against the device CA: ",
                           X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx))));
        }
      }
    }
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
  }
  X509_free(cert);
  return result;
}

}  // namespace cohort::secagg
