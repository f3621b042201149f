// The inference half of the C ABI (cohort_inference_model_*) over cohort::client::InferenceModel.
// Every entry point catches everything: no exception may unwind into a JNI or Swift caller.

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "client_sdk/src/c_api_error.h"
#include "cohort/client/inference.h"
#include "cohort/cohort_client.h"

struct cohort_inference_model {
  std::unique_ptr<cohort::client::InferenceModel> model;
};

namespace {

using cohort::client::InferenceEngine;
using cohort::client::InferenceModel;
using cohort::client::InferenceOptions;
using cohort::client::c_api::ClearLastError;
using cohort::client::c_api::Fail;
using cohort::client::c_api::FromStatus;

}  // namespace

extern "C" {

void cohort_inference_options_init(cohort_inference_options* options) {
  if (options != nullptr) std::memset(options, 0, sizeof(*options));
}

cohort_status cohort_inference_model_load(const void* artifact, size_t artifact_size,
                                          const cohort_inference_options* options,
                                          cohort_inference_model** out_model) {
  try {
    ClearLastError();
    if (out_model == nullptr) return Fail(COHORT_INVALID_ARGUMENT, "out_model must not be NULL");
    *out_model = nullptr;
    if (artifact == nullptr && artifact_size > 0) {
      return Fail(COHORT_INVALID_ARGUMENT, "artifact is NULL");
    }
    InferenceOptions o;
    if (options != nullptr) {
      if (options->engine != COHORT_INFERENCE_ENGINE_XNNPACK &&
          options->engine != COHORT_INFERENCE_ENGINE_EIGEN_REFERENCE) {
        return Fail(COHORT_INVALID_ARGUMENT,
                    absl::StrCat("unknown inference engine ", static_cast<int>(options->engine)));
      }
      o.engine = static_cast<InferenceEngine>(options->engine);
      if (options->num_threads != 0) o.num_threads = options->num_threads;
      if (options->max_concurrency != 0) o.max_concurrency = options->max_concurrency;
    }
    absl::StatusOr<std::unique_ptr<InferenceModel>> model = InferenceModel::Load(
        absl::string_view(static_cast<const char*>(artifact), artifact_size), o);
    if (!model.ok()) return FromStatus(model.status());
    auto handle = std::make_unique<cohort_inference_model>();
    handle->model = *std::move(model);
    *out_model = handle.release();
    return COHORT_OK;
  } catch (...) {
    return Fail(COHORT_INTERNAL, "unexpected C++ exception in cohort_inference_model_load");
  }
}

cohort_status cohort_inference_model_predict(const cohort_inference_model* model,
                                             const float* inputs, size_t num_inputs,
                                             int64_t batch, float* outputs, size_t num_outputs) {
  try {
    ClearLastError();
    if (model == nullptr || inputs == nullptr || outputs == nullptr) {
      return Fail(COHORT_INVALID_ARGUMENT, "model, inputs and outputs must not be NULL");
    }
    return FromStatus(model->model->Predict(absl::MakeConstSpan(inputs, num_inputs), batch,
                                            absl::MakeSpan(outputs, num_outputs)));
  } catch (...) {
    return Fail(COHORT_INTERNAL, "unexpected C++ exception in cohort_inference_model_predict");
  }
}

cohort_status cohort_inference_model_info(const cohort_inference_model* model,
                                          cohort_inference_info* out_info) {
  try {
    ClearLastError();
    if (model == nullptr || out_info == nullptr) {
      return Fail(COHORT_INVALID_ARGUMENT, "model and out_info must not be NULL");
    }
    std::memset(out_info, 0, sizeof(*out_info));
    const cohort::client::InferenceModelInfo& info = model->model->info();
    out_info->format = static_cast<cohort_inference_format>(info.format);
    out_info->model_version = info.model_version;
    out_info->input_rank = std::min<size_t>(info.input_shape.size(), 3);
    for (size_t i = 0; i < out_info->input_rank; ++i) out_info->input_shape[i] = info.input_shape[i];
    out_info->input_size = static_cast<size_t>(info.input_size);
    out_info->output_size = static_cast<size_t>(info.output_size);
    const size_t n = std::min(info.task_id.size(), sizeof(out_info->task_id) - 1);
    std::memcpy(out_info->task_id, info.task_id.data(), n);
    out_info->task_id[n] = '\0';
    return COHORT_OK;
  } catch (...) {
    return Fail(COHORT_INTERNAL, "unexpected C++ exception in cohort_inference_model_info");
  }
}

void cohort_inference_model_free(cohort_inference_model* model) {
  try {
    delete model;
  } catch (...) {
  }
}

}  // extern "C"
