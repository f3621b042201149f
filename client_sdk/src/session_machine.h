#ifndef COHORT_CLIENT_SDK_SRC_SESSION_MACHINE_H_
#define COHORT_CLIENT_SDK_SRC_SESSION_MACHINE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client_sdk/src/session_state.pb.h"
#include "cohort/client/client.h"
#include "cohort/v1/device.pb.h"
#include "cohort/v1/plan.pb.h"

namespace cohort::client::internal {

// Retry and backoff knobs of one participation.
struct SessionPolicy {
  // Transient failure n (1-based) waits base * (0.5 + 0.5 * u), u uniform in [0, 1), where
  // base = min(max_backoff, initial_backoff * multiplier^(n - 1)): exponential, jittered so
  // devices that lost the server together do not come back together.
  absl::Duration initial_backoff = absl::Milliseconds(500);
  absl::Duration max_backoff = absl::Seconds(60);
  double multiplier = 2.0;
  // Consecutive transient check-in failures before giving up.
  int max_check_in_attempts = 5;
  // Consecutive transient failures inside a round before giving up (the phase deadline also
  // ends the retries).
  int max_round_attempts = 12;
  // Retries continue this long past the phase deadline the server announced (clock skew; the
  // server is the judge of deadlines, this only bounds a device that cannot reach it).
  absl::Duration deadline_grace = absl::Seconds(10);
  // Full model downloads (each verified against the plan's SHA-256) before giving up.
  int max_model_downloads = 3;
  // A call refused with FAILED_PRECONDITION is re-synchronized and tried again this often.
  int max_precondition_failures = 2;
};

// What the host must do next. The host performs it and reports back with the matching On*().
struct Action {
  enum class Kind {
    kCheckIn,
    kWaitForPhase,   // known_phase
    kDownloadModel,  // offset
    kVerifyModel,    // compare the downloaded bytes' SHA-256 with plan().model_sha256()
    kTrain,          // train on the model, encode (and persist) the input
    kAdvertiseKeys,
    kShareKeys,        // for last_update().neighbour_keys()
    kReportShares,     // open last_update().incoming_shares(), report those that do not open
    kUploadChunk,      // chunk_index, masked with last_update()... incoming shares
    kSignSurvivors,    // for last_update().consistency_check()
    kSubmitUnmasking,  // for last_update().unmasking()
    kLeave,            // leave_reason; best effort, then OnLeft()
    kSleep,            // until; then ask again
    kDone,             // result
  };
  Kind kind = Kind::kCheckIn;
  v1::RoundPhase known_phase = v1::ROUND_PHASE_UNSPECIFIED;
  int64_t offset = 0;
  int64_t chunk_index = 0;
  absl::Time until = absl::InfinitePast();
  std::string leave_reason;
  absl::StatusOr<ParticipationOutcome> result = absl::UnknownError("not done");
};

const char* ActionKindName(Action::Kind kind);

// The device side of one participation, as a pure state machine: no I/O, no threads, no clock.
// The host asks Next(now) for the action, performs it, and feeds the result back through the
// On*() method for that action (or OnRpcError for a failed call). Randomness (backoff jitter,
// the retry-later draw) comes from `uniform01`, which returns values in [0, 1).
//
//   SessionMachine machine(policy, uniform01);
//   for (Action a = machine.Next(clock.Now()); a.kind != Action::Kind::kDone;
//        a = machine.Next(clock.Now())) { Perform(a); }
//
// Secure aggregation rounds go CheckIn -> WaitForPhase ... AdvertiseKeys -> ShareKeys ->
// ReportShares -> Download/Verify/Train -> UploadChunk x n -> [SignSurvivors] ->
// SubmitUnmasking -> Done; rounds without it skip the key phases and unmasking. A transient error
// (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED) backs off and then re-synchronizes
// with WaitForPhase(UNSPECIFIED); FAILED_PRECONDITION re-synchronizes at once; UNAUTHENTICATED in a
// round ends it as kDropped. Snapshot()/Restore() carry the round across process restarts.
//
// This class is not thread-safe.
class SessionMachine {
 public:
  SessionMachine(SessionPolicy policy, std::function<double()> uniform01);

  // A machine for a round persisted earlier: it re-synchronizes with WaitForPhase(UNSPECIFIED).
  // INVALID_ARGUMENT for a snapshot of an unknown format, without a token, or with a plan that
  // does not parse.
  static absl::StatusOr<SessionMachine> Restore(const SessionSnapshot& snapshot,
                                                SessionPolicy policy,
                                                std::function<double()> uniform01);

  // The state to persist; empty token before check-in succeeded.
  SessionSnapshot Snapshot() const;

  Action Next(absl::Time now) const;

  void OnCheckIn(const v1::CheckInResponse& response, absl::Time now);
  void OnRoundUpdate(const v1::RoundUpdate& update, absl::Time now);
  // Returns true when the host should append chunk.data() to its model buffer; false when the
  // chunk does not continue the download (wrong offset, size, version or checksum), which then
  // restarts from offset 0 (the host clears its buffer on a download at offset 0).
  bool OnModelChunk(const v1::ModelChunk& chunk);
  void OnModelVerified(bool checksum_matches);
  // Training and encoding finished (OK) or failed: the device leaves the round with the error.
  void OnTrained(const absl::Status& status, int64_t num_examples = 0);
  void OnKeysAdvertised();
  void OnKeysShared();
  void OnSharesReported();
  void OnChunkUploaded(const v1::UploadMaskedInputResponse& response);
  void OnSurvivorsSigned();
  void OnUnmaskingSubmitted();
  void OnLeft();
  // A call failed. Decides between backing off and retrying, re-synchronizing, and ending.
  void OnRpcError(const absl::Status& status, absl::Time now);
  // A local step failed (secagg, codec, store): leave the round and end with `status`.
  void OnLocalError(const absl::Status& status);
  // The host lost the encoded input it persisted before any mask was fixed: download, train and
  // upload again. (Once shares were received the host must leave instead: re-encoding under
  // the same masks would let the server subtract two uploads.)
  void ForgetEncodedInput();
  // Ends at once with CANCELLED (no Leave: the persisted round stays resumable).
  void Cancel();

  bool in_round() const { return !session_token_.empty(); }
  bool done() const { return stage_ == Stage::kDone; }
  const std::string& session_token() const { return session_token_; }
  const std::string& task_id() const { return task_id_; }
  int64_t round_number() const { return round_number_; }
  const std::optional<v1::RoundPlan>& plan() const { return plan_; }
  // The last update of the server; its payload (neighbour keys, incoming shares, unmasking
  // request) is what the key, upload and unmasking actions answer.
  const v1::RoundUpdate& last_update() const { return last_update_; }
  bool secure() const { return plan_.has_value() && plan_->has_secagg(); }
  bool input_encoded() const { return input_encoded_; }
  // Chunks of the plan (0 before the plan is known).
  int64_t num_chunks() const;
  int64_t next_chunk() const { return next_chunk_; }
  int64_t model_size() const { return plan_.has_value() ? plan_->model_size_bytes() : 0; }
  int64_t num_examples() const { return num_examples_; }

  // The backoff before transient failure `attempt` (1-based), for tests and the host's loop.
  absl::Duration Backoff(int attempt, double u) const;

 private:
  enum class Stage {
    kCheckIn,
    kPoll,
    kAdvertise,
    kShare,
    kReport,
    kDownload,
    kVerify,
    kTrain,
    kUpload,
    kSign,
    kUnmask,
    kLeave,
    kDone,
  };

  void Finish(absl::StatusOr<ParticipationOutcome> result);
  void LeaveWith(absl::Status status, std::string reason);
  void Poll(v1::RoundPhase known_phase);
  // Chooses the stage for the current phase of last_update_.
  void Dispatch();
  // The call of the current stage succeeded: clear the failure counters.
  void CallSucceeded();
  void RestartDownload(const std::string& why);
  ParticipationOutcome BaseOutcome(OutcomeKind kind) const;

  SessionPolicy policy_;
  std::function<double()> uniform01_;

  Stage stage_ = Stage::kCheckIn;
  absl::Time not_before_ = absl::InfinitePast();
  int transient_failures_ = 0;
  int precondition_failures_ = 0;
  absl::Status last_error_;

  std::string session_token_;
  std::string task_id_;
  int64_t round_number_ = 0;
  std::string round_id_;
  std::optional<v1::RoundPlan> plan_;
  v1::RoundUpdate last_update_;
  v1::RoundPhase known_phase_ = v1::ROUND_PHASE_UNSPECIFIED;
  absl::Time phase_deadline_ = absl::InfiniteFuture();

  bool keys_advertised_ = false;
  bool keys_shared_ = false;
  bool shares_reported_ = false;
  bool survivors_signed_ = false;
  int64_t download_offset_ = 0;
  int model_downloads_ = 0;
  bool model_verified_ = false;
  bool input_encoded_ = false;
  int64_t num_examples_ = 0;
  int64_t next_chunk_ = 0;
  bool upload_complete_ = false;
  bool unmasking_submitted_ = false;

  std::string leave_reason_;
  absl::Status leave_status_;
  absl::StatusOr<ParticipationOutcome> result_ = absl::UnknownError("not done");
};

}  // namespace cohort::client::internal

#endif  // COHORT_CLIENT_SDK_SRC_SESSION_MACHINE_H_
