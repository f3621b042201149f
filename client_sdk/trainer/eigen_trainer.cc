#include "client_sdk/trainer/eigen_trainer.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "client_sdk/trainer/eigen_model.h"
#include "client_sdk/trainer/splitmix64.h"

namespace cohort::client {
namespace {

using internal::ModelShape;
using Matrix = internal::RowMatrix<float>;

// Rows per evaluation batch: bounds the activations' memory on a large test set.
constexpr int64_t kEvaluationBatch = 2048;

TensorSpec Tensor(std::string name, std::vector<int64_t> shape) {
  return TensorSpec{std::move(name), std::move(shape)};
}

}  // namespace

ModelLayout SoftmaxRegressionLayout(int64_t inputs, int64_t classes) {
  return ModelLayout{{Tensor("dense/kernel", {inputs, classes}), Tensor("dense/bias", {classes})}};
}

ModelLayout MlpLayout(int64_t inputs, int64_t hidden, int64_t classes) {
  return ModelLayout{{Tensor("hidden/kernel", {inputs, hidden}), Tensor("hidden/bias", {hidden}),
                      Tensor("output/kernel", {hidden, classes}),
                      Tensor("output/bias", {classes})}};
}

int64_t NumParameters(const ModelLayout& layout) {
  int64_t total = 0;
  for (const TensorSpec& t : layout.tensors) {
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    total += n;
  }
  return total;
}

std::vector<float> GlorotUniformParameters(const ModelLayout& layout, uint64_t seed) {
  std::vector<float> params;
  params.reserve(NumParameters(layout));
  SplitMix64 rng(MixSeed(seed, 0x676c6f726f74ULL));
  for (const TensorSpec& t : layout.tensors) {
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    if (absl::EndsWith(t.name, "bias") || t.shape.empty()) {
      params.insert(params.end(), n, 0.0f);
      continue;
    }
    // For a kernel [fan_in, ..., fan_out] the fans are the first and last dimensions.
    const double fan_in = static_cast<double>(t.shape.front());
    const double fan_out = static_cast<double>(t.shape.back());
    const double limit = std::sqrt(6.0 / (fan_in + fan_out));
    for (int64_t i = 0; i < n; ++i) {
      params.push_back(static_cast<float>((2.0 * rng.NextDouble() - 1.0) * limit));
    }
  }
  return params;
}

absl::StatusOr<std::unique_ptr<EigenTrainer>> EigenTrainer::Create(std::vector<float> features,
                                                                   std::vector<int32_t> labels,
                                                                   int64_t num_features,
                                                                   uint64_t seed) {
  if (num_features < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("EigenTrainer: num_features is ", num_features, ", must be >= 1"));
  }
  const auto n = static_cast<int64_t>(labels.size());
  if (static_cast<int64_t>(features.size()) != n * num_features) {
    return absl::InvalidArgumentError(
        absl::StrCat("EigenTrainer: ", features.size(), " feature values for ", n,
                     " labels of ", num_features, " features each (want ", n * num_features, ")"));
  }
  int32_t max_label = -1;
  for (int32_t label : labels) {
    if (label < 0) {
      return absl::InvalidArgumentError(absl::StrCat("EigenTrainer: negative label ", label));
    }
    max_label = std::max(max_label, label);
  }
  FeatureMatrix matrix = Eigen::Map<const FeatureMatrix>(features.data(), n, num_features);
  Eigen::VectorXi label_vector = Eigen::Map<const Eigen::VectorXi>(labels.data(), n);
  auto trainer = std::unique_ptr<EigenTrainer>(
      new EigenTrainer(std::move(matrix), std::move(label_vector), seed));
  trainer->max_label_ = max_label;
  return trainer;
}

namespace {

absl::StatusOr<ModelShape> CheckModel(const ModelLayout& layout, absl::Span<const float> params,
                                      int64_t num_features, int32_t max_label) {
  COHORT_ASSIGN_OR_RETURN(ModelShape shape, internal::ParseLayout(layout));
  if (static_cast<int64_t>(params.size()) != shape.num_parameters) {
    return absl::InvalidArgumentError(absl::StrCat("EigenTrainer: ", params.size(),
                                                   " parameters, layout needs ",
                                                   shape.num_parameters));
  }
  if (shape.inputs != num_features) {
    return absl::InvalidArgumentError(absl::StrCat("EigenTrainer: layout takes ", shape.inputs,
                                                   " inputs, the data has ", num_features,
                                                   " features"));
  }
  if (max_label >= shape.classes) {
    return absl::InvalidArgumentError(absl::StrCat("EigenTrainer: label ", max_label,
                                                   " out of range for ", shape.classes,
                                                   " classes"));
  }
  return shape;
}

}  // namespace

absl::StatusOr<TrainingResult> EigenTrainer::Train(const ModelLayout& layout,
                                                   absl::Span<const float> parameters,
                                                   const TrainingParams& params) {
  COHORT_ASSIGN_OR_RETURN(ModelShape shape,
                          CheckModel(layout, parameters, num_features(), max_label_));
  if (params.local_epochs < 1 || params.batch_size < 1 || !(params.learning_rate > 0.0) ||
      !std::isfinite(params.learning_rate)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "EigenTrainer: local_epochs ", params.local_epochs, ", batch_size ", params.batch_size,
        ", learning_rate ", params.learning_rate, "; all must be positive"));
  }
  const int64_t n = num_examples();
  if (n == 0) return absl::FailedPreconditionError("EigenTrainer: no local examples");

  // The round number (when the SDK passes it) makes a round's shuffle independent of which
  // earlier rounds this device happened to join.
  const auto round_it = params.extra.find("round");
  const uint64_t stream = round_it != params.extra.end()
                              ? static_cast<uint64_t>(round_it->second)
                              : (uint64_t{1} << 63) | train_calls_;
  ++train_calls_;
  SplitMix64 rng(MixSeed(seed_, stream));

  std::vector<float> weights(parameters.begin(), parameters.end());
  std::vector<float> grad(weights.size());
  Eigen::Map<Eigen::VectorXf> w(weights.data(), static_cast<Eigen::Index>(weights.size()));
  Eigen::Map<const Eigen::VectorXf> g(grad.data(), static_cast<Eigen::Index>(grad.size()));
  const auto lr = static_cast<float>(params.learning_rate);
  const int64_t batch_size = std::min<int64_t>(params.batch_size, n);

  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::vector<int> batch;
  Matrix batch_x;
  Eigen::VectorXi batch_y;
  double epoch_loss = 0.0;
  for (int32_t epoch = 0; epoch < params.local_epochs; ++epoch) {
    rng.Shuffle(order.begin(), order.end());
    epoch_loss = 0.0;
    for (int64_t start = 0; start < n; start += batch_size) {
      const int64_t end = std::min(n, start + batch_size);
      batch.assign(order.begin() + start, order.begin() + end);
      batch_x = features_(batch, Eigen::all);
      batch_y = labels_(batch);
      const internal::BatchStats stats =
          internal::ForwardBackward<float>(shape, weights.data(), batch_x, batch_y, grad.data());
      epoch_loss += stats.loss_sum;
      w -= lr * g;
    }
  }
  TrainingResult result;
  result.parameters = std::move(weights);
  result.num_examples = n;
  result.loss = epoch_loss / static_cast<double>(n);
  return result;
}

absl::StatusOr<EvaluationResult> EigenTrainer::Evaluate(const ModelLayout& layout,
                                                        absl::Span<const float> parameters) {
  COHORT_ASSIGN_OR_RETURN(ModelShape shape,
                          CheckModel(layout, parameters, num_features(), max_label_));
  const int64_t n = num_examples();
  if (n == 0) return absl::FailedPreconditionError("EigenTrainer: no local examples");
  double loss_sum = 0.0;
  int64_t correct = 0;
  for (int64_t start = 0; start < n; start += kEvaluationBatch) {
    const int64_t rows = std::min(kEvaluationBatch, n - start);
    const internal::BatchStats stats = internal::ForwardBackward<float>(
        shape, parameters.data(), features_.middleRows(start, rows),
        labels_.segment(start, rows), nullptr);
    loss_sum += stats.loss_sum;
    correct += stats.correct;
  }
  EvaluationResult result;
  result.loss = loss_sum / static_cast<double>(n);
  result.accuracy = static_cast<double>(correct) / static_cast<double>(n);
  result.num_examples = n;
  return result;
}

}  // namespace cohort::client
