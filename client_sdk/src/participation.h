#ifndef COHORT_CLIENT_SDK_SRC_PARTICIPATION_H_
#define COHORT_CLIENT_SDK_SRC_PARTICIPATION_H_

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "client_sdk/src/secure_round.h"
#include "client_sdk/src/session_machine.h"
#include "client_sdk/src/session_store.h"
#include "client_sdk/src/transport.h"
#include "codec/evaluation_metrics.h"
#include "cohort/client/client.h"
#include "cohort/client/trainer.h"
#include "secagg/key_authenticity.h"
#include "secagg/signing.h"

namespace cohort::client::internal {

// Everything one participation uses; nothing here is owned.
struct ParticipationEnv {
  Transport* transport = nullptr;
  SessionStore* store = nullptr;
  Trainer* trainer = nullptr;
  Clock* clock = nullptr;
  // Uniform in [0, 1): backoff jitter and retry-later draws.
  std::function<double()> uniform01;
  // Seeds stochastic quantization (fresh per participation).
  std::function<uint64_t()> random64;
  // Blocks until `until` or cancellation; returns false when cancelled.
  std::function<bool(absl::Time until)> sleep_until;
  std::function<bool()> cancelled;

  std::string population;
  std::string sdk_version;
  std::function<std::string()> device_id;
  // The device's long-lived Ed25519 key (SessionStore::LoadOrCreateIdentity) and what vouches
  // for it (empty: nothing; semi-malicious tasks refuse such a device).
  const secagg::SigningKey* identity = nullptr;
  std::function<std::string(const std::string& public_key)> credential;
  // The least this device accepts of a plan's secure aggregation, and what checks neighbours'
  // credentials (not owned; may be null outside the semi-malicious model).
  SecAggFloor floor;
  const secagg::KeyAuthenticityVerifier* key_verifier = nullptr;
  Eligibility eligibility;
  absl::Duration long_poll = absl::Seconds(20);
  int64_t download_chunk_bytes = 0;
  SessionPolicy policy;

  std::function<void(const Progress&)> on_progress;
  std::function<void(const absl::Status&)> on_error;
};

// Drives one participation: the session machine's actions performed with the transport, the
// trainer, the secagg session and the codec, the round's state persisted in the store after
// every step that changes it (and wiped when the round ends; kept after CANCELLED or a lost
// server so the next participation resumes the round).
//
// Crash safety: every answer that reveals something (keys, share bundles, the report, masked
// chunks, the survivor signature, unmasking shares) is recorded in the secagg session and
// persisted (fsync) before it is sent, so a process killed anywhere and restored sends the
// same bytes again or refuses; a failed save ends the round (the device leaves). If the encoded
// input is lost after shares were received, the device leaves rather than encode another input
// under the same masks.
//
// Memory: the model is downloaded straight into one float vector; training adds the trainer's
// result (turned into the delta in place, after which the model is freed); the codec's output is
// packed at once (m bits per element) and the full-width vector freed; masking and packing then
// work on one chunk-sized copy at a time, so no second full-size masked vector ever exists.
//
// Returns what SessionMachine's final action carries (see Client::RunOnce for the codes), or
// the store's error when the persisted state cannot be read.
//
// This class is not thread-safe; env.cancelled/sleep_until carry cancellation from other threads.
class Participation {
 public:
  explicit Participation(ParticipationEnv env);
  ~Participation();
  Participation(const Participation&) = delete;
  Participation& operator=(const Participation&) = delete;
  absl::StatusOr<ParticipationOutcome> Run();

 private:
  absl::Status Prepare(std::optional<ParticipationOutcome>* early);
  void Step(const Action& action);
  void CheckIn();
  void WaitForPhase(v1::RoundPhase known_phase);
  void Download(int64_t offset);
  void VerifyModel();
  // Evaluates (when the plan asks), trains (unless the round only evaluates) and encodes.
  void Train();
  // The plan's evaluation counts of the downloaded model on the trainer's held-out examples.
  absl::StatusOr<std::array<uint64_t, codec::kMetricElements>> EvaluateModel(
      const v1::RoundPlan& plan);
  void AdvertiseKeys();
  void ShareKeys();
  void ReportShares();
  void UploadChunk(int64_t index);
  void SignSurvivors();
  void SubmitUnmasking();
  void Leave(const std::string& reason);
  absl::StatusOr<ParticipationOutcome> Finish(absl::StatusOr<ParticipationOutcome> result);

  // Persists the machine's state when it changed. A failure is returned (and reported); the
  // caller ends the round, since an answer it cannot record must not be sent.
  absl::Status Persist();
  // Persist, or leave the round with the error; true when saved.
  bool PersistOrLeave();
  void Report(Stage stage, double fraction = 0.0);
  void RpcError(const absl::Status& status);
  absl::Status EnsureSecureRound();

  ParticipationEnv env_;
  std::optional<SessionMachine> machine_;
  std::unique_ptr<SecureRound> secure_;
  std::string secure_blob_;         // secure_->Serialize() as last persisted
  std::string share_keys_request_;  // serialized, see SessionSnapshot.share_keys_request
  // The model, downloaded straight into its float form (one model copy).
  std::vector<float> model_;
  // The encoded input, packed (update_encoding.h); smaller than the model.
  std::string input_;
  std::string last_persisted_;
  std::optional<Stage> last_stage_;
  double last_fraction_ = -1.0;
};

}  // namespace cohort::client::internal

#endif  // COHORT_CLIENT_SDK_SRC_PARTICIPATION_H_
