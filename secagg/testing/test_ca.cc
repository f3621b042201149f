#include "secagg/testing/test_ca.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

#include "absl/strings/str_cat.h"

namespace cohort::secagg {
namespace {

constexpr char kCaName[] = "Cohort Test Device CA";

struct Deleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
};

std::unique_ptr<EVP_PKEY, Deleter> PrivateKey(const SigningKey& key) {
  const std::string seed = key.SeedBytes();
  return std::unique_ptr<EVP_PKEY, Deleter>(EVP_PKEY_new_raw_private_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(seed.data()), seed.size()));
}

void SetName(X509_NAME* name, const char* cn) {
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn),
                             -1, -1, 0);
}

void AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext != nullptr) {
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  }
}

absl::StatusOr<std::unique_ptr<X509, Deleter>> NewCert(EVP_PKEY* subject_key, const char* subject,
                                                       long serial, absl::Time not_before,
                                                       absl::Time not_after) {
  std::unique_ptr<X509, Deleter> cert(X509_new());
  if (cert == nullptr) return absl::InternalError("X509_new failed");
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  ASN1_TIME_set(X509_getm_notBefore(cert.get()), absl::ToUnixSeconds(not_before));
  ASN1_TIME_set(X509_getm_notAfter(cert.get()), absl::ToUnixSeconds(not_after));
  X509_set_pubkey(cert.get(), subject_key);
  SetName(X509_get_subject_name(cert.get()), subject);
  SetName(X509_get_issuer_name(cert.get()), kCaName);
  return cert;
}

}  // namespace

absl::StatusOr<TestCa> TestCa::Create(RandomSource& random, absl::Time now) {
  SigningKey key = SigningKey::Generate(random);
  auto pkey = PrivateKey(key);
  if (pkey == nullptr) return absl::InternalError("EVP_PKEY_new_raw_private_key failed");
  absl::StatusOr<std::unique_ptr<X509, Deleter>> cert =
      NewCert(pkey.get(), kCaName, 1, now - absl::Hours(24), now + absl::Hours(24 * 30));
  if (!cert.ok()) return cert.status();
  AddExtension(cert->get(), cert->get(), NID_basic_constraints, "critical,CA:TRUE");
  AddExtension(cert->get(), cert->get(), NID_key_usage, "critical,keyCertSign");
  if (X509_sign(cert->get(), pkey.get(), nullptr) == 0) return absl::InternalError("X509_sign");
  std::unique_ptr<BIO, Deleter> bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509(bio.get(), cert->get()) != 1) {
    return absl::InternalError("PEM_write_bio_X509 failed");
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return TestCa(std::move(key), std::string(data, static_cast<size_t>(len)));
}

absl::StatusOr<std::string> TestCa::Issue(const VerifyingKey& device, absl::Time not_before,
                                          absl::Time not_after) const {
  const std::string raw = device.ToBytes();
  std::unique_ptr<EVP_PKEY, Deleter> device_key(EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(raw.data()), raw.size()));
  auto ca_key = PrivateKey(key_);
  if (device_key == nullptr || ca_key == nullptr) return absl::InternalError("bad keys");
  static long serial = 100;
  absl::StatusOr<std::unique_ptr<X509, Deleter>> cert =
      NewCert(device_key.get(), "Cohort test device", ++serial, not_before, not_after);
  if (!cert.ok()) return cert.status();
  if (X509_sign(cert->get(), ca_key.get(), nullptr) == 0) return absl::InternalError("X509_sign");
  unsigned char* der = nullptr;
  const int len = i2d_X509(cert->get(), &der);
  if (len <= 0) return absl::InternalError("i2d_X509 failed");
  std::string out(reinterpret_cast<const char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

}  // namespace cohort::secagg
