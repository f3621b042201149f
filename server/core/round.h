#ifndef COHORT_SERVER_CORE_ROUND_H_
#define COHORT_SERVER_CORE_ROUND_H_

// One round of one task, as a pure state machine: no I/O, no threads, time passed in.
//
//   Round round(setup, now);                       // FORMING
//   COHORT_ASSIGN_OR_RETURN(int32_t index, round.Admit(pseudonym, now));
//   round.AdvanceTo(now);                          // closes phases that are complete or late
//   COHORT_RETURN_IF_ERROR(round.AdvertiseKeys(index, request, now));
//   ...
//   if (round.ready_to_commit()) { auto result = round.Aggregate(); ...; round.MarkCommitted(v); }
//
// Phases and legal transitions (IsLegalTransition; anything else is a bug and CHECK-fails):
//   FORMING        -> ADVERTISE_KEYS (secure aggregation) | MASKED_INPUT (plain) | FAILED
//   ADVERTISE_KEYS -> SHARE_KEYS | FAILED
//   SHARE_KEYS     -> MASKED_INPUT | FAILED
//   MASKED_INPUT   -> UNMASKING (secure aggregation) | COMMITTED (plain) | FAILED
//   UNMASKING      -> COMMITTED | FAILED
// COMMITTED and FAILED are final. The move to COMMITTED is made by the owner (MarkCommitted)
// once the new model is durable; until then `ready_to_commit()` is true and the phase stays.
//
// A phase closes early once every participant still expected in it has acted, otherwise at its
// deadline; devices that did not act are dropped and the protocol recovers them (SecAgg+: their
// mask keys are reconstructed from the survivors' shares). Each phase needs a minimum count:
// ADVERTISE_KEYS and SHARE_KEYS max(t, min_participants), MASKED_INPUT min_participants, and
// UNMASKING enough shares to reconstruct every needed secret; otherwise the round FAILS with a
// reason naming the counts. The forming deadline is soft: with fewer than min_participants
// admitted it is extended, with enough the round starts with what it has.
//
// "A client's fault is not the round's fault": a bad message returns INVALID_ARGUMENT (and
// drops the sender when the message shows it cannot continue correctly, e.g. a wrong vector
// length or a bad unmasking answer); only unrecoverable errors fail the round.
//
// Memory: the running sum is O(d) per round. A device's chunks are buffered until its upload is
// complete, then folded into the sum and freed, so a half-uploaded input never pollutes the sum:
// peak memory is O(d) + the chunks of uploads in flight (at most O(d) each). Share routing keeps
// the ciphertexts, O(n * k).
//
// Codes of the device calls: FAILED_PRECONDITION for a call outside its phase (naming the
// round's phase), from a dropped participant (naming why), or a repeat that differs from the
// accepted one; INVALID_ARGUMENT for a malformed payload (naming the field). Identical repeats
// succeed (idempotent retries).
//
// This class is not thread-safe.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "cohort/v1/admin.pb.h"
#include "cohort/v1/device.pb.h"
#include "server/core/aggregation.h"
#include "server/core/round_context.h"

namespace cohort::server {

// A chunk of a round's base model that points into the model instead of copying it: every
// device of every round downloads from the one immutable buffer of a version, which `model`
// keeps alive for as long as the view (and a gRPC response made from it) exists.
struct ModelChunkView {
  cohort::v1::ModelChunk header;  // offset, total_size, sha256, model_version; data left empty
  std::shared_ptr<const cohort::v1::Model> model;
  absl::string_view data;  // the chunk's bytes, inside model->parameters()

  // The whole message, bytes copied in (for callers that need one).
  cohort::v1::ModelChunk ToChunk() const;
};

class Round {
 public:
  Round(RoundSetup setup, absl::Time now);
  ~Round();
  Round(const Round&) = delete;
  Round& operator=(const Round&) = delete;

  const std::string& round_id() const { return ctx_.setup.round_id; }
  int64_t round_number() const { return ctx_.setup.round_number; }
  cohort::v1::RoundPhase phase() const { return ctx_.phase; }
  absl::Time phase_deadline() const { return ctx_.deadline; }
  bool ended() const { return ctx_.ended(); }
  bool ready_to_commit() const { return ctx_.ready_to_commit; }
  bool secure() const { return ctx_.secure(); }
  const std::string& failure_reason() const { return ctx_.failure_reason; }
  // Devices the round still admits.
  int32_t open_slots() const { return ctx_.open_slots(); }
  int32_t selection_target() const { return ctx_.selection_target; }
  int32_t num_admitted() const { return ctx_.num_admitted(); }

  // FORMING: admits the device (or returns its existing index: a device that checks in again
  // resumes, provided it presents the key it was admitted with). FAILED_PRECONDITION when the
  // round no longer forms or is full; PERMISSION_DENIED when the pseudonym is in the round
  // under another device key (a second client using a known device id cannot take the slot).
  // `identity.public_key` must be a valid Ed25519 key whose check-in signature the caller has
  // verified (INVALID_ARGUMENT otherwise).
  absl::StatusOr<int32_t> Admit(const std::string& pseudonym, const DeviceIdentity& identity,
                                absl::Time now);
  // The participant index of a pseudonym, if admitted.
  std::optional<int32_t> IndexOf(const std::string& pseudonym) const;
  // NOT_FOUND / UNAUTHENTICATED-style checks for a token's claims: the index exists and belongs
  // to the pseudonym. Returns UNAUTHENTICATED otherwise.
  absl::Status CheckParticipant(int32_t index, const std::string& pseudonym) const;

  cohort::v1::RoundUpdate UpdateFor(int32_t index) const;
  absl::StatusOr<ModelChunkView> DownloadModel(int32_t index,
                                               const cohort::v1::DownloadModelRequest& req);
  absl::Status AdvertiseKeys(int32_t index, const cohort::v1::AdvertiseKeysRequest& req,
                             absl::Time now);
  absl::Status ShareKeys(int32_t index, const cohort::v1::ShareKeysRequest& req, absl::Time now);
  absl::StatusOr<cohort::v1::UploadMaskedInputResponse> UploadMaskedInput(
      int32_t index, const cohort::v1::UploadMaskedInputRequest& req, absl::Time now);
  absl::Status ReportShares(int32_t index, const cohort::v1::ReportSharesRequest& req,
                            absl::Time now);
  absl::Status SignSurvivors(int32_t index, const cohort::v1::SignSurvivorsRequest& req,
                             absl::Time now);
  absl::Status SubmitUnmasking(int32_t index, const cohort::v1::SubmitUnmaskingRequest& req,
                               absl::Time now);
  absl::Status Leave(int32_t index, const std::string& reason, absl::Time now);

  // Closes every phase that is complete or past its deadline. Idempotent.
  void AdvanceTo(absl::Time now);
  // Moves to FAILED (no-op once ended).
  void Fail(const std::string& reason, absl::Time now);

  // With ready_to_commit(): decodes the exact sum into the weighted average delta (not in an
  // evaluation-only round, which has no update).
  absl::StatusOr<AggregateResult> Aggregate() const;
  // With ready_to_commit(), in a round that evaluates: decodes the summed evaluation counts into
  // the summary's `evaluation`. OK and nothing recorded when the round does not evaluate;
  // INVALID_ARGUMENT for an impossible sum (codec::DecodeEvaluationSum).
  absl::Status RecordEvaluation();
  bool evaluation_only() const { return ctx_.setup.evaluation_only; }
  void MarkCommitted(int64_t new_model_version, absl::Time now);
  // The running sum in Z_(2^m) (QUANTIZED); with ready_to_commit() it is the exact, unmasked
  // sum of the contributors' encoded inputs. Empty before forming closes and after the end.
  absl::Span<const uint64_t> sum() const { return ctx_.sum; }
  // The round's codec parameters, once forming closed (DP rounds: with codec().dp()).
  const cohort::v1::CodecParams& codec() const { return ctx_.plan_template.codec(); }

  cohort::v1::RoundSummary Summary() const;
  // DP rounds: what the round spent, once the owner has charged it (shown in Summary()).
  void RecordPrivacy(const cohort::v1::RoundPrivacy& privacy) {
    *ctx_.metrics.mutable_privacy() = privacy;
  }

  struct ParticipantRecord {
    int32_t index = 0;
    std::string pseudonym;
    cohort::v1::RoundPhase last_completed = cohort::v1::ROUND_PHASE_UNSPECIFIED;
    bool contributed = false;
    absl::Time selected_at;
  };
  std::vector<ParticipantRecord> Participants() const;

  // Phase changes and drops since the last call, oldest first.
  std::vector<RoundChange> TakeChanges();
  // Pseudonyms excluded (their share bundles did not open) since the last call.
  std::vector<std::string> TakeExcluded();
  // True once since anything a device could observe changed (phase, a drop); for long-polls.
  bool TakeDirty();

 private:
  // The round's data; the per-phase units (round_phases.h) act on it. The facade's own job is
  // to route each call to its phase's unit and to close phases as time passes.
  RoundContext ctx_;
};

}  // namespace cohort::server

#endif  // COHORT_SERVER_CORE_ROUND_H_
