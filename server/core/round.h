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
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cohort/v1/admin.pb.h"
#include "cohort/v1/device.pb.h"
#include "cohort/v1/model.pb.h"
#include "secagg/neighbour_graph.h"
#include "secagg/random_source.h"
#include "secagg/server_unmasking.h"
#include "server/core/aggregation.h"

namespace cohort::server {

bool IsLegalTransition(cohort::v1::RoundPhase from, cohort::v1::RoundPhase to);

struct RoundSetup {
  std::string task_id;
  int64_t round_number = 0;
  std::string round_id;
  cohort::v1::TaskConfig config;  // validated
  std::shared_ptr<const cohort::v1::Model> base_model;
  secagg::RandomSource* random = nullptr;  // not owned; graph and rotation seeds, central noise
  // DP tasks: the clip norm of this round (adaptive clipping moves it); 0 = the config's.
  double dp_clip_norm = 0;
};

// What a phase change or a drop looked like, for the owner's observers.
struct RoundChange {
  cohort::v1::RoundPhase from = cohort::v1::ROUND_PHASE_UNSPECIFIED;
  cohort::v1::RoundPhase to = cohort::v1::ROUND_PHASE_UNSPECIFIED;
  absl::Duration phase_duration;
  int32_t dropped = 0;  // devices dropped when `from` closed
  std::string message;
};

class Round {
 public:
  Round(RoundSetup setup, absl::Time now);
  ~Round();
  Round(const Round&) = delete;
  Round& operator=(const Round&) = delete;

  const std::string& round_id() const { return setup_.round_id; }
  int64_t round_number() const { return setup_.round_number; }
  cohort::v1::RoundPhase phase() const { return phase_; }
  absl::Time phase_deadline() const { return deadline_; }
  bool ended() const {
    return phase_ == cohort::v1::ROUND_PHASE_COMMITTED || phase_ == cohort::v1::ROUND_PHASE_FAILED;
  }
  bool ready_to_commit() const { return ready_to_commit_; }
  bool secure() const { return setup_.config.secagg().enabled(); }
  const std::string& failure_reason() const { return failure_reason_; }
  // Devices the round still admits.
  int32_t open_slots() const;
  int32_t selection_target() const { return selection_target_; }
  int32_t num_admitted() const { return static_cast<int32_t>(participants_.size()); }

  // FORMING: admits the device (or returns its existing index: a device that checks in again
  // resumes). FAILED_PRECONDITION when the round no longer forms or is full.
  absl::StatusOr<int32_t> Admit(const std::string& pseudonym, absl::Time now);
  // The participant index of a pseudonym, if admitted.
  std::optional<int32_t> IndexOf(const std::string& pseudonym) const;
  // NOT_FOUND / UNAUTHENTICATED-style checks for a token's claims: the index exists and belongs
  // to the pseudonym. Returns UNAUTHENTICATED otherwise.
  absl::Status CheckParticipant(int32_t index, const std::string& pseudonym) const;

  cohort::v1::RoundUpdate UpdateFor(int32_t index) const;
  absl::StatusOr<cohort::v1::ModelChunk> DownloadModel(int32_t index,
                                                       const cohort::v1::DownloadModelRequest& req);
  absl::Status AdvertiseKeys(int32_t index, const cohort::v1::AdvertiseKeysRequest& req,
                             absl::Time now);
  absl::Status ShareKeys(int32_t index, const cohort::v1::ShareKeysRequest& req, absl::Time now);
  absl::StatusOr<cohort::v1::UploadMaskedInputResponse> UploadMaskedInput(
      int32_t index, const cohort::v1::UploadMaskedInputRequest& req, absl::Time now);
  absl::Status SubmitUnmasking(int32_t index, const cohort::v1::SubmitUnmaskingRequest& req,
                               absl::Time now);
  absl::Status Leave(int32_t index, const std::string& reason, absl::Time now);

  // Closes every phase that is complete or past its deadline. Idempotent.
  void AdvanceTo(absl::Time now);
  // Moves to FAILED (no-op once ended).
  void Fail(const std::string& reason, absl::Time now);

  // With ready_to_commit(): decodes the exact sum into the weighted average delta.
  absl::StatusOr<AggregateResult> Aggregate() const;
  void MarkCommitted(int64_t new_model_version, absl::Time now);
  // The running sum in Z_(2^m) (QUANTIZED); with ready_to_commit() it is the exact, unmasked
  // sum of the contributors' encoded inputs. Empty before forming closes and after the end.
  absl::Span<const uint64_t> sum() const { return sum_; }
  // The round's codec parameters, once forming closed (DP rounds: with codec().dp()).
  const cohort::v1::CodecParams& codec() const { return plan_template_.codec(); }

  cohort::v1::RoundSummary Summary() const;
  // DP rounds: what the round spent, once the owner has charged it (shown in Summary()).
  void RecordPrivacy(const cohort::v1::RoundPrivacy& privacy) {
    *metrics_.mutable_privacy() = privacy;
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
  // True once since anything a device could observe changed (phase, a drop); for long-polls.
  bool TakeDirty();

 private:
  struct Participant {
    std::string pseudonym;
    absl::Time selected_at;
    bool dropped = false;
    std::string dropped_reason;
    cohort::v1::RoundPhase last_completed = cohort::v1::ROUND_PHASE_UNSPECIFIED;
    // ADVERTISE_KEYS
    bool advertised = false;
    std::string cipher_public_key;
    std::string mask_public_key;
    bool in_u1 = false;
    // SHARE_KEYS: recipient -> ciphertext
    bool shared = false;
    std::map<int32_t, std::string> outgoing;
    bool in_u2 = false;
    // MASKED_INPUT
    std::map<int64_t, std::string> chunks;  // buffered until complete
    bool contributed = false;               // in U3: input in the sum
    // UNMASKING
    bool answered = false;
    std::string answer;  // serialized accepted request, to accept identical retries
  };

  Participant& participant(int32_t index) { return participants_[static_cast<size_t>(index - 1)]; }
  const Participant& participant(int32_t index) const {
    return participants_[static_cast<size_t>(index - 1)];
  }
  absl::Status CheckActiveIn(int32_t index, cohort::v1::RoundPhase phase,
                             absl::string_view call) const;
  void Drop(int32_t index, const std::string& reason);
  void SetPhase(cohort::v1::RoundPhase next, absl::Time now, std::string message = "");
  absl::Duration PhaseDuration(cohort::v1::RoundPhase phase) const;
  void Close(absl::Time now);
  void CloseForming(absl::Time now);
  void CloseAdvertiseKeys(absl::Time now);
  void CloseShareKeys(absl::Time now);
  void CloseMaskedInput(absl::Time now);
  void CloseUnmasking(absl::Time now);
  bool PhaseComplete() const;
  int64_t NumChunks() const;
  int64_t ChunkLength(int64_t chunk_index) const;
  int64_t ChunkBytes(int64_t chunk_index) const;
  absl::Status FoldIntoSum(Participant& p);
  void ReleaseBuffers();
  void RecordPhaseMetrics(cohort::v1::RoundPhase phase, int32_t entered, int32_t completed,
                          absl::Duration duration);
  int32_t CountActive() const;

  RoundSetup setup_;
  cohort::v1::RoundPhase phase_ = cohort::v1::ROUND_PHASE_FORMING;
  absl::Time phase_started_;
  absl::Time deadline_;
  absl::Time started_at_;
  absl::Time ended_at_ = absl::InfinitePast();
  int32_t selection_target_ = 0;
  int32_t phase_entered_ = 0;    // participants expected in the current phase
  bool phase_recorded_ = false;  // the current phase's metrics are in metrics_
  bool ready_to_commit_ = false;
  std::string failure_reason_;
  int64_t new_model_version_ = 0;

  std::vector<Participant> participants_;  // [index - 1]
  absl::flat_hash_map<std::string, int32_t> index_of_;

  // Resolved when forming closes.
  cohort::v1::RoundPlan plan_template_;
  std::optional<secagg::NeighbourGraph> graph_;
  int32_t threshold_ = 0;
  std::unique_ptr<secagg::ServerUnmasking> unmasking_;
  std::vector<uint64_t> sum_;      // QUANTIZED, in Z_(2^m)
  std::vector<double> float_sum_;  // FLOAT32
  int32_t contributors_ = 0;

  cohort::v1::RoundSummary metrics_;  // phases, bytes
  std::vector<RoundChange> changes_;
  bool dirty_ = false;
};

}  // namespace cohort::server

#endif  // COHORT_SERVER_CORE_ROUND_H_
