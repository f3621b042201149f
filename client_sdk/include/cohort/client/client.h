#ifndef COHORT_CLIENT_SDK_INCLUDE_COHORT_CLIENT_CLIENT_H_
#define COHORT_CLIENT_SDK_INCLUDE_COHORT_CLIENT_CLIENT_H_

// The public C++ API of the Cohort client SDK. Plain structs only: an app that links the SDK
// needs neither protobuf nor gRPC headers. The C ABI (cohort/cohort_client.h) wraps this API.
//
//   cohort::client::Config config;
//   config.server_address = "fl.example.com:443";
//   config.tls_root_certs_pem = LoadRoots();
//   config.population = "keyboard/en";
//   config.device_id_provider = [] { return StableRandomId(); };
//   config.storage_dir = app_files_dir + "/cohort";
//   auto client = cohort::client::Client::Create(std::move(config), &my_trainer);
//   (*client)->SetEligibility({.charging = true, .unmetered_network = true, .idle = true,
//                              .battery_percent = 80});
//   absl::StatusOr<ParticipationOutcome> outcome = (*client)->RunOnce();

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cohort/client/inference.h"  // InferenceFormat
#include "cohort/client/trainer.h"

namespace cohort::client {

// The SDK's semantic version, sent at check-in; the server requires the same major version
// (the protocol's, docs/protocol.md "Versions").
inline constexpr char kSdkVersion[] = "2.0.0";

// What the device tells the server at check-in; the server's eligibility policy decides.
struct Eligibility {
  bool charging = false;
  bool unmetered_network = false;
  bool idle = false;
  int battery_percent = 0;  // 0..100
};

// Where a participation is; reported through Config::on_progress.
enum class Stage {
  kCheckingIn,
  kWaiting,          // long-polling for the round's next phase
  kAdvertisingKeys,  // SecAgg+ phase 1
  kSharingKeys,      // SecAgg+ phase 2
  kDownloadingModel,
  kTraining,
  kUploading,        // masked (or plain encoded) input, in chunks
  kUnmasking,        // SecAgg+ phase 4
  kBackingOff,       // after a transient error or a retry-later answer
  kDone,
};

struct Progress {
  Stage stage = Stage::kCheckingIn;
  std::string task_id;
  int64_t round_number = 0;
  // Progress inside the stage, 0..1, when it has one (download, upload); else 0.
  double fraction = 0.0;
};

enum class OutcomeKind {
  // The round committed and this device's input is in the sum.
  kContributed,
  // The round failed on the server (too few devices, aborted by an operator...).
  kRoundFailed,
  // The server dropped this device (missed a deadline) or the round went on without it.
  kDropped,
  // Pace steering: the server asked the device to check in again later, at `retry_at` or after.
  kRetryLater,
};

struct ParticipationOutcome {
  OutcomeKind kind = OutcomeKind::kDropped;
  std::string task_id;
  int64_t round_number = 0;
  // kContributed: the model version the round produced.
  int64_t new_model_version = 0;
  int32_t contributors = 0;
  // Why the round failed, the device was dropped, or the server asked to retry later.
  std::string reason;
  // kRetryLater: the SDK will not check in before this time.
  absl::Time retry_at = absl::InfinitePast();
};

// What UpdateInferenceModel left on the device.
struct InferenceModelUpdate {
  // True when a new artifact was downloaded, verified and cached by this call.
  bool changed = false;
  // The model version of the cached artifact (0 when there is none yet).
  int64_t model_version = 0;
  // The cached artifact (a serialized cohort.v1.InferenceModel), empty when there is none.
  std::string path;
  // Set when the server asked to come back later (pace steering): calls before this time return
  // the cached state without contacting the server.
  absl::Time retry_at = absl::InfinitePast();
};

// The least a device accepts of a round's secure aggregation. The device recomputes the bounds
// of the plan's neighbour degree and threshold (with the same parameter finder as the server)
// for the plan's own settings raised to these, and refuses the round when they do not hold.
struct SecAggPolicy {
  // Take part only in rounds that defend against a server lying about who dropped.
  bool require_semi_malicious = false;
  double min_dropout_rate = 0;
  double min_corrupted_fraction = 0;
  int min_security_bits = 40;
};

struct Config {
  // host:port of the server's device service.
  std::string server_address;
  // PEM root certificates to verify the server. Empty means plaintext, which Create allows only
  // for a loopback address (127.0.0.1, [::1], localhost) unless allow_insecure is set.
  std::string tls_root_certs_pem;
  bool allow_insecure = false;
  std::string population;
  // Returns the app's stable random device id (16 to 128 printable ASCII bytes). Called at each
  // check-in from the participation thread.
  std::function<std::string()> device_id_provider;
  // A directory private to the app: the SDK keeps the state of the round in flight here (keys
  // included, files mode 0600) and wipes it when the round ends. Created if missing. Must not be
  // shared by two live clients (Create takes a lock on it).
  std::string storage_dir;
  std::string sdk_version = kSdkVersion;

  // 32 bytes the app keeps in its platform key store (Android Keystore, iOS Keychain) and hands
  // the SDK at start: the round's state, the encoded input and the device's signing key are
  // sealed with it (AES-256-GCM) in storage_dir. Unset: those files are plaintext (mode 0600).
  std::function<std::string()> storage_key_provider;
  // Semi-malicious tasks need the device's Ed25519 key vouched for: return the credential for
  // `device_public_key` (32 bytes), e.g. the DER certificate the operator's device CA issued
  // for it (see Client::DevicePublicKey), or a platform attestation the server accepts.
  std::function<std::string(const std::string& device_public_key)> device_credential_provider;
  // PEM certificates of the operator's device CA: other devices' keys must carry a certificate
  // from it in semi-malicious rounds.
  std::string device_ca_pem;
  // Instead of device_ca_pem: the app's own check of a neighbour's key and credential (a Play
  // Integrity or App Attest verifier); OK means authentic.
  std::function<absl::Status(const std::string& public_key, const std::string& credential)>
      peer_key_verifier;
  SecAggPolicy secagg_policy;

  // Called from the participation thread; must not block for long nor call back into Client
  // except Cancel().
  std::function<void(const Progress&)> on_progress;
  // Transient and fatal errors, for logs and metrics; the SDK retries transient ones itself.
  std::function<void(const absl::Status&)> on_error;
  // Background loop only: each participation's outcome (its errors go to on_error).
  std::function<void(const ParticipationOutcome&)> on_outcome;

  // Per-call deadline of the unary calls (a long-poll gets long_poll on top of it).
  absl::Duration rpc_timeout = absl::Seconds(30);
  // Upper bound the SDK asks a WaitForPhase long-poll to wait (the server caps it at 30 s).
  absl::Duration long_poll = absl::Seconds(20);
  // Jittered exponential backoff of transient errors.
  absl::Duration initial_backoff = absl::Milliseconds(500);
  absl::Duration max_backoff = absl::Seconds(60);
  // Consecutive transient failures of check-in before RunOnce gives up with the last error.
  int max_check_in_attempts = 5;
  // Bytes per DownloadModel call; 0 lets the server pick (1 MiB). 256 KiB keeps the transient
  // buffers of a chunk small next to the model (see docs/benchmarks.md).
  int64_t download_chunk_bytes = 256 << 10;
  // Background loop: pause between participations when the server did not say when to return.
  absl::Duration loop_interval = absl::Minutes(15);
};

// Takes part in federated rounds of one population.
//
// RunOnce blocks for one participation (check-in to the round's end); StartBackgroundLoop runs
// participations on an SDK thread until Stop(). A round the SDK was part of is persisted in
// storage_dir, so a new Client with the same directory (after the app was killed) resumes it.
//
// This class is thread-safe: SetEligibility, Cancel and Stop may be called from any thread while
// a participation runs. At most one participation runs at a time.
class Client {
 public:
  // `trainer` is not owned and must outlive the Client. Returns INVALID_ARGUMENT for a missing
  // address, population, storage dir, device id provider or trainer, plaintext to a
  // non-loopback address without allow_insecure, a storage key that is not 32 bytes or a
  // device CA without certificates; FAILED_PRECONDITION when another client holds the storage
  // dir; the errno-derived code when it cannot be created.
  static absl::StatusOr<std::unique_ptr<Client>> Create(Config config, Trainer* trainer);

  virtual ~Client() = default;

  // Reported at the next check-in.
  virtual void SetEligibility(const Eligibility& eligibility) = 0;

  // The device's Ed25519 public key (32 bytes), made on first use and kept in storage_dir: what
  // an operator's device CA certifies (Config::device_credential_provider returns the result).
  virtual std::string DevicePublicKey() const = 0;

  // One participation attempt: resumes a persisted round or checks in, then follows the round
  // to its end. Returns the outcome; or CANCELLED after Cancel(); UNAVAILABLE / DEADLINE_EXCEEDED
  // when the server stayed unreachable past the retry budget or the phase deadline;
  // FAILED_PRECONDITION when a participation is already running or the server refused a call
  // that should have fitted; DATA_LOSS when the model failed its checksum repeatedly; the
  // trainer's error when training failed; NOT_FOUND / INVALID_ARGUMENT when the server rejected
  // the configuration (unknown population, bad device id or SDK version).
  virtual absl::StatusOr<ParticipationOutcome> RunOnce() = 0;

  // Runs participations until Stop(), sleeping until retry_at after a retry-later answer and
  // loop_interval otherwise (backing off after errors). Outcomes and errors go to the callbacks.
  // FAILED_PRECONDITION when a loop or RunOnce is already running.
  virtual absl::Status StartBackgroundLoop() = 0;
  // Stops the loop and waits for its thread; a running participation returns CANCELLED.
  virtual void Stop() = 0;

  // Brings the cached inference artifact of `format` up to the latest committed model of the
  // population's task (or `task_id`, when the population has several): one small call when it
  // did not change, else a chunked, resumable, checksummed download into
  // storage_dir/inference/. The previous artifact stays in place until the new one is
  // verified, so an app keeps running it. Independent of participations (it may run while one
  // does, from another thread); calls of UpdateInferenceModel itself are serialized.
  // Codes: NOT_FOUND for an unknown population or task; FAILED_PRECONDITION when the task has
  // no artifact of that format (no layer graph, no calibration data for int8); UNAVAILABLE /
  // DEADLINE_EXCEEDED when the server is unreachable (a partial download resumes next time);
  // DATA_LOSS after repeated checksum failures.
  virtual absl::StatusOr<InferenceModelUpdate> UpdateInferenceModel(
      InferenceFormat format, const std::string& task_id = "") = 0;

  // Makes a running participation return CANCELLED promptly (in-flight calls are cancelled).
  // The round's persisted state is kept: a later RunOnce resumes the round while it lasts.
  // A participation started after Cancel() runs normally.
  virtual void Cancel() = 0;
};

}  // namespace cohort::client

#endif  // COHORT_CLIENT_SDK_INCLUDE_COHORT_CLIENT_CLIENT_H_
