#ifndef COHORT_SERVER_CORE_COORDINATOR_H_
#define COHORT_SERVER_CORE_COORDINATOR_H_

// The thread-safe facade of the server core: one method per RPC of DeviceService and
// AdminService, taking and returning the proto messages, plus AdvanceTo for deadlines. The rpc
// layer is a thin adapter over it; tests drive it directly with a SimulatedClock.
//
//   COHORT_ASSIGN_OR_RETURN(auto coordinator, Coordinator::Create({.store = &store,
//                                                                  .clock = &clock}));
//   COHORT_RETURN_IF_ERROR(coordinator->Recover());
//   COHORT_ASSIGN_OR_RETURN(v1::Task task, coordinator->CreateTask(request));
//   ...
//   coordinator->AdvanceTo(clock.Now());   // from a ticker, e.g. every 50 ms
//
// CheckIn verifies the device's Ed25519 key by its signature (INVALID_ARGUMENT otherwise), and for
// semi-malicious tasks its credential (a task whose verifier refuses it is skipped). A device
// already in a live round resumes only with the key it was admitted with (PERMISSION_DENIED
// otherwise). Device calls authenticate the session token first: UNAUTHENTICATED for a missing,
// forged or expired token or one naming no participant; FAILED_PRECONDITION for a call outside its
// phase or from a dropped device, or for a token of a round that ended long ago; INVALID_ARGUMENT
// for a malformed payload; NOT_FOUND for an unknown population or task. Admin calls: NOT_FOUND for
// an unknown task, INVALID_ARGUMENT naming the bad field, FAILED_PRECONDITION for a call that
// does not fit the task's state; store errors (UNAVAILABLE, INTERNAL) pass through.
//
// This class is thread-safe: one mutex serializes the state; store calls that may block for
// long (the cool-down lookup of CheckIn) happen outside it. The observer is called with the
// mutex held.

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "base/version.h"
#include "cohort/v1/admin.pb.h"
#include "cohort/v1/device.pb.h"
#include "secagg/key_authenticity.h"
#include "secagg/random_source.h"
#include "server/core/observer.h"
#include "server/core/offenders.h"
#include "server/core/session_token.h"
#include "server/core/task_runner.h"
#include "server/core/upload_budget.h"
#include "server/store/store.h"

namespace cohort::server {

struct CoordinatorOptions {
  Store* store = nullptr;                   // required, not owned
  Clock* clock = Clock::Real();             // not owned
  CoordinatorObserver* observer = nullptr;  // optional, not owned
  secagg::RandomSource* random = nullptr;   // not owned; nullptr = OS CSPRNG
  // HMAC key of session tokens (>= 32 bytes); empty = 32 fresh random bytes (tokens then die
  // with the process, which is what a restart does to rounds anyway).
  std::string session_key;
  // Salt of device pseudonyms; must stay the same across restarts for cool-downs to survive
  // them. Empty = derived from session_key.
  std::string pseudonym_salt;
  // Seed of the sampler's coin flips; 0 = random.
  uint64_t sampling_seed = 0;
  // The SDK major version this server speaks.
  int sdk_major_version = kProtocolMajorVersion;
  // Vouches for devices' signing keys (the device CA); not owned. Without it, semi-malicious
  // tasks are refused.
  const secagg::KeyAuthenticityVerifier* key_verifier = nullptr;
  // When a device excluded from rounds (its share bundles did not open) is refused for a while.
  OffenderPolicy offenders;
  // Upper bound of a WaitForPhase long-poll.
  absl::Duration max_wait = absl::Seconds(30);
  // Bytes of masked input held at once over all rounds (upload_budget.h); 0 = no bound.
  int64_t upload_buffer_bytes = 0;
};

class Coordinator {
 public:
  static absl::StatusOr<std::unique_ptr<Coordinator>> Create(CoordinatorOptions options);

  // Crash recovery, once at start-up: rounds left in flight become FAILED "server restart"; tasks
  // are reloaded and RUNNING ones open a new round.
  absl::Status Recover();

  // Admin API.
  absl::StatusOr<cohort::v1::Task> CreateTask(const cohort::v1::CreateTaskRequest& request);
  absl::StatusOr<cohort::v1::Task> GetTask(const std::string& task_id);
  absl::StatusOr<cohort::v1::ListTasksResponse> ListTasks();
  // Where the task stands (empty id: every task), as KIND_CURRENT_STATE events for a watcher.
  absl::StatusOr<std::vector<cohort::v1::RoundEvent>> CurrentState(const std::string& task_id);
  absl::StatusOr<cohort::v1::Task> StartRounds(const cohort::v1::StartRoundsRequest& request);
  absl::StatusOr<cohort::v1::Task> PauseTask(const std::string& task_id);
  absl::StatusOr<cohort::v1::Task> ResumeTask(const std::string& task_id);
  absl::StatusOr<cohort::v1::Task> AbortRound(const cohort::v1::AbortRoundRequest& request);
  absl::StatusOr<cohort::v1::ListRoundsResponse> ListRounds(
      const cohort::v1::ListRoundsRequest& request);
  // The given version (0 is the initial model), or the latest without one.
  absl::StatusOr<cohort::v1::Model> GetModel(const std::string& task_id,
                                             std::optional<int64_t> version);
  // Replaces the task's calibration data and re-quantizes its int8 artifact. INVALID_ARGUMENT
  // for examples that are not whole, finite inputs of the task's graph (1 to 1000 of them),
  // FAILED_PRECONDITION for a task without a layer graph.
  absl::StatusOr<cohort::v1::AttachCalibrationDataResponse> AttachCalibrationData(
      const cohort::v1::AttachCalibrationDataRequest& request);

  // Device API.
  absl::StatusOr<cohort::v1::CheckInResponse> CheckIn(const cohort::v1::CheckInRequest& request);
  struct Poll {
    // Set when the long-poll should answer now; unset: park it until OnRoundChanged(round_id)
    // or max_wait.
    std::optional<cohort::v1::RoundUpdate> update;
    std::string round_id;
    absl::Duration max_wait;
  };
  absl::StatusOr<Poll> PollPhase(const cohort::v1::WaitForPhaseRequest& request);
  // The current state, for a long-poll that timed out.
  absl::StatusOr<cohort::v1::RoundUpdate> CurrentUpdate(const std::string& session_token);
  // A view into the round's model (round.h): the bytes are not copied under the lock.
  absl::StatusOr<ModelChunkView> DownloadModel(const cohort::v1::DownloadModelRequest& request);
  absl::Status AdvertiseKeys(const cohort::v1::AdvertiseKeysRequest& request);
  absl::Status ShareKeys(const cohort::v1::ShareKeysRequest& request);
  absl::Status ReportShares(const cohort::v1::ReportSharesRequest& request);
  absl::Status SignSurvivors(const cohort::v1::SignSurvivorsRequest& request);
  absl::StatusOr<cohort::v1::UploadMaskedInputResponse> UploadMaskedInput(
      const cohort::v1::UploadMaskedInputRequest& request);
  absl::Status SubmitUnmasking(const cohort::v1::SubmitUnmaskingRequest& request);
  absl::Status Leave(const cohort::v1::LeaveRequest& request);
  // Session-less: the latest inference artifact of the population's task (docs/protocol.md).
  // INVALID_ARGUMENT / FAILED_PRECONDITION for the identity fields as CheckIn; NOT_FOUND for an
  // unknown population or task; FAILED_PRECONDITION when the population has several tasks and
  // none is named, when the task has no artifact of the format (no graph, no calibration data),
  // or for an offset outside the artifact.
  absl::StatusOr<cohort::v1::FetchInferenceModelResponse> FetchInferenceModel(
      const cohort::v1::FetchInferenceModelRequest& request);

  // Enforces deadlines and opens rounds as of `now`.
  void AdvanceTo(absl::Time now);

  Clock* clock() const { return options_.clock; }

 private:
  struct Session {
    TaskRunner* runner = nullptr;
    Round* round = nullptr;
    int32_t index = 0;
  };

  explicit Coordinator(CoordinatorOptions options, std::unique_ptr<SessionTokenSigner> signer);
  absl::StatusOr<Session> Authenticate(absl::string_view token, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<TaskRunner*> FindTask(const std::string& task_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  TaskRunner::Services RunnerServices() const;
  std::string MintToken(const Round& round, int32_t index, const std::string& pseudonym,
                        const cohort::v1::TaskConfig& config, absl::Time now) const;
  void Audit(const std::string& action, const std::string& task_id, const std::string& detail);
  cohort::v1::CheckInResponse RetryLaterResponse(TaskRunner* runner, absl::Time now,
                                                 const std::string& reason, absl::Duration at_least)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const CoordinatorOptions options_;
  const std::unique_ptr<SessionTokenSigner> signer_;
  std::string pseudonym_salt_;
  // Shared by every round; declared before the runners, which hold reservations in it.
  mutable UploadBudget upload_budget_;

  absl::Mutex mu_;
  std::vector<std::unique_ptr<TaskRunner>> runners_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, TaskRunner*> by_id_ ABSL_GUARDED_BY(mu_);
  std::mt19937_64 sampler_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cohort::server

#endif  // COHORT_SERVER_CORE_COORDINATOR_H_
