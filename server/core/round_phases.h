#ifndef COHORT_SERVER_CORE_ROUND_PHASES_H_
#define COHORT_SERVER_CORE_ROUND_PHASES_H_

// One unit per phase of a round, as fcp's per-state files (secagg_server_r0_advertise_keys_state
// and so on): each knows when its phase is complete, how it closes (which devices it drops, what
// the next phase needs, where the round goes next), what a device sees while it is open, and
// the device call that belongs to it. The data they act on is the round's RoundContext; the
// close-phase step they share is RoundContext::DropLaggards / Settle / MoveTo.
//
// A unit's device call also runs outside its phase: an identical retry of a call the round
// already accepted succeeds in any later phase (a device whose response was lost resends).
// Everything else outside the phase is FAILED_PRECONDITION naming the round's phase.
//
// Internal to server/core. Not thread-safe.

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cohort/v1/device.pb.h"
#include "server/core/round_context.h"

namespace cohort::server {

class RoundPhaseState {
 public:
  virtual ~RoundPhaseState() = default;
  virtual cohort::v1::RoundPhase phase() const = 0;
  // Every participant still expected in this phase has acted.
  virtual bool Complete(const RoundContext& ctx) const = 0;
  // Closes the phase (complete or past its deadline): moves the round on, or fails it, or marks
  // it ready to commit.
  virtual void Close(RoundContext& ctx, absl::Time now) const = 0;
  // The phase's payload of participant `index`'s RoundUpdate (none by default).
  virtual void FillUpdate(const RoundContext& ctx, int32_t index,
                          cohort::v1::RoundUpdate* update) const {
    (void)ctx;
    (void)index;
    (void)update;
  }
};

// The unit of `phase`; COMMITTED and FAILED (and anything unknown) get an inert unit.
const RoundPhaseState& PhaseState(cohort::v1::RoundPhase phase);

// The device calls, one per phase unit. They do not advance the round; Round does after each.
absl::Status AdvertiseKeysCall(RoundContext& ctx, int32_t index,
                               const cohort::v1::AdvertiseKeysRequest& req);
absl::Status ShareKeysCall(RoundContext& ctx, int32_t index,
                           const cohort::v1::ShareKeysRequest& req);
absl::Status ReportSharesCall(RoundContext& ctx, int32_t index,
                              const cohort::v1::ReportSharesRequest& req);
absl::StatusOr<cohort::v1::UploadMaskedInputResponse> UploadMaskedInputCall(
    RoundContext& ctx, int32_t index, const cohort::v1::UploadMaskedInputRequest& req);
absl::Status SignSurvivorsCall(RoundContext& ctx, int32_t index,
                               const cohort::v1::SignSurvivorsRequest& req);
absl::Status SubmitUnmaskingCall(RoundContext& ctx, int32_t index,
                                 const cohort::v1::SubmitUnmaskingRequest& req);

// With U3 fixed (MASKED_INPUT closed, or CONSISTENCY_CHECK with the signers known): the
// unmasking helper and the move to UNMASKING, or FAILED (masked_input_phase.cc).
void OpenUnmasking(RoundContext& ctx, int32_t dropped, absl::Time now);

// Folds every complete upload whose neighbours have all reported on its bundles.
void FoldReadyInputs(RoundContext& ctx);
// OK when the survivors' graph is connected and, for the dropouts that happened, still provably
// keeps the honest survivors together; FAILED_PRECONDITION naming why not.
absl::Status CheckSurvivorsHoldTogether(const RoundContext& ctx);

// Chunk geometry of the round's plan (masked_input_phase.cc).
int64_t NumChunks(const RoundContext& ctx);
int64_t ChunkLength(const RoundContext& ctx, int64_t chunk_index);
int64_t ChunkBytes(const RoundContext& ctx, int64_t chunk_index);

}  // namespace cohort::server

#endif  // COHORT_SERVER_CORE_ROUND_PHASES_H_
