#include "secagg/signing.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstdlib>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"

namespace cohort::secagg {
namespace {

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

const unsigned char* Bytes(absl::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace

absl::StatusOr<VerifyingKey> VerifyingKey::FromBytes(absl::string_view bytes) {
  if (bytes.size() != kEd25519PublicKeySize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "an Ed25519 public key is ", kEd25519PublicKeySize, " bytes, got ", bytes.size()));
  }
  // OpenSSL decodes lazily; make it parse once so a malformed point is refused here.
  PkeyPtr pkey(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, Bytes(bytes), bytes.size()));
  if (pkey == nullptr) return absl::InvalidArgumentError("not an Ed25519 public key");
  VerifyingKey key;
  std::memcpy(key.bytes_.data(), bytes.data(), kEd25519PublicKeySize);
  return key;
}

absl::Status VerifyingKey::Verify(absl::string_view message, absl::string_view signature) const {
  if (signature.size() != kEd25519SignatureSize) {
    return absl::UnauthenticatedError(absl::StrCat(
        "an Ed25519 signature is ", kEd25519SignatureSize, " bytes, got ", signature.size()));
  }
  PkeyPtr pkey(
      EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, bytes_.data(), bytes_.size()));
  if (pkey == nullptr) return absl::UnauthenticatedError("the signing key is not usable");
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (ctx == nullptr) return absl::InternalError("OpenSSL EVP_MD_CTX_new failed");
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) != 1) {
    return absl::InternalError("OpenSSL EVP_DigestVerifyInit failed");
  }
  if (EVP_DigestVerify(ctx.get(), Bytes(signature), signature.size(), Bytes(message),
                       message.size()) != 1) {
    return absl::UnauthenticatedError("the Ed25519 signature does not verify");
  }
  return absl::OkStatus();
}

SigningKey::~SigningKey() { OPENSSL_cleanse(seed_.data(), seed_.size()); }

SigningKey SigningKey::Generate(RandomSource& random) {
  std::array<uint8_t, kEd25519SeedSize> seed;
  random.Fill(absl::MakeSpan(seed));
  // Any 32 bytes are a valid Ed25519 seed, so this cannot fail short of OpenSSL breaking.
  absl::StatusOr<SigningKey> key =
      FromSeed(absl::string_view(reinterpret_cast<const char*>(seed.data()), seed.size()));
  OPENSSL_cleanse(seed.data(), seed.size());
  if (!key.ok()) std::abort();
  return *std::move(key);
}

absl::StatusOr<SigningKey> SigningKey::FromSeed(absl::string_view seed) {
  if (seed.size() != kEd25519SeedSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("an Ed25519 seed is ", kEd25519SeedSize, " bytes, got ", seed.size()));
  }
  PkeyPtr pkey(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, Bytes(seed), seed.size()));
  if (pkey == nullptr) return absl::InternalError("OpenSSL EVP_PKEY_new_raw_private_key failed");
  std::array<uint8_t, kEd25519PublicKeySize> pub;
  size_t len = pub.size();
  if (EVP_PKEY_get_raw_public_key(pkey.get(), pub.data(), &len) != 1 || len != pub.size()) {
    return absl::InternalError("OpenSSL EVP_PKEY_get_raw_public_key failed");
  }
  SigningKey key;
  std::memcpy(key.seed_.data(), seed.data(), kEd25519SeedSize);
  absl::StatusOr<VerifyingKey> verifying = VerifyingKey::FromBytes(
      absl::string_view(reinterpret_cast<const char*>(pub.data()), pub.size()));
  if (!verifying.ok()) return verifying.status();
  key.public_ = *verifying;
  return key;
}

absl::StatusOr<std::string> SigningKey::Sign(absl::string_view message) const {
  PkeyPtr pkey(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed_.data(), seed_.size()));
  if (pkey == nullptr) return absl::InternalError("OpenSSL EVP_PKEY_new_raw_private_key failed");
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (ctx == nullptr) return absl::InternalError("OpenSSL EVP_MD_CTX_new failed");
  if (EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) != 1) {
    return absl::InternalError("OpenSSL EVP_DigestSignInit failed");
  }
  std::string signature(kEd25519SignatureSize, '\0');
  size_t len = signature.size();
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &len,
                     Bytes(message), message.size()) != 1 ||
      len != kEd25519SignatureSize) {
    return absl::InternalError("OpenSSL EVP_DigestSign failed");
  }
  return signature;
}

}  // namespace cohort::secagg
