#ifndef COHORT_CLIENT_SDK_SRC_SECURE_ROUND_H_
#define COHORT_CLIENT_SDK_SRC_SECURE_ROUND_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "cohort/v1/device.pb.h"
#include "cohort/v1/plan.pb.h"

namespace cohort::client::internal {

// The device's SecAgg+ duties in one round, in wire terms, over the shared secagg client session
// (secagg/client_session.h): key generation, encrypted share bundles, pairwise seeds from the
// incoming shares, masking a chunk at its element offset, and unmasking answers that never
// reveal both shares of one neighbour. Serialize() captures everything (secret keys included)
// so a restarted process resumes the same round with the same keys.
//
// This class is not thread-safe.
class SecureRound {
 public:
  // INVALID_ARGUMENT for a plan without secagg parameters or a bad participant index.
  static absl::StatusOr<std::unique_ptr<SecureRound>> Create(const v1::RoundPlan& plan);
  // DATA_LOSS / INVALID_ARGUMENT when `bytes` is not a session of this plan's round.
  static absl::StatusOr<std::unique_ptr<SecureRound>> Deserialize(const v1::RoundPlan& plan,
                                                                  const std::string& bytes);
  virtual ~SecureRound() = default;

  virtual absl::StatusOr<std::string> Serialize() const = 0;

  // ADVERTISE_KEYS: this device's two X25519 public keys.
  virtual absl::Status FillAdvertiseKeys(v1::AdvertiseKeysRequest* request) = 0;
  // SHARE_KEYS: one encrypted share bundle per listed neighbour. INVALID_ARGUMENT for a bad
  // neighbour key (low order, wrong length) or a neighbour outside the graph.
  virtual absl::Status FillShareKeys(const v1::NeighbourKeys& keys,
                                     v1::ShareKeysRequest* request) = 0;
  // MASKED_INPUT: decrypts the neighbours' shares and derives the pairwise seeds. Idempotent.
  virtual absl::Status ReceiveShares(const v1::IncomingShares& shares) = 0;
  // Adds the self mask and the pairwise masks for elements [offset, offset + values.size())
  // of the input, mod 2^modulus_bits, in place. FAILED_PRECONDITION before ReceiveShares.
  virtual absl::Status MaskChunk(int64_t offset, absl::Span<uint64_t> values) = 0;
  // UNMASKING: for each surviving neighbour its self-mask seed share, for each dropped one its
  // mask-key share; FAILED_PRECONDITION if a neighbour is listed as both or was not a sender.
  virtual absl::Status FillUnmasking(const v1::UnmaskingRequest& request,
                                     v1::SubmitUnmaskingRequest* response) = 0;
};

}  // namespace cohort::client::internal

#endif  // COHORT_CLIENT_SDK_SRC_SECURE_ROUND_H_
