#ifndef COHORT_CLIENT_SDK_INCLUDE_COHORT_CLIENT_TRAINER_H_
#define COHORT_CLIENT_SDK_INCLUDE_COHORT_CLIENT_TRAINER_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace cohort::client {

// One named tensor of a model; parameters are the tensors in order, each row-major float32.
struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
};

struct ModelLayout {
  std::vector<TensorSpec> tensors;
  // The layer graph the tensors come from, as a serialized cohort.v1.ModelGraph
  // (protos/cohort/v1/graph.proto); empty for a task that declares tensors only. The built-in
  // EigenTrainer trains it; an app's own trainer may read it or ignore it.
  std::string graph;
};

// The round's training hyper-parameters (RoundPlan.training on the wire).
struct TrainingParams {
  int32_t local_epochs = 1;
  int32_t batch_size = 32;
  double learning_rate = 0.05;
  // Free-form values for app trainers; also carries the round number as "round".
  std::map<std::string, double> extra;
};

struct TrainingResult {
  // The locally trained parameters (same length as the input); the SDK computes the delta.
  std::vector<float> parameters;
  // Local examples seen per epoch; the update's FedAvg weight (capped by the server's plan).
  int64_t num_examples = 0;
  // Mean training loss of the last epoch, for progress reporting only.
  double loss = 0.0;
};

// How the model does on the device's held-out examples (never its training examples). For
// federated evaluation the SDK uploads num_examples, num_correct and loss * num_examples, which
// the round sums across the cohort.
struct EvaluationResult {
  // Mean loss per example.
  double loss = 0.0;
  double accuracy = 0.0;
  int64_t num_examples = 0;
  // Examples predicted right; -1 (an app trainer that sets accuracy only) means
  // round(accuracy * num_examples).
  int64_t num_correct = -1;
};

// Trains on data that never leaves the device. The app supplies one; the SDK ships
// EigenTrainer (client_sdk/trainer), which trains any layer graph of docs/models.md.
//
// The SDK calls Train from its own worker thread, one call at a time; implementations need not
// be thread-safe. Errors: INVALID_ARGUMENT for a layout the trainer cannot train,
// FAILED_PRECONDITION when it has no data; the SDK then leaves the round.
class Trainer {
 public:
  virtual ~Trainer() = default;
  virtual absl::StatusOr<TrainingResult> Train(const ModelLayout& layout,
                                               absl::Span<const float> parameters,
                                               const TrainingParams& params) = 0;
  // On the held-out examples. FAILED_PRECONDITION when there are none.
  virtual absl::StatusOr<EvaluationResult> Evaluate(const ModelLayout& layout,
                                                    absl::Span<const float> parameters) = 0;
};

}  // namespace cohort::client

#endif  // COHORT_CLIENT_SDK_INCLUDE_COHORT_CLIENT_TRAINER_H_
