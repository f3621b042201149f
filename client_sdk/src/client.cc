#include "cohort/client/client.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <atomic>
#include <memory>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "base/address.h"
#include "base/device_id.h"
#include "client_sdk/src/client_impl.h"
#include "client_sdk/src/inference_fetch.h"
#include "client_sdk/src/participation.h"
#include "client_sdk/src/session_store.h"
#include "client_sdk/src/transport.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "secagg/key_authenticity.h"
#include "secagg/signing.h"

namespace cohort::client {
namespace internal {
namespace {

// The app's own key check (Config::peer_key_verifier) as a verifier.
class FunctionVerifier final : public secagg::KeyAuthenticityVerifier {
 public:
  explicit FunctionVerifier(
      std::function<absl::Status(const std::string&, const std::string&)> check)
      : check_(std::move(check)) {}
  absl::Status Verify(const secagg::VerifyingKey& key, absl::string_view credential,
                      absl::Time now) const override {
    (void)now;
    absl::Status s = check_(key.ToBytes(), std::string(credential));
    if (s.ok()) return s;
    return absl::UnauthenticatedError(s.message());
  }

 private:
  std::function<absl::Status(const std::string&, const std::string&)> check_;
};

class ClientImpl final : public Client {
 public:
  ClientImpl(Config config, Trainer* trainer,
             std::shared_ptr<v1::DeviceService::StubInterface> stub,
             std::unique_ptr<SessionStore> store, Clock* clock, secagg::SigningKey identity,
             std::unique_ptr<secagg::KeyAuthenticityVerifier> verifier)
      : config_(std::move(config)),
        trainer_(trainer),
        stub_(std::move(stub)),
        store_(std::move(store)),
        clock_(clock != nullptr ? clock : Clock::Real()),
        transport_(stub_.get(), {.rpc_timeout = config_.rpc_timeout}),
        identity_(std::move(identity)),
        verifier_(std::move(verifier)),
        inference_transport_(stub_.get(), {.rpc_timeout = config_.rpc_timeout}),
        inference_(&inference_transport_,
                   {.dir = config_.storage_dir + "/inference",
                    .population = config_.population,
                    .device_id = config_.device_id_provider,
                    .sdk_version = config_.sdk_version,
                    .chunk_bytes = config_.download_chunk_bytes,
                    .clock = clock_,
                    .uniform01 = [this] {
                      absl::MutexLock lock(&inference_mu_);
                      return absl::Uniform(inference_bitgen_, 0.0, 1.0);
                    }}) {}

  std::string DevicePublicKey() const override { return identity_.verifying_key().ToBytes(); }

  ~ClientImpl() override { Stop(); }

  void SetEligibility(const Eligibility& eligibility) override {
    absl::MutexLock lock(&mu_);
    eligibility_ = eligibility;
  }

  absl::StatusOr<ParticipationOutcome> RunOnce() override {
    {
      absl::MutexLock lock(&mu_);
      if (running_ || loop_running_) {
        return absl::FailedPreconditionError("a participation is already running");
      }
      running_ = true;
    }
    absl::StatusOr<ParticipationOutcome> result = RunParticipation();
    absl::MutexLock lock(&mu_);
    running_ = false;
    return result;
  }

  absl::Status StartBackgroundLoop() override {
    absl::MutexLock lock(&mu_);
    if (running_ || loop_running_) {
      return absl::FailedPreconditionError("a participation or loop is already running");
    }
    loop_running_ = true;
    stopping_ = false;
    loop_ = std::thread([this] { Loop(); });
    return absl::OkStatus();
  }

  void Stop() override {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
      cancelled_ = true;
    }
    transport_.Cancel();
    if (loop_.joinable() && loop_.get_id() != std::this_thread::get_id()) loop_.join();
    absl::MutexLock lock(&mu_);
    loop_running_ = false;
  }

  absl::StatusOr<InferenceModelUpdate> UpdateInferenceModel(InferenceFormat format,
                                                            const std::string& task_id) override {
    absl::MutexLock lock(&inference_call_mu_);
    return inference_.Update(format == InferenceFormat::kInt8 ? v1::INFERENCE_FORMAT_INT8
                                                              : v1::INFERENCE_FORMAT_FLOAT32,
                             task_id);
  }

  void Cancel() override {
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
    }
    transport_.Cancel();
  }

 private:
  absl::StatusOr<ParticipationOutcome> RunParticipation() {
    ParticipationEnv env;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_ && loop_running_) return absl::CancelledError("client stopped");
      cancelled_ = false;
      env.eligibility = eligibility_;
    }
    transport_.Reset();
    env.transport = &transport_;
    env.store = store_.get();
    env.trainer = trainer_;
    env.clock = clock_;
    env.uniform01 = [this] { return absl::Uniform(bitgen_, 0.0, 1.0); };
    env.random64 = [this] { return absl::Uniform<uint64_t>(bitgen_); };
    env.sleep_until = [this](absl::Time until) { return SleepUntil(until); };
    env.cancelled = [this] {
      absl::MutexLock lock(&mu_);
      return cancelled_;
    };
    env.population = config_.population;
    env.sdk_version = config_.sdk_version;
    env.device_id = config_.device_id_provider;
    env.identity = &identity_;
    env.credential = config_.device_credential_provider;
    env.floor.require_semi_malicious = config_.secagg_policy.require_semi_malicious;
    env.floor.min_dropout_rate = config_.secagg_policy.min_dropout_rate;
    env.floor.min_corrupted_fraction = config_.secagg_policy.min_corrupted_fraction;
    env.floor.min_security_bits = config_.secagg_policy.min_security_bits;
    env.key_verifier = verifier_.get();
    env.long_poll = config_.long_poll;
    env.download_chunk_bytes = config_.download_chunk_bytes;
    env.policy.initial_backoff = config_.initial_backoff;
    env.policy.max_backoff = config_.max_backoff;
    env.policy.max_check_in_attempts = config_.max_check_in_attempts;
    env.on_progress = config_.on_progress;
    env.on_error = config_.on_error;
    return Participation(std::move(env)).Run();
  }

  // Cancellable wait on the real clock (the participation's own deadlines use clock_).
  bool SleepUntil(absl::Time until) {
    absl::MutexLock lock(&mu_);
    const absl::Duration left = until - clock_->Now();
    mu_.AwaitWithTimeout(absl::Condition(&cancelled_), left);
    return !cancelled_;
  }

  void Loop() {
    int consecutive_errors = 0;
    while (true) {
      absl::StatusOr<ParticipationOutcome> result = RunParticipation();
      absl::Time wake = clock_->Now() + config_.loop_interval;
      if (result.ok()) {
        consecutive_errors = 0;
        if (result->kind == OutcomeKind::kRetryLater) wake = result->retry_at;
        if (config_.on_outcome) config_.on_outcome(*result);
      } else if (result.status().code() != absl::StatusCode::kCancelled) {
        // Errors already went to on_error; come back sooner than loop_interval, backing off.
        ++consecutive_errors;
        absl::Duration backoff = config_.initial_backoff * (1 << std::min(consecutive_errors, 16));
        if (backoff > config_.loop_interval) backoff = config_.loop_interval;
        wake = clock_->Now() + backoff;
      }
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), wake - clock_->Now());
      if (stopping_) return;
    }
  }

  const Config config_;
  Trainer* const trainer_;
  const std::shared_ptr<v1::DeviceService::StubInterface> stub_;
  const std::unique_ptr<SessionStore> store_;
  Clock* const clock_;
  Transport transport_;
  const secagg::SigningKey identity_;
  const std::unique_ptr<secagg::KeyAuthenticityVerifier> verifier_;
  absl::BitGen bitgen_;  // used by the participation thread only
  // Inference fetches have their own transport: Cancel() of a participation leaves them be.
  Transport inference_transport_;
  absl::Mutex inference_mu_;
  absl::BitGen inference_bitgen_ ABSL_GUARDED_BY(inference_mu_);
  absl::Mutex inference_call_mu_;  // serializes UpdateInferenceModel
  InferenceFetcher inference_ ABSL_GUARDED_BY(inference_call_mu_);

  absl::Mutex mu_;
  Eligibility eligibility_ ABSL_GUARDED_BY(mu_);
  bool running_ ABSL_GUARDED_BY(mu_) = false;
  bool loop_running_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::thread loop_;
};

absl::Status ValidateConfig(const Config& config, const Trainer* trainer) {
  if (trainer == nullptr) return absl::InvalidArgumentError("trainer is null");
  if (config.population.empty()) return absl::InvalidArgumentError("population is empty");
  if (config.storage_dir.empty()) return absl::InvalidArgumentError("storage_dir is empty");
  if (!config.device_id_provider) {
    return absl::InvalidArgumentError("device_id_provider is not set");
  }
  // The server would refuse every check-in with a bad id; say so when the app creates the client.
  if (absl::Status s = ValidateDeviceId(config.device_id_provider()); !s.ok()) return s;
  if (config.sdk_version.empty()) return absl::InvalidArgumentError("sdk_version is empty");
  if (config.rpc_timeout <= absl::ZeroDuration() || config.long_poll < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("rpc_timeout must be positive, long_poll not negative");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckTransportSecurity(const Config& config) {
  if (config.server_address.empty()) return absl::InvalidArgumentError("server_address is empty");
  if (!config.tls_root_certs_pem.empty() || config.allow_insecure) return absl::OkStatus();
  if (IsLoopbackAddress(config.server_address)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "refusing plaintext to non-loopback address ", config.server_address,
      "; set tls_root_certs_pem (or allow_insecure for a trusted network)"));
}

absl::StatusOr<std::unique_ptr<Client>> CreateClientWithStub(
    Config config, Trainer* trainer, std::shared_ptr<v1::DeviceService::StubInterface> stub,
    Clock* clock) {
  if (absl::Status s = ValidateConfig(config, trainer); !s.ok()) return s;
  if (stub == nullptr) return absl::InvalidArgumentError("stub is null");
  std::string storage_key = config.storage_key_provider ? config.storage_key_provider() : "";
  absl::StatusOr<std::unique_ptr<SessionStore>> store =
      SessionStore::Open(config.storage_dir, std::move(storage_key));
  if (!store.ok()) return store.status();
  std::string fresh(secagg::kEd25519SeedSize, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(fresh.data()), static_cast<int>(fresh.size())) !=
      1) {
    return absl::InternalError("RAND_bytes failed");
  }
  absl::StatusOr<std::string> seed = (*store)->LoadOrCreateIdentity(fresh);
  OPENSSL_cleanse(fresh.data(), fresh.size());
  if (!seed.ok()) return seed.status();
  absl::StatusOr<secagg::SigningKey> identity = secagg::SigningKey::FromSeed(*seed);
  OPENSSL_cleanse(seed->data(), seed->size());
  if (!identity.ok()) return identity.status();
  std::unique_ptr<secagg::KeyAuthenticityVerifier> verifier;
  if (config.peer_key_verifier) {
    verifier = std::make_unique<FunctionVerifier>(config.peer_key_verifier);
  } else if (!config.device_ca_pem.empty()) {
    absl::StatusOr<std::unique_ptr<secagg::CertificateAuthorityVerifier>> ca =
        secagg::CertificateAuthorityVerifier::Create(config.device_ca_pem);
    if (!ca.ok()) return ca.status();
    verifier = *std::move(ca);
  }
  return std::unique_ptr<Client>(new ClientImpl(std::move(config), trainer, std::move(stub),
                                                *std::move(store), clock, *std::move(identity),
                                                std::move(verifier)));
}

}  // namespace internal

absl::StatusOr<std::unique_ptr<Client>> Client::Create(Config config, Trainer* trainer) {
  if (absl::Status s = internal::CheckTransportSecurity(config); !s.ok()) return s;
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      config.tls_root_certs_pem.empty()
          ? grpc::InsecureChannelCredentials()
          : grpc::SslCredentials({.pem_root_certs = config.tls_root_certs_pem});
  grpc::ChannelArguments args;
  // A phone that lost the network reconnects soon after it returns, not after gRPC's default
  // two-minute reconnect backoff; our own jittered backoff paces the calls.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 250);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 250);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
  args.SetMaxReceiveMessageSize(8 << 20);
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(config.server_address, credentials, args);
  std::shared_ptr<v1::DeviceService::StubInterface> stub = v1::DeviceService::NewStub(channel);
  return internal::CreateClientWithStub(std::move(config), trainer, std::move(stub));
}

}  // namespace cohort::client
