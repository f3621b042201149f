/*
 * The C ABI of the Cohort client SDK, for Kotlin (through JNI) and Swift (through its C interop).
 * Plain C types and opaque handles; no C++ exception ever crosses it. Every function that can
 * fail returns a cohort_status; on failure cohort_last_error_message() describes it.
 *
 *   cohort_config config;
 *   cohort_config_init(&config);
 *   config.server_address = "fl.example.com:443";
 *   config.tls_root_certs_pem = roots;
 *   config.population = "keyboard/en";
 *   config.storage_dir = files_dir;
 *   config.device_id = my_device_id;               // const char* (*)(void*)
 *   cohort_trainer trainer = {.user_data = app, .train = my_train};
 *   cohort_client* client = NULL;
 *   if (cohort_client_create(&config, &trainer, &client) != COHORT_OK) {
 *     log(cohort_last_error_message());
 *   }
 *   cohort_outcome outcome;
 *   cohort_status status = cohort_client_run_once(client, &outcome);
 *   cohort_client_destroy(client);
 *
 * Thread-safety: a cohort_client may be used from several threads: run_once blocks its caller
 * while cancel, stop and set_eligibility may come from any thread. Callbacks (trainer,
 * progress, errors, device id) run on the thread that runs the participation; device_id is
 * also called once by cohort_client_create, on its caller's thread, to check the id.
 *
 * Inference (cohort_inference_model_*, docs/inference.md) runs the global model from an artifact
 * the app holds:
 *
 *   cohort_inference_model* model = NULL;
 *   if (cohort_inference_model_load(bytes, size, NULL, &model) != COHORT_OK) {
 *     log(cohort_last_error_message());            // e.g. the layer the engine cannot run
 *   }
 *   float probabilities[10];
 *   cohort_inference_model_predict(model, image, 784, 1, probabilities, 10);
 *   cohort_inference_model_free(model);
 */
#ifndef COHORT_CLIENT_SDK_INCLUDE_COHORT_COHORT_CLIENT_H_
#define COHORT_CLIENT_SDK_INCLUDE_COHORT_COHORT_CLIENT_H_

#include <stddef.h>
#include <stdint.h>

#if defined(COHORT_CLIENT_BUILDING_SHARED)
#define COHORT_EXPORT __attribute__((visibility("default")))
#else
#define COHORT_EXPORT
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The same numbers as absl::StatusCode and grpc::StatusCode. */
typedef enum cohort_status {
  COHORT_OK = 0,
  COHORT_CANCELLED = 1,
  COHORT_UNKNOWN = 2,
  COHORT_INVALID_ARGUMENT = 3,
  COHORT_DEADLINE_EXCEEDED = 4,
  COHORT_NOT_FOUND = 5,
  COHORT_ALREADY_EXISTS = 6,
  COHORT_PERMISSION_DENIED = 7,
  COHORT_RESOURCE_EXHAUSTED = 8,
  COHORT_FAILED_PRECONDITION = 9,
  COHORT_ABORTED = 10,
  COHORT_OUT_OF_RANGE = 11,
  COHORT_UNIMPLEMENTED = 12,
  COHORT_INTERNAL = 13,
  COHORT_UNAVAILABLE = 14,
  COHORT_DATA_LOSS = 15,
  COHORT_UNAUTHENTICATED = 16
} cohort_status;

typedef struct cohort_client cohort_client;

typedef struct cohort_eligibility {
  int charging;          /* booleans: 0 or 1 */
  int unmetered_network;
  int idle;
  int battery_percent;   /* 0..100 */
} cohort_eligibility;

typedef struct cohort_tensor_spec {
  const char* name;
  const int64_t* shape;
  size_t rank;
} cohort_tensor_spec;

typedef struct cohort_training_params {
  int32_t local_epochs;
  int32_t batch_size;
  double learning_rate;
  int64_t round_number;
  /* The plan's free-form hyper-parameters. */
  const char* const* extra_keys;
  const double* extra_values;
  size_t num_extra;
} cohort_training_params;

/*
 * The app's trainer. train() reads `num_parameters` floats (the tensors in order, row-major),
 * trains on local data that never leaves the app, writes the trained parameters into
 * `out_parameters` (same length, owned by the SDK), the local example count into
 * `out_num_examples` and the last epoch's mean loss into `out_loss`. On failure it returns a
 * code other than COHORT_OK and may write a NUL-terminated message into `error_message`
 * (capacity `error_message_size`); the SDK then leaves the round.
 */
typedef struct cohort_trainer {
  void* user_data;
  cohort_status (*train)(void* user_data, const cohort_tensor_spec* tensors, size_t num_tensors,
                         const float* parameters, size_t num_parameters,
                         const cohort_training_params* params, float* out_parameters,
                         int64_t* out_num_examples, double* out_loss, char* error_message,
                         size_t error_message_size);
} cohort_trainer;

typedef enum cohort_stage {
  COHORT_STAGE_CHECKING_IN = 0,
  COHORT_STAGE_WAITING = 1,
  COHORT_STAGE_ADVERTISING_KEYS = 2,
  COHORT_STAGE_SHARING_KEYS = 3,
  COHORT_STAGE_DOWNLOADING_MODEL = 4,
  COHORT_STAGE_TRAINING = 5,
  COHORT_STAGE_UPLOADING = 6,
  COHORT_STAGE_UNMASKING = 7,
  COHORT_STAGE_BACKING_OFF = 8,
  COHORT_STAGE_DONE = 9
} cohort_stage;

typedef enum cohort_outcome_kind {
  COHORT_OUTCOME_CONTRIBUTED = 0,  /* the round committed with this device's input */
  COHORT_OUTCOME_ROUND_FAILED = 1,
  COHORT_OUTCOME_DROPPED = 2,
  COHORT_OUTCOME_RETRY_LATER = 3   /* check in again at retry_at_unix_millis or later */
} cohort_outcome_kind;

typedef struct cohort_outcome {
  cohort_outcome_kind kind;
  int64_t round_number;
  int64_t new_model_version;
  int32_t contributors;
  int64_t retry_at_unix_millis;
  char task_id[128];  /* NUL-terminated, truncated if longer */
  char reason[256];   /* NUL-terminated, truncated if longer */
} cohort_outcome;

typedef void (*cohort_progress_fn)(void* user_data, cohort_stage stage, int64_t round_number,
                                   double fraction);
typedef void (*cohort_error_fn)(void* user_data, cohort_status code, const char* message);
/* Returns the app's stable random device id; the string must stay valid until the next call. */
typedef const char* (*cohort_device_id_fn)(void* user_data);

typedef struct cohort_config {
  const char* server_address;
  const char* tls_root_certs_pem;  /* NULL or "" = plaintext, loopback only unless allowed */
  int allow_insecure;
  const char* population;
  const char* storage_dir;
  cohort_device_id_fn device_id;
  cohort_progress_fn on_progress;  /* optional */
  cohort_error_fn on_error;        /* optional */
  void* user_data;                 /* passed to device_id, on_progress and on_error */
  int64_t rpc_timeout_millis;      /* 0 = default (30 s) */
  int64_t initial_backoff_millis;  /* 0 = default (500 ms) */
  int64_t max_backoff_millis;      /* 0 = default (60 s) */
  int64_t download_chunk_bytes;    /* 0 = default (256 KiB) */
  /* NULL, or 32 bytes the app keeps in its platform key store (Android Keystore, iOS Keychain):
   * the round's state, encoded input and device key are sealed with it in storage_dir. */
  const uint8_t* storage_key;
  /* Semi-malicious rounds: PEM of the operator's device CA, and the DER certificate it issued
   * for this device's key (cohort_client_device_public_key). NULL when unused. */
  const char* device_ca_pem;
  const uint8_t* device_credential;
  size_t device_credential_size;
  int require_semi_malicious; /* refuse rounds that do not defend against a lying server */
} cohort_config;

/* Zeroes `config` (all defaults). */
COHORT_EXPORT void cohort_config_init(cohort_config* config);

/* INVALID_ARGUMENT for a missing field or plaintext to a non-loopback address;
 * FAILED_PRECONDITION when another client uses storage_dir. `trainer` is copied. */
COHORT_EXPORT cohort_status cohort_client_create(const cohort_config* config,
                                                 const cohort_trainer* trainer,
                                                 cohort_client** out_client);
/* The device's Ed25519 public key (32 bytes into `out`), for the operator's device CA. */
COHORT_EXPORT cohort_status cohort_client_device_public_key(const cohort_client* client,
                                                            uint8_t out[32]);
/* Stops any background loop and frees the client. NULL is ignored. */
COHORT_EXPORT void cohort_client_destroy(cohort_client* client);

COHORT_EXPORT cohort_status cohort_client_set_eligibility(cohort_client* client,
                                                          const cohort_eligibility* eligibility);
/* One participation; fills `out` on COHORT_OK. Codes as Client::RunOnce (client.h). */
COHORT_EXPORT cohort_status cohort_client_run_once(cohort_client* client, cohort_outcome* out);
COHORT_EXPORT cohort_status cohort_client_start_background_loop(cohort_client* client);
COHORT_EXPORT void cohort_client_stop(cohort_client* client);
/* A running participation returns COHORT_CANCELLED promptly. Safe from any thread. */
COHORT_EXPORT void cohort_client_cancel(cohort_client* client);

/* ---- Inference ---- */

typedef struct cohort_inference_model cohort_inference_model;

typedef enum cohort_inference_engine {
  COHORT_INFERENCE_ENGINE_XNNPACK = 0,         /* FLOAT32 and INT8 artifacts */
  COHORT_INFERENCE_ENGINE_EIGEN_REFERENCE = 1  /* FLOAT32 only: the training forward pass */
} cohort_inference_engine;

/* The numbers of cohort.v1.InferenceFormat. */
typedef enum cohort_inference_format {
  COHORT_INFERENCE_FORMAT_FLOAT32 = 1,
  COHORT_INFERENCE_FORMAT_INT8 = 2
} cohort_inference_format;

typedef struct cohort_inference_options {
  cohort_inference_engine engine;
  int32_t num_threads;      /* 0 = default (1: run on the calling thread) */
  int32_t max_concurrency;  /* 0 = default (4): predict calls running in parallel */
} cohort_inference_options;

typedef struct cohort_inference_info {
  cohort_inference_format format;
  int64_t model_version;
  int64_t input_shape[3];  /* [features] or [channels, height, width]; unused entries 0 */
  size_t input_rank;
  size_t input_size;       /* floats per example */
  size_t output_size;      /* floats per example (probabilities or logits) */
  char task_id[128];       /* NUL-terminated, truncated if longer */
} cohort_inference_info;

/* Zeroes `options` (all defaults). */
COHORT_EXPORT void cohort_inference_options_init(cohort_inference_options* options);

/* Loads an inference artifact (a serialized cohort.v1.InferenceModel; the bytes are not kept).
 * `options` may be NULL. DATA_LOSS for bytes that are not an artifact, INVALID_ARGUMENT for an
 * inconsistent one or bad options, UNIMPLEMENTED for a layer the engine cannot run (the message
 * names it), UNAVAILABLE for a CPU XNNPACK does not support. */
COHORT_EXPORT cohort_status cohort_inference_model_load(const void* artifact, size_t artifact_size,
                                                        const cohort_inference_options* options,
                                                        cohort_inference_model** out_model);

/* `inputs` holds `batch` examples (batch * input_size floats, each image row-major C, H, W);
 * `outputs` receives batch * output_size floats. INVALID_ARGUMENT when the counts disagree.
 * Safe from several threads at once on one model. */
COHORT_EXPORT cohort_status cohort_inference_model_predict(const cohort_inference_model* model,
                                                           const float* inputs, size_t num_inputs,
                                                           int64_t batch, float* outputs,
                                                           size_t num_outputs);

COHORT_EXPORT cohort_status cohort_inference_model_info(const cohort_inference_model* model,
                                                        cohort_inference_info* out_info);

/* Frees the model; NULL is ignored. No predict call may be running on it. */
COHORT_EXPORT void cohort_inference_model_free(cohort_inference_model* model);

/* The message of the last failed call on this thread ("" if none); valid until the next call
 * into the SDK on this thread. */
COHORT_EXPORT const char* cohort_last_error_message(void);
COHORT_EXPORT const char* cohort_status_name(cohort_status status);
COHORT_EXPORT const char* cohort_sdk_version(void);

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif  /* COHORT_CLIENT_SDK_INCLUDE_COHORT_COHORT_CLIENT_H_ */
