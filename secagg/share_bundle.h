#ifndef COHORT_SECAGG_SHARE_BUNDLE_H_
#define COHORT_SECAGG_SHARE_BUNDLE_H_

// The plaintext a device u seals for each neighbour v in SHARE_KEYS, and the shares survivors
// return in UNMASKING. Shared by secagg/client_session.h and secagg/server_unmasking.h.
//
//   ShareBundle b{.sender_index = 3, .recipient_index = 7, .mask_key_share = ...,
//                 .self_mask_seed_share = ...};
//   std::string plaintext = EncodeShareBundle(b);
//   COHORT_ASSIGN_OR_RETURN(ShareBundle back, DecodeShareBundle(plaintext));
//
// Bundle format (kShareBundleSize = 89 bytes):
//   u8 version (= 1) || i32le sender_index || i32le recipient_index
//   || mask-key share (40 bytes, secagg/shamir.h) || self-mask-seed share (40 bytes)
// The indices repeat what the AEAD's associated data already binds; decoding checks them again
// so a bundle can never be filed under the wrong neighbour.
//
// Codes: DecodeShareBundle returns DATA_LOSS for a wrong length or version.
// Thread-safe (stateless functions).

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cohort::secagg {

inline constexpr size_t kShareBundleSize = 1 + 4 + 4 + 40 + 40;

struct ShareBundle {
  int32_t sender_index = 0;
  int32_t recipient_index = 0;
  std::string mask_key_share;        // share of the sender's mask private key
  std::string self_mask_seed_share;  // share of the sender's self-mask seed b_u
};

std::string EncodeShareBundle(const ShareBundle& bundle);
absl::StatusOr<ShareBundle> DecodeShareBundle(absl::string_view bytes);

// Which secret of a neighbour a survivor reveals in UNMASKING: never two for one neighbour.
enum class ShareKind {
  kSelfMaskSeed,  // the neighbour's input is in the sum: its self mask must go
  kMaskKey,       // the neighbour dropped: its pairwise masks with survivors must go
  kPairwiseSeed,  // the neighbour dropped and its key cannot be rebuilt: the pair's own seed
};

struct UnmaskingShare {
  int32_t neighbour_index = 0;
  ShareKind kind = ShareKind::kSelfMaskSeed;
  std::string share;  // kShamirShareSize bytes; 32 (the pairwise seed) for kPairwiseSeed
};

}  // namespace cohort::secagg

#endif  // COHORT_SECAGG_SHARE_BUNDLE_H_
