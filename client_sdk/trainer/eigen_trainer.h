#ifndef COHORT_CLIENT_SDK_TRAINER_EIGEN_TRAINER_H_
#define COHORT_CLIENT_SDK_TRAINER_EIGEN_TRAINER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "cohort/client/trainer.h"
#include "cohort/v1/graph.pb.h"
#include "model/network.h"

namespace cohort::client {

// Softmax regression: "dense/kernel" [inputs, classes], "dense/bias" [classes].
ModelLayout SoftmaxRegressionLayout(int64_t inputs, int64_t classes);

// One hidden ReLU layer: "hidden/kernel" [inputs, hidden], "hidden/bias" [hidden],
// "output/kernel" [hidden, classes], "output/bias" [classes].
ModelLayout MlpLayout(int64_t inputs, int64_t hidden, int64_t classes);

// The layout of a layer graph (model::AnalyzeGraph) with the serialized graph attached.
// INVALID_ARGUMENT for a graph AnalyzeGraph refuses.
absl::StatusOr<ModelLayout> GraphLayout(const cohort::v1::ModelGraph& graph);

// Number of float parameters of `layout` (product of each shape, summed).
int64_t NumParameters(const ModelLayout& layout);

// Glorot-uniform kernels and zero biases from `seed`, as the admin API's glorot_uniform_seed
// (model::InitialGraphModel for a graph layout, codec::InitialModel's rule otherwise).
std::vector<float> GlorotUniformParameters(const ModelLayout& layout, uint64_t seed);

// The SDK's built-in trainer: any layer graph of docs/models.md (model::Network), trained by
// mini-batch SGD on softmax cross-entropy. A layout without a graph is trained when it is one of
// the two layouts above (they become the equivalent Dense graphs).
//
// It holds one device's examples, split once at Create into training examples and, when
// `holdout_fraction` > 0, held-out examples that only Evaluate sees (the last
// round(holdout_fraction * n) of a seeded shuffle, so the split is the same in every round).
// Training is deterministic given the seed: each Train call shuffles with SplitMix64 seeded from
// (seed, TrainingParams::extra["round"]) when the round is given, else from (seed, number of
// earlier Train calls).
//
// This class is not thread-safe (the SDK calls it from one worker thread at a time).
class EigenTrainer : public Trainer {
 public:
  struct Options {
    uint64_t seed = 1;
    // Fraction of the examples kept out of training for Evaluate, in [0, 1). With 0, Evaluate
    // uses the training examples.
    double holdout_fraction = 0.0;
  };

  // `features` is row-major [labels.size(), num_features] (an image in C, H, W order); labels
  // are class ids >= 0 (checked against the model's class count at Train/Evaluate). An empty
  // data set is allowed; Train then returns FAILED_PRECONDITION. INVALID_ARGUMENT for
  // mismatched sizes, num_features < 1, a negative label or a holdout fraction outside [0, 1).
  static absl::StatusOr<std::unique_ptr<EigenTrainer>> Create(std::vector<float> features,
                                                              std::vector<int32_t> labels,
                                                              int64_t num_features,
                                                              Options options);
  static absl::StatusOr<std::unique_ptr<EigenTrainer>> Create(std::vector<float> features,
                                                              std::vector<int32_t> labels,
                                                              int64_t num_features,
                                                              uint64_t seed) {
    return Create(std::move(features), std::move(labels), num_features, Options{seed, 0.0});
  }

  // INVALID_ARGUMENT for a layout it cannot train (naming the tensor or the graph's layer),
  // parameters of the wrong length, a model whose input or class count does not fit the data,
  // or non-positive epochs, batch size or learning rate; FAILED_PRECONDITION with no examples.
  absl::StatusOr<TrainingResult> Train(const ModelLayout& layout,
                                       absl::Span<const float> parameters,
                                       const TrainingParams& params) override;

  // Mean loss and accuracy over the held-out examples (all examples without a holdout). Same
  // errors as Train (minus the hyper-parameters).
  absl::StatusOr<EvaluationResult> Evaluate(const ModelLayout& layout,
                                            absl::Span<const float> parameters) override;

  int64_t num_examples() const { return static_cast<int64_t>(train_labels_.size()); }
  int64_t num_holdout_examples() const { return static_cast<int64_t>(holdout_labels_.size()); }
  int64_t num_features() const { return num_features_; }

 private:
  EigenTrainer(int64_t num_features, uint64_t seed) : num_features_(num_features), seed_(seed) {}
  // The network for `layout`, reusing the last one when the graph did not change.
  absl::StatusOr<model::Network<float>*> NetworkFor(const ModelLayout& layout,
                                                    absl::Span<const float> parameters);

  int64_t num_features_;
  uint64_t seed_;
  std::vector<float> train_features_, holdout_features_;
  std::vector<int32_t> train_labels_, holdout_labels_;
  int32_t max_label_ = -1;
  uint64_t train_calls_ = 0;
  std::string network_graph_;  // serialized graph of network_
  std::unique_ptr<model::Network<float>> network_;
};

}  // namespace cohort::client

#endif  // COHORT_CLIENT_SDK_TRAINER_EIGEN_TRAINER_H_
