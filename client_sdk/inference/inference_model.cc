// cohort::client::InferenceModel (the SDK's public inference API) over the engine.
#include "cohort/client/inference.h"

#include <utility>

#include "base/status_macros.h"
#include "client_sdk/inference/artifact.h"
#include "client_sdk/inference/engine.h"

namespace cohort::client {

InferenceModel::InferenceModel(InferenceModelInfo info, std::unique_ptr<inference::Engine> engine)
    : info_(std::move(info)), engine_(std::move(engine)) {}

InferenceModel::~InferenceModel() = default;

absl::StatusOr<std::unique_ptr<InferenceModel>> InferenceModel::Load(
    absl::string_view artifact_bytes, const InferenceOptions& options) {
  COHORT_ASSIGN_OR_RETURN(cohort::v1::InferenceModel artifact,
                          inference::ParseArtifact(artifact_bytes));
  inference::EngineOptions engine_options;
  engine_options.kind = options.engine == InferenceEngine::kEigenReference
                            ? inference::EngineKind::kEigenReference
                            : inference::EngineKind::kXnnpack;
  engine_options.num_threads = options.num_threads;
  engine_options.max_concurrency = options.max_concurrency;
  COHORT_ASSIGN_OR_RETURN(std::unique_ptr<inference::Engine> engine,
                          inference::CreateEngine(artifact, engine_options));
  InferenceModelInfo info;
  info.task_id = artifact.task_id();
  info.model_version = artifact.model_version();
  info.format = artifact.format() == cohort::v1::INFERENCE_FORMAT_INT8 ? InferenceFormat::kInt8
                                                                        : InferenceFormat::kFloat32;
  info.input_shape = engine->input_shape();
  info.input_size = engine->input_size();
  info.output_size = engine->output_size();
  return std::unique_ptr<InferenceModel>(new InferenceModel(std::move(info), std::move(engine)));
}

absl::Status InferenceModel::Predict(absl::Span<const float> inputs, int64_t batch,
                                     absl::Span<float> outputs) const {
  return engine_->Predict(inputs, batch, outputs);
}

absl::StatusOr<std::vector<float>> InferenceModel::Predict(absl::Span<const float> input) const {
  std::vector<float> outputs(static_cast<size_t>(info_.output_size));
  COHORT_RETURN_IF_ERROR(engine_->Predict(input, 1, absl::MakeSpan(outputs)));
  return outputs;
}

}  // namespace cohort::client
