#ifndef COHORT_CLIENT_SDK_SRC_SECURE_ROUND_H_
#define COHORT_CLIENT_SDK_SRC_SECURE_ROUND_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "cohort/v1/device.pb.h"
#include "cohort/v1/plan.pb.h"
#include "secagg/key_authenticity.h"
#include "secagg/signing.h"

namespace cohort::client::internal {

// The least a device accepts of a plan's secure aggregation settings (client.h, SecAggPolicy).
struct SecAggFloor {
  bool require_semi_malicious = false;
  double min_dropout_rate = 0;
  double min_corrupted_fraction = 0;
  int min_security_bits = 40;
};

// The device's check of a plan before it takes part in its secure aggregation: t >= 2, the
// threat model the floor requires, and (k, t) keeping every security bound of the plan's own
// settings raised to the floor, recomputed with the shared parameter finder
// (secagg::CheckSecurity). FAILED_PRECONDITION naming the bound (and what the finder would
// pick) otherwise; INVALID_ARGUMENT for a plan without secure aggregation parameters.
absl::Status CheckPlan(const v1::RoundPlan& plan, const SecAggFloor& floor);

// The device's SecAgg+ duties in one round, in wire terms, over the shared secagg client session
// (secagg/client_session.h): signed keys, signed encrypted share bundles, the report of bundles
// that did not open, masking a chunk at its element offset, the survivor-set signature of the
// semi-malicious model, and unmasking answers that never reveal two secrets of one neighbour.
// Every answer is computed from the session's state and recorded in it before it is returned,
// so the caller persists Serialize() before sending: a restarted process answers the same, or
// refuses.
//
// This class is not thread-safe.
class SecureRound {
 public:
  // CheckPlan first. `verifier` (not owned, may be null outside the semi-malicious model)
  // checks neighbours' credentials.
  static absl::StatusOr<std::unique_ptr<SecureRound>> Create(
      const v1::RoundPlan& plan, const secagg::SigningKey& identity, const SecAggFloor& floor,
      const secagg::KeyAuthenticityVerifier* verifier);
  // DATA_LOSS / INVALID_ARGUMENT when `bytes` is not a session of this plan's round.
  static absl::StatusOr<std::unique_ptr<SecureRound>> Deserialize(
      const v1::RoundPlan& plan, const std::string& bytes,
      const secagg::KeyAuthenticityVerifier* verifier);
  virtual ~SecureRound() = default;

  // Secret: wipe the string when done with it.
  virtual absl::StatusOr<std::string> Serialize() const = 0;
  // ReceiveShares has been answered: the masks are fixed.
  virtual bool received_shares() const = 0;

  // ADVERTISE_KEYS: the two X25519 public keys and their signature.
  virtual absl::Status FillAdvertiseKeys(v1::AdvertiseKeysRequest* request) = 0;
  // SHARE_KEYS: one signed encrypted bundle per listed neighbour. UNAUTHENTICATED for a
  // neighbour whose keys are not signed or not vouched for; INVALID_ARGUMENT for a bad key or
  // roster proof, or a neighbour outside the graph.
  virtual absl::Status FillShareKeys(const v1::NeighbourKeys& keys, absl::Time now,
                                     v1::ShareKeysRequest* request) = 0;
  // MASKED_INPUT: opens the neighbours' bundles and fills the report of those that did not.
  // Idempotent. UNAUTHENTICATED for a bundle its sender did not sign.
  virtual absl::Status ReceiveShares(const v1::IncomingShares& shares,
                                     v1::ReportSharesRequest* report) = 0;
  // Adds the self mask and the pairwise masks for elements [offset, offset + values.size())
  // of the input, mod 2^modulus_bits, in place. FAILED_PRECONDITION before ReceiveShares.
  virtual absl::Status MaskChunk(int64_t offset, absl::Span<uint64_t> values) = 0;
  // CONSISTENCY_CHECK: the device's signature over the survivor set; refuses a second set.
  virtual absl::Status FillSignSurvivors(const v1::ConsistencyCheck& check,
                                         v1::SignSurvivorsRequest* request) = 0;
  // UNMASKING: one answer per listed neighbour; FAILED_PRECONDITION when the request asks for
  // two secrets of one neighbour, differs from one answered before, or (semi-malicious) is not
  // backed by t neighbours' signatures over the set this device signed.
  virtual absl::Status FillUnmasking(const v1::UnmaskingRequest& request,
                                     v1::SubmitUnmaskingRequest* response) = 0;
};

}  // namespace cohort::client::internal

#endif  // COHORT_CLIENT_SDK_SRC_SECURE_ROUND_H_
