#include "client_sdk/trainer/eigen_trainer.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "client_sdk/trainer/eigen_model.h"
#include "client_sdk/trainer/splitmix64.h"

namespace cohort::client {
namespace {

using internal::ModelShape;
using internal::RowMatrix;

// Central finite differences of the double-precision loss against the analytic gradient of the
// very template the trainer runs in float.
void CheckGradient(const ModelLayout& layout) {
  const ModelShape shape = internal::ParseLayout(layout).value();
  SplitMix64 rng(42);
  const int batch = 7;
  RowMatrix<double> x(batch, shape.inputs);
  for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = 2.0 * rng.NextDouble() - 1.0;
  Eigen::VectorXi labels(batch);
  for (int i = 0; i < batch; ++i) labels[i] = static_cast<int>(rng.NextBelow(shape.classes));
  std::vector<double> params(shape.num_parameters);
  for (double& p : params) p = rng.NextDouble() - 0.5;

  std::vector<double> grad(params.size());
  internal::ForwardBackward<double>(shape, params.data(), x, labels, grad.data());

  const double eps = 1e-6;
  double max_error = 0.0;
  for (size_t i = 0; i < params.size(); ++i) {
    std::vector<double> plus = params, minus = params;
    plus[i] += eps;
    minus[i] -= eps;
    const double loss_plus =
        internal::ForwardBackward<double>(shape, plus.data(), x, labels, nullptr).loss_sum / batch;
    const double loss_minus =
        internal::ForwardBackward<double>(shape, minus.data(), x, labels, nullptr).loss_sum / batch;
    const double numeric = (loss_plus - loss_minus) / (2 * eps);
    max_error = std::max(max_error, std::abs(numeric - grad[i]) / std::max(1.0, std::abs(numeric)));
  }
  CHECK(max_error < 1e-6);
}

// Three well separated Gaussian-ish blobs in 4 dimensions.
void SeparableData(int n, std::vector<float>* features, std::vector<int32_t>* labels) {
  SplitMix64 rng(7);
  const float centers[3][4] = {{2, 0, 0, -1}, {0, 2, -1, 0}, {-2, -2, 1, 1}};
  for (int i = 0; i < n; ++i) {
    const int label = i % 3;
    labels->push_back(label);
    for (int d = 0; d < 4; ++d) {
      features->push_back(centers[label][d] + static_cast<float>(rng.NextDouble() - 0.5));
    }
  }
}

std::unique_ptr<EigenTrainer> SeparableTrainer(uint64_t seed) {
  std::vector<float> features;
  std::vector<int32_t> labels;
  SeparableData(60, &features, &labels);
  return EigenTrainer::Create(std::move(features), std::move(labels), 4, seed).value();
}

TEST_CASE("ForwardBackward_SoftmaxRegression_GradientMatchesFiniteDifferences") {
  CheckGradient(SoftmaxRegressionLayout(5, 3));
}

TEST_CASE("ForwardBackward_Mlp_GradientMatchesFiniteDifferences") {
  CheckGradient(MlpLayout(5, 4, 3));
}

TEST_CASE("Train_SeparableData_LossDecreasesAndAccuracyRises") {
  for (const ModelLayout& layout : {SoftmaxRegressionLayout(4, 3), MlpLayout(4, 8, 3)}) {
    auto trainer = SeparableTrainer(1);
    const std::vector<float> initial = GlorotUniformParameters(layout, 3);
    const EvaluationResult before = trainer->Evaluate(layout, initial).value();
    TrainingParams params;
    params.local_epochs = 5;
    params.batch_size = 8;
    params.learning_rate = 0.1;
    const TrainingResult trained = trainer->Train(layout, initial, params).value();
    const EvaluationResult after = trainer->Evaluate(layout, trained.parameters).value();
    CHECK(trained.num_examples == 60);
    CHECK(after.loss < 0.5 * before.loss);
    CHECK(after.accuracy > 0.95);
    CHECK(trained.loss < before.loss);
  }
}

TEST_CASE("Train_SameSeed_GivesIdenticalParameters") {
  const ModelLayout layout = MlpLayout(4, 8, 3);
  const std::vector<float> initial = GlorotUniformParameters(layout, 3);
  TrainingParams params;
  params.batch_size = 5;
  params.extra["round"] = 4;
  auto a = SeparableTrainer(11)->Train(layout, initial, params).value();
  auto b = SeparableTrainer(11)->Train(layout, initial, params).value();
  auto c = SeparableTrainer(12)->Train(layout, initial, params).value();
  CHECK(a.parameters == b.parameters);
  CHECK(a.parameters != c.parameters);
  // A different round reshuffles.
  params.extra["round"] = 5;
  auto d = SeparableTrainer(11)->Train(layout, initial, params).value();
  CHECK(a.parameters != d.parameters);
}

TEST_CASE("GlorotUniformParameters_SameSeedSameValues_BiasesZero") {
  const ModelLayout layout = SoftmaxRegressionLayout(4, 3);
  const auto a = GlorotUniformParameters(layout, 9);
  CHECK(a == GlorotUniformParameters(layout, 9));
  CHECK(a != GlorotUniformParameters(layout, 10));
  REQUIRE(a.size() == 15);
  for (int i = 12; i < 15; ++i) CHECK(a[i] == 0.0f);
  const double limit = std::sqrt(6.0 / 7.0);
  for (int i = 0; i < 12; ++i) CHECK(std::abs(a[i]) <= limit);
}

TEST_CASE("Train_BadLayout_IsInvalidArgument") {
  auto trainer = SeparableTrainer(1);
  TrainingParams params;
  auto code = [&](const ModelLayout& layout, size_t num_params) {
    std::vector<float> p(num_params, 0.0f);
    return trainer->Train(layout, p, params).status().code();
  };
  const auto invalid = absl::StatusCode::kInvalidArgument;
  // Unknown tensor name.
  ModelLayout renamed = SoftmaxRegressionLayout(4, 3);
  renamed.tensors[0].name = "conv/kernel";
  CHECK(code(renamed, 15) == invalid);
  // Bias that does not match the kernel.
  ModelLayout bad_bias = SoftmaxRegressionLayout(4, 3);
  bad_bias.tensors[1].shape = {4};
  CHECK(code(bad_bias, 16) == invalid);
  // Three tensors: neither model.
  ModelLayout three = MlpLayout(4, 8, 3);
  three.tensors.pop_back();
  CHECK(code(three, 40 + 8 + 24) == invalid);
  // MLP whose output kernel does not take the hidden width.
  ModelLayout bad_mlp = MlpLayout(4, 8, 3);
  bad_mlp.tensors[2].shape = {7, 3};
  CHECK(code(bad_mlp, 32 + 8 + 21 + 3) == invalid);
  // Wrong parameter count, wrong input width, too few classes for the labels.
  CHECK(code(SoftmaxRegressionLayout(4, 3), 14) == invalid);
  CHECK(code(SoftmaxRegressionLayout(5, 3), 18) == invalid);
  CHECK(code(SoftmaxRegressionLayout(4, 2), 10) == invalid);
  // Evaluate refuses the same layouts.
  std::vector<float> p(15, 0.0f);
  CHECK(trainer->Evaluate(renamed, p).status().code() == invalid);
}

TEST_CASE("Train_BadHyperParameters_IsInvalidArgument") {
  auto trainer = SeparableTrainer(1);
  const ModelLayout layout = SoftmaxRegressionLayout(4, 3);
  std::vector<float> p(15, 0.0f);
  TrainingParams params;
  params.learning_rate = 0.0;
  CHECK(trainer->Train(layout, p, params).status().code() == absl::StatusCode::kInvalidArgument);
  params.learning_rate = 0.1;
  params.batch_size = 0;
  CHECK(trainer->Train(layout, p, params).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("Train_NoExamples_IsFailedPrecondition") {
  auto trainer = EigenTrainer::Create({}, {}, 4, 1).value();
  std::vector<float> p(15, 0.0f);
  CHECK(trainer->Train(SoftmaxRegressionLayout(4, 3), p, TrainingParams{}).status().code() ==
        absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("Create_MismatchedSizesOrNegativeLabel_IsInvalidArgument") {
  CHECK(EigenTrainer::Create({1, 2, 3}, {0}, 2, 1).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(EigenTrainer::Create({1, 2}, {-1}, 2, 1).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(EigenTrainer::Create({}, {}, 0, 1).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("Evaluate_AllZeroModel_CountsTiesAsWrong") {
  auto trainer = SeparableTrainer(1);
  std::vector<float> p(15, 0.0f);
  const EvaluationResult result = trainer->Evaluate(SoftmaxRegressionLayout(4, 3), p).value();
  CHECK(result.accuracy == 0.0);
  CHECK(result.loss == Approx(std::log(3.0)));
  CHECK(result.num_examples == 60);
}

}  // namespace
}  // namespace cohort::client
