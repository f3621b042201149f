#include "server/core/session_token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cstdlib>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace cohort::server {
namespace {

constexpr char kSeparator = '\x1f';
constexpr absl::string_view kMacContext = "cohort/v1 session";

}  // namespace

absl::StatusOr<std::unique_ptr<SessionTokenSigner>> SessionTokenSigner::Create(std::string key) {
  if (key.size() < 32) {
    return absl::InvalidArgumentError(
        absl::StrCat("session key must be at least 32 bytes, got ", key.size()));
  }
  return std::unique_ptr<SessionTokenSigner>(new SessionTokenSigner(std::move(key)));
}

std::string SessionTokenSigner::Mac(absl::string_view payload) const {
  const std::string input = absl::StrCat(kMacContext, payload);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &mac_len);
  return std::string(reinterpret_cast<const char*>(mac), mac_len);
}

std::string SessionTokenSigner::Mint(const SessionClaims& claims) const {
  const std::string payload =
      absl::StrCat("v1", std::string(1, kSeparator), claims.round_id, std::string(1, kSeparator),
                   claims.participant_index, std::string(1, kSeparator), claims.device_pseudonym,
                   std::string(1, kSeparator), absl::ToUnixSeconds(claims.expires_at));
  return absl::StrCat(absl::WebSafeBase64Escape(payload), ".",
                      absl::WebSafeBase64Escape(Mac(payload)));
}

absl::StatusOr<SessionClaims> SessionTokenSigner::Verify(absl::string_view token,
                                                         absl::Time now) const {
  if (token.empty()) return absl::UnauthenticatedError("session_token is missing");
  const std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  std::string payload;
  std::string mac;
  if (parts.size() != 2 || !absl::WebSafeBase64Unescape(parts[0], &payload) ||
      !absl::WebSafeBase64Unescape(parts[1], &mac)) {
    return absl::UnauthenticatedError("session_token is malformed");
  }
  if (!ConstantTimeEquals(mac, Mac(payload))) {
    return absl::UnauthenticatedError("session_token is not valid (bad signature)");
  }
  const std::vector<std::string> fields = absl::StrSplit(payload, kSeparator);
  SessionClaims claims;
  int64_t expiry = 0;
  if (fields.size() != 5 || fields[0] != "v1" ||
      !absl::SimpleAtoi(fields[2], &claims.participant_index) ||
      !absl::SimpleAtoi(fields[4], &expiry)) {
    return absl::UnauthenticatedError("session_token is malformed");
  }
  claims.round_id = fields[1];
  claims.device_pseudonym = fields[3];
  claims.expires_at = absl::FromUnixSeconds(expiry);
  if (now >= claims.expires_at) {
    return absl::UnauthenticatedError("session_token has expired; check in again");
  }
  return claims;
}

std::string RandomKey() {
  std::string key(32, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), static_cast<int>(key.size())) != 1) {
    std::abort();  // Predictable keys would be worse than no server.
  }
  return key;
}

std::string DevicePseudonym(absl::string_view salt, absl::string_view device_id) {
  const std::string input = absl::StrCat("cohort/v1 device", std::string(1, kSeparator), salt,
                                         std::string(1, kSeparator), device_id);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace cohort::server
