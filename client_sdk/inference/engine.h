#ifndef COHORT_CLIENT_SDK_INFERENCE_ENGINE_H_
#define COHORT_CLIENT_SDK_INFERENCE_ENGINE_H_

// The SDK's on-device inference engine (docs/inference.md): runs a cohort.v1.InferenceModel,
// FLOAT32 or INT8, on XNNPACK, or FLOAT32 on the Eigen reference (model::Network<float>, the
// forward pass training uses) against which XNNPACK is checked.
//
//   COHORT_ASSIGN_OR_RETURN(auto engine, inference::CreateEngine(artifact, {}));
//   std::vector<float> probabilities(batch * engine->output_size());
//   COHORT_RETURN_IF_ERROR(engine->Predict(images, batch, absl::MakeSpan(probabilities)));
//
// Everything that can be refused is refused by CreateEngine: the artifact is checked, compiled
// (plan.h) and one full operator set is created, so XNNPACK's own create-time refusals surface
// at load, naming the layer. Predict then fails only on wrong buffer sizes or out of memory.
//
// Threads: Predict is thread-safe. Each concurrent caller borrows its own operator set (or Eigen
// network) from a pool of at most `max_concurrency`, made on first need; a caller beyond that
// waits. With num_threads > 1 the operators of every call run on one shared pthreadpool, which
// runs one parallel section at a time.
//
// Codes: CreateEngine: INVALID_ARGUMENT / DATA_LOSS from artifact.h for a bad artifact,
// UNIMPLEMENTED naming the layer for a model this engine cannot run (plan.h, XNNPACK refusals),
// INVALID_ARGUMENT for bad options or an INT8 artifact given to the Eigen reference, UNAVAILABLE
// when the CPU cannot run XNNPACK. Predict: INVALID_ARGUMENT for a batch < 1 or buffers of the
// wrong size, RESOURCE_EXHAUSTED, INTERNAL if XNNPACK fails at run time.

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "cohort/v1/inference.pb.h"
#include "model/graph.h"

namespace cohort::inference {

enum class EngineKind {
  kXnnpack,         // FLOAT32 and INT8
  kEigenReference,  // FLOAT32 only
};

struct EngineOptions {
  EngineKind kind = EngineKind::kXnnpack;
  // XNNPACK worker threads per call. 1 runs on the caller's thread: the lowest latency at
  // batch 1 on a phone, and concurrent callers run in parallel.
  int num_threads = 1;
  // Operator sets (each a copy of the packed weights and activations) that concurrent Predict
  // calls may use at once; made on demand, the first at load. The engine also keeps the weights
  // in XNNPACK's layout to make the later sets, except with 1 (the smallest footprint: one
  // packed copy; concurrent callers then take turns).
  int max_concurrency = 4;
};

class Engine {
 public:
  virtual ~Engine() = default;

  // `inputs` is [batch, input_size()] (each example in the graph's row-major C, H, W order),
  // `outputs` [batch, output_size()]: probabilities when the graph ends in Softmax, else logits.
  virtual absl::Status Predict(absl::Span<const float> inputs, int64_t batch,
                               absl::Span<float> outputs) const = 0;

  // Operator sets made so far (at most max_concurrency).
  virtual int instances() const = 0;

  const model::Shape& input_shape() const { return info_.input; }
  int64_t input_size() const { return model::NumElements(info_.input); }
  int64_t output_size() const { return info_.num_outputs; }
  cohort::v1::InferenceFormat format() const { return format_; }

 protected:
  Engine(model::GraphInfo info, cohort::v1::InferenceFormat format)
      : info_(std::move(info)), format_(format) {}
  // INVALID_ARGUMENT unless the buffers hold `batch` examples.
  absl::Status CheckSizes(absl::Span<const float> inputs, int64_t batch,
                          absl::Span<float> outputs) const;

 private:
  const model::GraphInfo info_;
  const cohort::v1::InferenceFormat format_;
};

absl::StatusOr<std::unique_ptr<Engine>> CreateEngine(const cohort::v1::InferenceModel& artifact,
                                                     const EngineOptions& options);

// ParseArtifact then CreateEngine.
absl::StatusOr<std::unique_ptr<Engine>> LoadEngine(absl::string_view artifact_bytes,
                                                   const EngineOptions& options);

}  // namespace cohort::inference

#endif  // COHORT_CLIENT_SDK_INFERENCE_ENGINE_H_
