#ifndef COHORT_SECAGG_SIGNING_H_
#define COHORT_SECAGG_SIGNING_H_

// Ed25519 (RFC 8032, pure) signing keys of devices, through OpenSSL 3's EVP interface. A device
// signs its advertised keys, every share bundle it seals and, against a lying server, the
// survivor set; the messages are domain-separated byte strings built by the callers
// (docs/secagg.md#signatures).
//
//   SigningKey key = SigningKey::Generate(*OsRandom());
//   COHORT_ASSIGN_OR_RETURN(std::string sig, key.Sign(message));
//   COHORT_RETURN_IF_ERROR(key.verifying_key().Verify(message, sig));
//
// Codes: FromBytes / FromSeed: INVALID_ARGUMENT for a wrong length (or a public key OpenSSL
// refuses); Verify: UNAUTHENTICATED for a signature that does not verify or has the wrong
// length; INTERNAL when OpenSSL fails unexpectedly.
// Value types; const use from several threads is safe.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "secagg/random_source.h"

namespace cohort::secagg {

inline constexpr size_t kEd25519PublicKeySize = 32;
inline constexpr size_t kEd25519SeedSize = 32;
inline constexpr size_t kEd25519SignatureSize = 64;

class VerifyingKey {
 public:
  // The all-zero placeholder; verifies nothing.
  VerifyingKey() = default;
  static absl::StatusOr<VerifyingKey> FromBytes(absl::string_view bytes);

  absl::Status Verify(absl::string_view message, absl::string_view signature) const;
  std::string ToBytes() const { return std::string(bytes_.begin(), bytes_.end()); }
  bool operator==(const VerifyingKey& other) const { return bytes_ == other.bytes_; }
  bool empty() const { return bytes_ == std::array<uint8_t, kEd25519PublicKeySize>{}; }

 private:
  std::array<uint8_t, kEd25519PublicKeySize> bytes_{};
};

// The 32-byte private seed and its public key. The seed is wiped on destruction.
class SigningKey {
 public:
  static SigningKey Generate(RandomSource& random);
  static absl::StatusOr<SigningKey> FromSeed(absl::string_view seed);
  SigningKey(const SigningKey&) = default;
  SigningKey& operator=(const SigningKey&) = default;
  ~SigningKey();

  absl::StatusOr<std::string> Sign(absl::string_view message) const;
  const VerifyingKey& verifying_key() const { return public_; }
  // Copies the secret seed out; callers own wiping the copy.
  std::string SeedBytes() const { return std::string(seed_.begin(), seed_.end()); }

 private:
  SigningKey() = default;
  std::array<uint8_t, kEd25519SeedSize> seed_{};
  VerifyingKey public_;
};

}  // namespace cohort::secagg

#endif  // COHORT_SECAGG_SIGNING_H_
