/* The inference half of the C ABI (cohort_inference_model_*) from a plain C11 program linked
 * against libcohort_client.so only, like an app. The artifacts and expected outputs come from
 * inference_fixture_writer (run first by CTest), since generating them needs the C++ model code.
 *
 *   c_api_inference_test FIXTURE_DIR
 *
 * Prints "N passed, M failed" and exits non-zero on any failure. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cohort/cohort_client.h"

static int passed, failed;

#define CHECK(cond)                                                  \
  do {                                                               \
    if (cond) {                                                      \
      ++passed;                                                      \
    } else {                                                         \
      ++failed;                                                      \
      fprintf(stderr, "%s:%d: CHECK failed: %s (last error: %s)\n", __FILE__, __LINE__, #cond, \
              cohort_last_error_message());                          \
    }                                                                \
  } while (0)

static char* read_file(const char* dir, const char* name, size_t* size) {
  char path[4096];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  FILE* f = fopen(path, "rb");
  if (f == NULL) {
    fprintf(stderr, "cannot open %s\n", path);
    exit(2);
  }
  fseek(f, 0, SEEK_END);
  *size = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  char* data = malloc(*size > 0 ? *size : 1);
  if (fread(data, 1, *size, f) != *size) exit(2);
  fclose(f);
  return data;
}

static cohort_inference_model* load(const char* dir, const char* name, cohort_inference_engine e) {
  size_t size = 0;
  char* bytes = read_file(dir, name, &size);
  cohort_inference_options options;
  cohort_inference_options_init(&options);
  options.engine = e;
  cohort_inference_model* model = NULL;
  cohort_status status = cohort_inference_model_load(bytes, size, &options, &model);
  free(bytes);
  CHECK(status == COHORT_OK);
  return model;
}

typedef struct {
  const cohort_inference_model* model;
  const float* image;
  const float* expected;
  int mismatches;
} worker_args;

static void* worker(void* p) {
  worker_args* a = p;
  float out[10];
  for (int call = 0; call < 50; ++call) {
    if (cohort_inference_model_predict(a->model, a->image, 784, 1, out, 10) != COHORT_OK ||
        memcmp(out, a->expected, sizeof(out)) != 0) {
      ++a->mismatches;
    }
  }
  return NULL;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s FIXTURE_DIR\n", argv[0]);
    return 2;
  }
  const char* dir = argv[1];
  size_t n = 0;
  float* inputs = (float*)read_file(dir, "inputs.f32", &n);
  CHECK(n == 4 * 784 * sizeof(float));
  float* expected_float = (float*)read_file(dir, "cnn_float.expected.f32", &n);
  float* expected_int8 = (float*)read_file(dir, "cnn_int8.expected.f32", &n);

  /* FLOAT32 on both engines against the Eigen reference's numbers. */
  const cohort_inference_engine engines[2] = {COHORT_INFERENCE_ENGINE_XNNPACK,
                                              COHORT_INFERENCE_ENGINE_EIGEN_REFERENCE};
  for (int e = 0; e < 2; ++e) {
    cohort_inference_model* model = load(dir, "cnn_float.pb", engines[e]);
    if (model == NULL) continue;
    cohort_inference_info info;
    CHECK(cohort_inference_model_info(model, &info) == COHORT_OK);
    CHECK(info.format == COHORT_INFERENCE_FORMAT_FLOAT32);
    CHECK(info.model_version == 3);
    CHECK(strcmp(info.task_id, "fixture-task") == 0);
    CHECK(info.input_rank == 3 && info.input_shape[0] == 1 && info.input_shape[1] == 28 &&
          info.input_shape[2] == 28);
    CHECK(info.input_size == 784 && info.output_size == 10);
    float out[40];
    CHECK(cohort_inference_model_predict(model, inputs, 4 * 784, 4, out, 40) == COHORT_OK);
    float worst = 0;
    for (int i = 0; i < 40; ++i) worst = fmaxf(worst, fabsf(out[i] - expected_float[i]));
    CHECK(worst < 1e-4f);
    cohort_inference_model_free(model);
  }

  /* INT8 through the C ABI gives exactly the C++ API's numbers, from several threads at once. */
  cohort_inference_model* int8 = load(dir, "cnn_int8.pb", COHORT_INFERENCE_ENGINE_XNNPACK);
  if (int8 != NULL) {
    cohort_inference_info info;
    CHECK(cohort_inference_model_info(int8, &info) == COHORT_OK);
    CHECK(info.format == COHORT_INFERENCE_FORMAT_INT8);
    float out[40];
    CHECK(cohort_inference_model_predict(int8, inputs, 4 * 784, 4, out, 40) == COHORT_OK);
    CHECK(memcmp(out, expected_int8, sizeof(out)) == 0);
    pthread_t threads[4];
    worker_args args[4];
    for (int t = 0; t < 4; ++t) {
      args[t] = (worker_args){int8, inputs + t * 784, expected_int8 + t * 10, 0};
      pthread_create(&threads[t], NULL, worker, &args[t]);
    }
    for (int t = 0; t < 4; ++t) {
      pthread_join(threads[t], NULL);
      CHECK(args[t].mismatches == 0);
    }
    /* Wrong counts and NULLs are refused with a message, nothing is written. */
    CHECK(cohort_inference_model_predict(int8, inputs, 783, 1, out, 10) == COHORT_INVALID_ARGUMENT);
    CHECK(strlen(cohort_last_error_message()) > 0);
    CHECK(cohort_inference_model_predict(int8, inputs, 784, 1, out, 9) == COHORT_INVALID_ARGUMENT);
    CHECK(cohort_inference_model_predict(NULL, inputs, 784, 1, out, 10) == COHORT_INVALID_ARGUMENT);
    CHECK(cohort_inference_model_predict(int8, inputs, 784, 1, out, 10) == COHORT_OK);
    CHECK(strlen(cohort_last_error_message()) == 0);
    cohort_inference_model_free(int8);
  }
  /* The Eigen reference refuses INT8. */
  {
    size_t size = 0;
    char* bytes = read_file(dir, "cnn_int8.pb", &size);
    cohort_inference_options options;
    cohort_inference_options_init(&options);
    options.engine = COHORT_INFERENCE_ENGINE_EIGEN_REFERENCE;
    cohort_inference_model* model = NULL;
    CHECK(cohort_inference_model_load(bytes, size, &options, &model) == COHORT_INVALID_ARGUMENT);
    CHECK(model == NULL);
    options.engine = COHORT_INFERENCE_ENGINE_XNNPACK;
    options.num_threads = -1;
    CHECK(cohort_inference_model_load(bytes, size, &options, &model) == COHORT_INVALID_ARGUMENT);
    /* Cut short: not an artifact any more, or one missing its data. */
    cohort_status cut = cohort_inference_model_load(bytes, size / 2, NULL, &model);
    CHECK(cut == COHORT_DATA_LOSS || cut == COHORT_INVALID_ARGUMENT);
    free(bytes);
  }

  /* A model the engine cannot run is refused at load, the layer named. */
  {
    size_t size = 0;
    char* bytes = read_file(dir, "unrunnable.pb", &size);
    cohort_inference_model* model = NULL;
    CHECK(cohort_inference_model_load(bytes, size, NULL, &model) == COHORT_UNIMPLEMENTED);
    CHECK(strstr(cohort_last_error_message(), "'subsample'") != NULL);
    CHECK(model == NULL);
    free(bytes);
    const char garbage[] = "definitely not a protobuf \xff\xff\xff";
    CHECK(cohort_inference_model_load(garbage, sizeof(garbage), NULL, &model) == COHORT_DATA_LOSS);
    CHECK(cohort_inference_model_load(NULL, 0, NULL, &model) == COHORT_DATA_LOSS);
    CHECK(cohort_inference_model_load(garbage, sizeof(garbage), NULL, NULL) ==
          COHORT_INVALID_ARGUMENT);
  }
  cohort_inference_model_free(NULL);

  free(inputs);
  free(expected_float);
  free(expected_int8);
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
