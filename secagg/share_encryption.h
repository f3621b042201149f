#ifndef COHORT_SECAGG_SHARE_ENCRYPTION_H_
#define COHORT_SECAGG_SHARE_ENCRYPTION_H_

// AES-256-GCM sealing of share bundles between two devices. The associated data binds the round
// id, the plan digest, the sender index and the recipient index, so a ciphertext replayed into
// another round, sealed under another plan, or routed to another device (or back to its sender)
// fails to open.
//
//   COHORT_ASSIGN_OR_RETURN(std::string ct,
//       SealShareBundle(key, round_id, plan_digest, /*sender=*/3, /*recipient=*/7, plaintext,
//                       *OsRandom()));
//   COHORT_ASSIGN_OR_RETURN(std::string pt, OpenShareBundle(key, round_id, plan_digest, 3, 7, ct));
//
// Wire format: nonce (12 random bytes) || ciphertext || tag (16 bytes). The key is shared by the
// two directions of a pair, hence random nonces (96 bits, a handful of messages per key).
// AD = "cohort/secagg/v1 share-bundle" || u32le(len(round_id)) || round_id || plan_digest (32)
//      || i32le(sender) || i32le(recipient).
//
// Codes: Seal: INVALID_ARGUMENT for a bad index; INTERNAL on an OpenSSL failure.
//        Open: DATA_LOSS for any tampering, truncation, wrong key, wrong round, wrong direction.
// Thread-safe (stateless functions).

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "secagg/random_source.h"
#include "secagg/secret_key.h"

namespace cohort::secagg {

inline constexpr size_t kAeadNonceSize = 12;
inline constexpr size_t kAeadTagSize = 16;
inline constexpr size_t kAeadOverhead = kAeadNonceSize + kAeadTagSize;

absl::StatusOr<std::string> SealShareBundle(const SecretKey& key, absl::string_view round_id,
                                            absl::string_view plan_digest, int32_t sender_index,
                                            int32_t recipient_index, absl::string_view plaintext,
                                            RandomSource& random);

absl::StatusOr<std::string> OpenShareBundle(const SecretKey& key, absl::string_view round_id,
                                            absl::string_view plan_digest, int32_t sender_index,
                                            int32_t recipient_index, absl::string_view ciphertext);

// The AEAD under the two calls above, AES-256-GCM with a 12-byte nonce and a 16-byte tag;
// exposed for known-answer tests. Seal returns ciphertext || tag (INVALID_ARGUMENT for a nonce
// that is not 12 bytes, INTERNAL on an OpenSSL failure); Open takes ciphertext || tag and
// returns DATA_LOSS when it does not authenticate.
absl::StatusOr<std::string> AesGcm256Seal(const SecretKey& key, absl::string_view nonce,
                                          absl::string_view associated_data,
                                          absl::string_view plaintext);
absl::StatusOr<std::string> AesGcm256Open(const SecretKey& key, absl::string_view nonce,
                                          absl::string_view associated_data,
                                          absl::string_view ciphertext_and_tag);

}  // namespace cohort::secagg

#endif  // COHORT_SECAGG_SHARE_ENCRYPTION_H_
