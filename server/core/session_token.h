#ifndef COHORT_SERVER_CORE_SESSION_TOKEN_H_
#define COHORT_SERVER_CORE_SESSION_TOKEN_H_

// Per-round session tokens: unforgeable, bound to one device (its pseudonym), one round and one
// participant index, with an expiry.
//
//   COHORT_ASSIGN_OR_RETURN(auto signer, SessionTokenSigner::Create(key));
//   std::string token = signer->Mint({.round_id = id, .participant_index = 3,
//                                     .device_pseudonym = p, .expires_at = now + absl::Hours(2)});
//   COHORT_ASSIGN_OR_RETURN(SessionClaims claims, signer->Verify(token, now));
//
// Format: base64url(payload) "." base64url(HMAC-SHA256(key, "cohort/v1 session" || payload)),
// no padding. payload = "v1" 0x1f round_id 0x1f index 0x1f pseudonym 0x1f expiry_unix_seconds.
// The MAC is compared in constant time (CRYPTO_memcmp). The token carries no secret, only
// claims the server can check; a device cannot change any of them without the key.
//
// Codes: Create: INVALID_ARGUMENT for a key shorter than 32 bytes. Verify: UNAUTHENTICATED for
// an empty, malformed, forged or expired token (the message says which, never the MAC).
// Immutable after Create: thread-safe.

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace cohort::server {

struct SessionClaims {
  std::string round_id;
  int32_t participant_index = 0;
  std::string device_pseudonym;
  absl::Time expires_at;
};

class SessionTokenSigner {
 public:
  static absl::StatusOr<std::unique_ptr<SessionTokenSigner>> Create(std::string key);

  std::string Mint(const SessionClaims& claims) const;
  absl::StatusOr<SessionClaims> Verify(absl::string_view token, absl::Time now) const;

 private:
  explicit SessionTokenSigner(std::string key) : key_(std::move(key)) {}
  std::string Mac(absl::string_view payload) const;

  const std::string key_;
};

// 32 bytes from the operating system's CSPRNG (OpenSSL RAND_bytes).
std::string RandomKey();

// Salted SHA-256 of a device id, hex: the only form in which the server keeps device identity.
std::string DevicePseudonym(absl::string_view salt, absl::string_view device_id);

// Constant-time equality of two byte strings (false for different lengths, which leaks only the
// length).
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

}  // namespace cohort::server

#endif  // COHORT_SERVER_CORE_SESSION_TOKEN_H_
