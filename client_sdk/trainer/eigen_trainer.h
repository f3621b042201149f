#ifndef COHORT_CLIENT_SDK_TRAINER_EIGEN_TRAINER_H_
#define COHORT_CLIENT_SDK_TRAINER_EIGEN_TRAINER_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "Eigen/Core"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "cohort/client/trainer.h"

namespace cohort::client {

// Softmax regression: "dense/kernel" [inputs, classes], "dense/bias" [classes].
ModelLayout SoftmaxRegressionLayout(int64_t inputs, int64_t classes);

// One hidden ReLU layer: "hidden/kernel" [inputs, hidden], "hidden/bias" [hidden],
// "output/kernel" [hidden, classes], "output/bias" [classes].
ModelLayout MlpLayout(int64_t inputs, int64_t hidden, int64_t classes);

// Number of float parameters of `layout` (product of each shape, summed).
int64_t NumParameters(const ModelLayout& layout);

// Glorot-uniform kernels (U(-l, l), l = sqrt(6 / (fan_in + fan_out))) and zero biases ("bias"
// suffix), deterministic from `seed`: the same rule and generator as the admin API's
// glorot_uniform_seed (codec::InitialModel), bit-identical for layouts of vectors and matrices
// (rank >= 3 kernels differ: the codec uses Keras' receptive-field fans). For simulations that
// start models themselves.
std::vector<float> GlorotUniformParameters(const ModelLayout& layout, uint64_t seed);

// The SDK's built-in trainer: softmax regression and one-hidden-layer MLPs (recognised from the
// layout), trained by mini-batch SGD on cross-entropy with Eigen matrix products.
//
// It holds one device's examples. Training is deterministic given the seed: each Train call
// shuffles with SplitMix64 seeded from (seed, TrainingParams::extra["round"]) when the round is
// given, else from (seed, number of earlier Train calls).
//
// This class is not thread-safe (the SDK calls it from one worker thread at a time).
class EigenTrainer : public Trainer {
 public:
  // `features` is row-major [labels.size(), num_features]; labels are class ids >= 0 (checked
  // against the layout's class count at Train/Evaluate). An empty data set is allowed; Train then
  // returns FAILED_PRECONDITION. Returns INVALID_ARGUMENT for mismatched sizes, num_features < 1
  // or a negative label.
  static absl::StatusOr<std::unique_ptr<EigenTrainer>> Create(std::vector<float> features,
                                                              std::vector<int32_t> labels,
                                                              int64_t num_features, uint64_t seed);

  // Returns INVALID_ARGUMENT for a layout that is neither model, parameters of the wrong length,
  // a layout whose input or class count does not fit the data, or non-positive epochs, batch size
  // or learning rate; FAILED_PRECONDITION with no examples.
  absl::StatusOr<TrainingResult> Train(const ModelLayout& layout,
                                       absl::Span<const float> parameters,
                                       const TrainingParams& params) override;

  // Mean loss and accuracy over all held examples. Same errors as Train (minus the
  // hyper-parameters).
  absl::StatusOr<EvaluationResult> Evaluate(const ModelLayout& layout,
                                            absl::Span<const float> parameters) override;

  int64_t num_examples() const { return features_.rows(); }
  int64_t num_features() const { return features_.cols(); }

 private:
  using FeatureMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  EigenTrainer(FeatureMatrix features, Eigen::VectorXi labels, uint64_t seed)
      : features_(std::move(features)), labels_(std::move(labels)), seed_(seed) {}

  FeatureMatrix features_;
  Eigen::VectorXi labels_;
  int32_t max_label_ = -1;
  uint64_t seed_;
  uint64_t train_calls_ = 0;
};

}  // namespace cohort::client

#endif  // COHORT_CLIENT_SDK_TRAINER_EIGEN_TRAINER_H_
