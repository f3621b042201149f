#include "secagg/secret_key.h"

#include <openssl/crypto.h>

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace cohort::secagg {

SecretKey::~SecretKey() { OPENSSL_cleanse(bytes_.data(), bytes_.size()); }

absl::StatusOr<SecretKey> SecretKey::FromBytes(absl::string_view bytes) {
  if (bytes.size() != kSecretKeySize) {
    return absl::InvalidArgumentError(
        absl::StrCat("a secret key is ", kSecretKeySize, " bytes, got ", bytes.size()));
  }
  SecretKey key;
  std::memcpy(key.bytes_.data(), bytes.data(), kSecretKeySize);
  return key;
}

bool SecretKey::Equals(const SecretKey& other) const {
  return CRYPTO_memcmp(bytes_.data(), other.bytes_.data(), kSecretKeySize) == 0;
}

}  // namespace cohort::secagg
