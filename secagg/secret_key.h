#ifndef COHORT_SECAGG_SECRET_KEY_H_
#define COHORT_SECAGG_SECRET_KEY_H_

// A 32-byte secret (AEAD key, mask seed, reconstructed secret) that is wiped when destroyed.
//
//   COHORT_ASSIGN_OR_RETURN(SecretKey seed, SecretKey::FromBytes(bytes));  // 32 bytes or error
//   MaskPrg prg(seed, 32);
//
// Codes: FromBytes returns INVALID_ARGUMENT for a length other than 32.
// Instances are not thread-safe when mutated; const access from many threads is fine.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace cohort::secagg {

inline constexpr size_t kSecretKeySize = 32;

class SecretKey {
 public:
  SecretKey() { bytes_.fill(0); }
  explicit SecretKey(const std::array<uint8_t, kSecretKeySize>& bytes) : bytes_(bytes) {}
  SecretKey(const SecretKey&) = default;
  SecretKey& operator=(const SecretKey&) = default;
  ~SecretKey();

  static absl::StatusOr<SecretKey> FromBytes(absl::string_view bytes);

  const uint8_t* data() const { return bytes_.data(); }
  uint8_t* mutable_data() { return bytes_.data(); }
  static constexpr size_t size() { return kSecretKeySize; }
  absl::Span<const uint8_t> span() const { return absl::MakeConstSpan(bytes_); }
  // Copies the secret out; callers own wiping the copy.
  std::string ToBytes() const { return std::string(bytes_.begin(), bytes_.end()); }

  // Constant-time comparison.
  bool Equals(const SecretKey& other) const;

 private:
  std::array<uint8_t, kSecretKeySize> bytes_;
};

}  // namespace cohort::secagg

#endif  // COHORT_SECAGG_SECRET_KEY_H_
