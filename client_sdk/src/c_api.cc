// The C ABI over cohort::client::Client. Every entry point catches everything: no exception
// (std::bad_alloc included) may unwind into a JNI or Swift caller.

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "base/version.h"
#include "client_sdk/src/c_api_error.h"
#include "cohort/client/client.h"
#include "cohort/cohort_client.h"

struct cohort_client {
  std::unique_ptr<cohort::client::Trainer> trainer;
  std::unique_ptr<cohort::client::Client> client;
};

namespace {

using cohort::client::Client;
using cohort::client::Config;
using cohort::client::ModelLayout;
using cohort::client::Trainer;
using cohort::client::TrainingParams;
using cohort::client::TrainingResult;
using cohort::client::c_api::Fail;
using cohort::client::c_api::FromStatus;

void CopyTruncated(const std::string& from, char* to, size_t capacity) {
  const size_t n = std::min(from.size(), capacity - 1);
  std::memcpy(to, from.data(), n);
  to[n] = '\0';
}

// Adapts the app's function-pointer trainer to the C++ Trainer interface.
class CTrainer : public Trainer {
 public:
  explicit CTrainer(cohort_trainer trainer) : trainer_(trainer) {}

  absl::StatusOr<TrainingResult> Train(const ModelLayout& layout,
                                       absl::Span<const float> parameters,
                                       const TrainingParams& params) override {
    std::vector<cohort_tensor_spec> tensors;
    tensors.reserve(layout.tensors.size());
    for (const auto& t : layout.tensors) {
      tensors.push_back({t.name.c_str(), t.shape.data(), t.shape.size()});
    }
    std::vector<const char*> keys;
    std::vector<double> values;
    int64_t round_number = 0;
    for (const auto& [key, value] : params.extra) {
      if (key == "round") round_number = static_cast<int64_t>(value);
      keys.push_back(key.c_str());
      values.push_back(value);
    }
    const cohort_training_params c_params = {params.local_epochs, params.batch_size,
                                             params.learning_rate, round_number, keys.data(),
                                             values.data(), keys.size()};
    TrainingResult result;
    result.parameters.resize(parameters.size());
    char message[512] = {0};
    const cohort_status status = trainer_.train(
        trainer_.user_data, tensors.data(), tensors.size(), parameters.data(), parameters.size(),
        &c_params, result.parameters.data(), &result.num_examples, &result.loss, message,
        sizeof(message));
    if (status != COHORT_OK) {
      message[sizeof(message) - 1] = '\0';
      return absl::Status(static_cast<absl::StatusCode>(status),
                          message[0] != '\0' ? message : "app trainer failed");
    }
    return result;
  }

  absl::StatusOr<cohort::client::EvaluationResult> Evaluate(const ModelLayout&,
                                                            absl::Span<const float>) override {
    return absl::UnimplementedError("the C trainer does not evaluate");
  }

 private:
  const cohort_trainer trainer_;
};

absl::Duration MillisOr(int64_t millis, absl::Duration fallback) {
  return millis > 0 ? absl::Milliseconds(millis) : fallback;
}

}  // namespace

extern "C" {

void cohort_config_init(cohort_config* config) {
  if (config != nullptr) std::memset(config, 0, sizeof(*config));
}

cohort_status cohort_client_create(const cohort_config* config, const cohort_trainer* trainer,
                                   cohort_client** out_client) {
  try {
    cohort::client::c_api::ClearLastError();
    if (config == nullptr || trainer == nullptr || out_client == nullptr) {
      return Fail(COHORT_INVALID_ARGUMENT, "config, trainer and out_client must not be NULL");
    }
    *out_client = nullptr;
    if (trainer->train == nullptr) return Fail(COHORT_INVALID_ARGUMENT, "trainer.train is NULL");
    if (config->device_id == nullptr) {
      return Fail(COHORT_INVALID_ARGUMENT, "config.device_id is NULL");
    }
    Config c;
    c.server_address = config->server_address != nullptr ? config->server_address : "";
    c.tls_root_certs_pem = config->tls_root_certs_pem != nullptr ? config->tls_root_certs_pem : "";
    c.allow_insecure = config->allow_insecure != 0;
    c.population = config->population != nullptr ? config->population : "";
    c.storage_dir = config->storage_dir != nullptr ? config->storage_dir : "";
    void* user_data = config->user_data;
    c.device_id_provider = [fn = config->device_id, user_data]() -> std::string {
      const char* id = fn(user_data);
      return id != nullptr ? id : "";
    };
    if (config->on_progress != nullptr) {
      c.on_progress = [fn = config->on_progress, user_data](const cohort::client::Progress& p) {
        fn(user_data, static_cast<cohort_stage>(p.stage), p.round_number, p.fraction);
      };
    }
    if (config->on_error != nullptr) {
      c.on_error = [fn = config->on_error, user_data](const absl::Status& s) {
        const std::string message(s.message());
        fn(user_data, static_cast<cohort_status>(s.code()), message.c_str());
      };
    }
    c.rpc_timeout = MillisOr(config->rpc_timeout_millis, c.rpc_timeout);
    c.initial_backoff = MillisOr(config->initial_backoff_millis, c.initial_backoff);
    c.max_backoff = MillisOr(config->max_backoff_millis, c.max_backoff);
    if (config->download_chunk_bytes > 0) c.download_chunk_bytes = config->download_chunk_bytes;
    if (config->storage_key != nullptr) {
      const std::string key(reinterpret_cast<const char*>(config->storage_key), 32);
      c.storage_key_provider = [key] { return key; };
    }
    if (config->device_ca_pem != nullptr) c.device_ca_pem = config->device_ca_pem;
    if (config->device_credential != nullptr && config->device_credential_size > 0) {
      const std::string credential(reinterpret_cast<const char*>(config->device_credential),
                                   config->device_credential_size);
      c.device_credential_provider = [credential](const std::string&) { return credential; };
    }
    c.secagg_policy.require_semi_malicious = config->require_semi_malicious != 0;

    auto handle = std::make_unique<cohort_client>();
    handle->trainer = std::make_unique<CTrainer>(*trainer);
    absl::StatusOr<std::unique_ptr<Client>> client =
        Client::Create(std::move(c), handle->trainer.get());
    if (!client.ok()) return FromStatus(client.status());
    handle->client = *std::move(client);
    *out_client = handle.release();
    return COHORT_OK;
  } catch (...) {
    return Fail(COHORT_INTERNAL, "unexpected C++ exception in cohort_client_create");
  }
}

cohort_status cohort_client_device_public_key(const cohort_client* client, uint8_t out[32]) {
  if (client == nullptr || out == nullptr) {
    return Fail(COHORT_INVALID_ARGUMENT, "client and out must not be NULL");
  }
  const std::string key = client->client->DevicePublicKey();
  std::memcpy(out, key.data(), std::min<size_t>(32, key.size()));
  return COHORT_OK;
}

void cohort_client_destroy(cohort_client* client) {
  try {
    delete client;  // ~Client stops the loop first; then the trainer goes.
  } catch (...) {
  }
}

cohort_status cohort_client_set_eligibility(cohort_client* client,
                                            const cohort_eligibility* eligibility) {
  if (client == nullptr || eligibility == nullptr) {
    return Fail(COHORT_INVALID_ARGUMENT, "client and eligibility must not be NULL");
  }
  client->client->SetEligibility({.charging = eligibility->charging != 0,
                                  .unmetered_network = eligibility->unmetered_network != 0,
                                  .idle = eligibility->idle != 0,
                                  .battery_percent = eligibility->battery_percent});
  return COHORT_OK;
}

cohort_status cohort_client_run_once(cohort_client* client, cohort_outcome* out) {
  try {
    cohort::client::c_api::ClearLastError();
    if (client == nullptr || out == nullptr) {
      return Fail(COHORT_INVALID_ARGUMENT, "client and out must not be NULL");
    }
    std::memset(out, 0, sizeof(*out));
    absl::StatusOr<cohort::client::ParticipationOutcome> outcome = client->client->RunOnce();
    if (!outcome.ok()) return FromStatus(outcome.status());
    out->kind = static_cast<cohort_outcome_kind>(outcome->kind);
    out->round_number = outcome->round_number;
    out->new_model_version = outcome->new_model_version;
    out->contributors = outcome->contributors;
    out->retry_at_unix_millis =
        outcome->retry_at == absl::InfinitePast() ? 0 : absl::ToUnixMillis(outcome->retry_at);
    CopyTruncated(outcome->task_id, out->task_id, sizeof(out->task_id));
    CopyTruncated(outcome->reason, out->reason, sizeof(out->reason));
    return COHORT_OK;
  } catch (...) {
    return Fail(COHORT_INTERNAL, "unexpected C++ exception in cohort_client_run_once");
  }
}

cohort_status cohort_client_start_background_loop(cohort_client* client) {
  try {
    if (client == nullptr) return Fail(COHORT_INVALID_ARGUMENT, "client is NULL");
    return FromStatus(client->client->StartBackgroundLoop());
  } catch (...) {
    return Fail(COHORT_INTERNAL, "unexpected C++ exception starting the loop");
  }
}

void cohort_client_stop(cohort_client* client) {
  try {
    if (client != nullptr) client->client->Stop();
  } catch (...) {
  }
}

void cohort_client_cancel(cohort_client* client) {
  if (client != nullptr) client->client->Cancel();
}

const char* cohort_last_error_message(void) { return cohort::client::c_api::LastErrorMessage(); }

const char* cohort_status_name(cohort_status status) {
  static const char* const kNames[] = {
      "OK",          "CANCELLED",          "UNKNOWN",       "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED", "NOT_FOUND",    "ALREADY_EXISTS", "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
      "UNIMPLEMENTED", "INTERNAL",         "UNAVAILABLE",   "DATA_LOSS",
      "UNAUTHENTICATED"};
  const int i = static_cast<int>(status);
  return i >= 0 && i <= 16 ? kNames[i] : "UNKNOWN";
}

// The SDK speaks the protocol version the server requires.
static_assert(cohort::client::kSdkVersion[0] - '0' == cohort::kProtocolMajorVersion &&
                  cohort::client::kSdkVersion[1] == '.',
              "kSdkVersion's major must be the protocol's major version (base/version.h)");

const char* cohort_sdk_version(void) { return cohort::client::kSdkVersion; }

}  // extern "C"
