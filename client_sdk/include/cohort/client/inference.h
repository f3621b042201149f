#ifndef COHORT_CLIENT_SDK_INCLUDE_COHORT_CLIENT_INFERENCE_H_
#define COHORT_CLIENT_SDK_INCLUDE_COHORT_CLIENT_INFERENCE_H_

// Running the global model on the device (docs/inference.md): load an inference artifact (the
// bytes of a cohort.v1.InferenceModel, FLOAT32 or INT8, as the SDK fetches and caches it) and
// predict. Plain types only: no protobuf or XNNPACK header.
//
//   cohort::client::InferenceOptions options;          // XNNPACK, 1 thread
//   auto model = cohort::client::InferenceModel::Load(artifact_bytes, options);
//   if (!model.ok()) return model.status();             // refused at load, layer named
//   absl::StatusOr<std::vector<float>> probabilities = (*model)->Predict(image);
//
// Everything the engine cannot run is refused by Load, never by Predict: a damaged artifact
// (DATA_LOSS when the bytes are not an artifact, INVALID_ARGUMENT naming the field otherwise), a
// layer XNNPACK cannot run (UNIMPLEMENTED, e.g. "layers[1] 'subsample' (max_pool2d): XNNPACK
// xnn_create_max_pooling2d_nhwc_f32 failed: invalid parameter"), bad options or an INT8 artifact
// for the Eigen reference (INVALID_ARGUMENT), a CPU XNNPACK does not support (UNAVAILABLE).
// Predict returns INVALID_ARGUMENT for buffers of the wrong size or a batch < 1.
//
// Thread-safety: Predict may be called from any number of threads at once; up to
// `max_concurrency` run in parallel, each on its own copy of the operators.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace cohort::inference {
class Engine;
}

namespace cohort::client {

enum class InferenceEngine {
  kXnnpack = 0,         // FLOAT32 and INT8 artifacts; what apps use
  kEigenReference = 1,  // FLOAT32 only: the training forward pass, for checking
};

// The numbers of cohort.v1.InferenceFormat.
enum class InferenceFormat { kFloat32 = 1, kInt8 = 2 };

struct InferenceOptions {
  InferenceEngine engine = InferenceEngine::kXnnpack;
  // Worker threads per Predict; 1 runs on the caller's thread (lowest latency at batch 1).
  int num_threads = 1;
  // Predict calls that run in parallel, each with its own copy of the packed weights.
  int max_concurrency = 4;
};

struct InferenceModelInfo {
  std::string task_id;
  int64_t model_version = 0;
  InferenceFormat format = InferenceFormat::kFloat32;
  // One example's shape in the graph's order: [features] or [channels, height, width].
  std::vector<int64_t> input_shape;
  int64_t input_size = 0;   // floats per example
  int64_t output_size = 0;  // classes: probabilities if the graph ends in softmax, else logits
};

class InferenceModel {
 public:
  static absl::StatusOr<std::unique_ptr<InferenceModel>> Load(absl::string_view artifact_bytes,
                                                              const InferenceOptions& options = {});
  ~InferenceModel();

  const InferenceModelInfo& info() const { return info_; }

  // `inputs` is [batch, input_size] (each image as row-major C, H, W values), `outputs`
  // [batch, output_size].
  absl::Status Predict(absl::Span<const float> inputs, int64_t batch,
                       absl::Span<float> outputs) const;
  // One example.
  absl::StatusOr<std::vector<float>> Predict(absl::Span<const float> input) const;

 private:
  InferenceModel(InferenceModelInfo info, std::unique_ptr<inference::Engine> engine);

  const InferenceModelInfo info_;
  const std::unique_ptr<inference::Engine> engine_;
};

}  // namespace cohort::client

#endif  // COHORT_CLIENT_SDK_INCLUDE_COHORT_CLIENT_INFERENCE_H_
