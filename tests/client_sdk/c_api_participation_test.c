/* Runs a federated round through the SDK's C ABI only (cohort/cohort_client.h), as a JNI or Swift
 * wrapper would: three devices with a trivial C trainer against a real server on loopback, with
 * secure aggregation. The server runs in its own process (argv[1], client_sdk_test_server), so
 * this program links nothing but libcohort_client.so. Exit code 0 on success. Plain C11. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cohort/cohort_client.h"

#define DEVICES 3
#define INPUTS 4
#define CLASSES 3

typedef struct {
  char device_id[64];
  char storage_dir[256];
  const char* address;
  int trained;
  int progress_calls;
  cohort_status status;
  cohort_outcome outcome;
  char error[256];
} device;

static const char* device_id(void* user_data) { return ((device*)user_data)->device_id; }

static void on_progress(void* user_data, cohort_stage stage, int64_t round, double fraction) {
  (void)stage;
  (void)round;
  (void)fraction;
  ((device*)user_data)->progress_calls++;
}

/* "Training": move every parameter by +0.01 and claim 10 local examples. */
static cohort_status train(void* user_data, const cohort_tensor_spec* tensors, size_t num_tensors,
                           const float* parameters, size_t num_parameters,
                           const cohort_training_params* params, float* out_parameters,
                           int64_t* out_num_examples, double* out_loss, char* error_message,
                           size_t error_message_size) {
  device* d = (device*)user_data;
  if (num_tensors != 2 || num_parameters != (size_t)(INPUTS * CLASSES + CLASSES) ||
      tensors[0].rank != 2 || params->local_epochs < 1) {
    snprintf(error_message, error_message_size, "unexpected layout");
    return COHORT_INVALID_ARGUMENT;
  }
  for (size_t i = 0; i < num_parameters; ++i) out_parameters[i] = parameters[i] + 0.01f;
  *out_num_examples = 10;
  *out_loss = 0.5;
  d->trained = 1;
  return COHORT_OK;
}

static void* run_device(void* arg) {
  device* d = (device*)arg;
  cohort_config config;
  cohort_config_init(&config);
  config.server_address = d->address;
  config.population = "c-abi";
  config.storage_dir = d->storage_dir;
  config.device_id = device_id;
  config.on_progress = on_progress;
  config.user_data = d;
  config.initial_backoff_millis = 100;
  config.max_backoff_millis = 1000;
  cohort_trainer trainer = {d, train};
  cohort_client* client = NULL;
  d->status = cohort_client_create(&config, &trainer, &client);
  if (d->status != COHORT_OK) {
    snprintf(d->error, sizeof(d->error), "create: %s", cohort_last_error_message());
    return NULL;
  }
  cohort_eligibility eligibility = {1, 1, 1, 90};
  cohort_client_set_eligibility(client, &eligibility);
  d->status = cohort_client_run_once(client, &d->outcome);
  if (d->status != COHORT_OK) {
    snprintf(d->error, sizeof(d->error), "run_once: %s", cohort_last_error_message());
  }
  cohort_client_destroy(client);
  return NULL;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s PATH/client_sdk_test_server\n", argv[0]);
    return 2;
  }
  /* Misuse is reported through codes and messages, never a crash. */
  cohort_client* bad = NULL;
  cohort_config empty;
  cohort_config_init(&empty);
  cohort_trainer no_train = {NULL, NULL};
  if (cohort_client_create(&empty, &no_train, &bad) != COHORT_INVALID_ARGUMENT || bad != NULL ||
      strlen(cohort_last_error_message()) == 0) {
    fprintf(stderr, "FAIL: create with an empty config did not fail cleanly\n");
    return 1;
  }
  /* A device id the server would refuse is refused at creation, naming the rule. */
  device short_id = {.device_id = "too-short"};
  char short_id_dir[] = "/tmp/cohort_c_api_id_XXXXXX";
  if (mkdtemp(short_id_dir) == NULL) return 1;
  cohort_config with_short_id;
  cohort_config_init(&with_short_id);
  with_short_id.server_address = "127.0.0.1:1";
  with_short_id.population = "c-abi";
  with_short_id.storage_dir = short_id_dir;
  with_short_id.device_id = device_id;
  with_short_id.user_data = &short_id;
  cohort_trainer trainer = {&short_id, train};
  if (cohort_client_create(&with_short_id, &trainer, &bad) != COHORT_INVALID_ARGUMENT ||
      bad != NULL || strstr(cohort_last_error_message(), "device_id must be 16 to 128") == NULL) {
    fprintf(stderr, "FAIL: a 9-byte device id was not refused at creation: '%s'\n",
            cohort_last_error_message());
    return 1;
  }
  rmdir(short_id_dir);
  if (strcmp(cohort_status_name(COHORT_UNAVAILABLE), "UNAVAILABLE") != 0) {
    fprintf(stderr, "FAIL: status names\n");
    return 1;
  }

  char root[] = "/tmp/cohort_c_api_XXXXXX";
  if (mkdtemp(root) == NULL) return 1;
  /* The server serves until this file exists: until every device here is done, however slowly
   * a loaded machine ran them. */
  char done_file[64];
  snprintf(done_file, sizeof(done_file), "%s/done", root);
  char command[1024];
  snprintf(command, sizeof(command), "'%s' --population=c-abi --devices=%d --secagg=1 "
           "--inputs=%d --classes=%d --done_file='%s'", argv[1], DEVICES, INPUTS, CLASSES,
           done_file);
  FILE* server = popen(command, "r");
  char line[256];
  int started = 0;
  while (server != NULL && fgets(line, sizeof(line), server) != NULL) {
    if (strncmp(line, "address=", 8) == 0) {
      started = 1;
      break;
    }
  }
  if (!started) {
    fprintf(stderr, "FAIL: test server did not start\n");
    return 1;
  }
  line[strcspn(line, "\n")] = '\0';
  const char* address = line + 8;

  device devices[DEVICES];
  pthread_t threads[DEVICES];
  memset(devices, 0, sizeof(devices));
  for (int i = 0; i < DEVICES; ++i) {
    snprintf(devices[i].device_id, sizeof(devices[i].device_id), "c-abi-device-%04d-0123456789", i);
    snprintf(devices[i].storage_dir, sizeof(devices[i].storage_dir), "%s/d%d", root, i);
    devices[i].address = address;
    pthread_create(&threads[i], NULL, run_device, &devices[i]);
  }
  int failures = 0;
  for (int i = 0; i < DEVICES; ++i) {
    pthread_join(threads[i], NULL);
    const device* d = &devices[i];
    if (d->status != COHORT_OK) {
      fprintf(stderr, "FAIL: device %d: %s (%s)\n", i, cohort_status_name(d->status), d->error);
      ++failures;
    } else if (d->outcome.kind != COHORT_OUTCOME_CONTRIBUTED || !d->trained ||
               d->outcome.new_model_version != 1 || d->progress_calls == 0) {
      fprintf(stderr, "FAIL: device %d: outcome %d version %lld trained %d reason '%s'\n", i,
              (int)d->outcome.kind, (long long)d->outcome.new_model_version, d->trained,
              d->outcome.reason);
      ++failures;
    }
  }
  FILE* done = fopen(done_file, "w");
  if (done != NULL) fclose(done);
  /* The server's own account: the round committed model version 1. */
  char summary[256] = "";
  while (fgets(summary, sizeof(summary), server) != NULL &&
         strncmp(summary, "committed=", 10) != 0) {
  }
  if (strncmp(summary, "committed=1 version=1", 21) != 0) {
    fprintf(stderr, "FAIL: server reports '%s'\n", summary);
    ++failures;
  }
  if (pclose(server) != 0) ++failures;
  snprintf(command, sizeof(command), "rm -rf '%s'", root);
  if (system(command) != 0) fprintf(stderr, "warning: could not remove %s\n", root);
  if (failures == 0) printf("PASS: %d devices contributed through the C ABI\n", DEVICES);
  return failures == 0 ? 0 : 1;
}
