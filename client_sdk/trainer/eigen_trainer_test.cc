#include "client_sdk/trainer/eigen_trainer.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "codec/splitmix64.h"
#include "model/zoo.h"

namespace cohort::client {
namespace {

using codec::SplitMix64;

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

// Two 6x6 one-channel classes: a bright left half or a bright right half, with noise.
void HalvesData(int n, std::vector<float>* features, std::vector<int32_t>* labels) {
  SplitMix64 rng(3);
  for (int i = 0; i < n; ++i) {
    const int label = i % 2;
    labels->push_back(label);
    for (int y = 0; y < 6; ++y) {
      for (int x = 0; x < 6; ++x) {
        const bool bright = (x < 3) == (label == 0);
        features->push_back((bright ? 1.0f : 0.0f) + static_cast<float>(rng.NextDouble() - 0.5));
      }
    }
  }
}

cohort::v1::ModelGraph TinyCnn() {
  cohort::v1::ModelGraph graph;
  for (int64_t d : {1, 6, 6}) graph.add_input_shape(d);
  auto* conv = graph.add_layers();
  conv->set_name("conv");
  conv->mutable_conv2d()->set_filters(4);
  conv->mutable_conv2d()->add_kernel_size(3);
  conv->mutable_conv2d()->add_kernel_size(3);
  graph.add_layers()->set_name("relu");
  graph.mutable_layers(1)->mutable_relu();
  graph.add_layers()->set_name("pool");
  graph.mutable_layers(2)->mutable_max_pool2d()->add_kernel_size(2);
  graph.mutable_layers(2)->mutable_max_pool2d()->add_kernel_size(2);
  graph.add_layers()->set_name("flatten");
  graph.mutable_layers(3)->mutable_flatten();
  graph.add_layers()->set_name("out");
  graph.mutable_layers(4)->mutable_dense()->set_units(2);
  return graph;
}

TEST_CASE("Train_GraphLayout_TrainsAConvolutionalNetwork") {
  std::vector<float> features;
  std::vector<int32_t> labels;
  HalvesData(80, &features, &labels);
  auto trainer = EigenTrainer::Create(std::move(features), std::move(labels), 36, 5).value();
  const ModelLayout layout = GraphLayout(TinyCnn()).value();
  REQUIRE(layout.tensors.size() == 4);
  CHECK(layout.tensors[0].name == "conv/kernel");
  const std::vector<float> initial = GlorotUniformParameters(layout, 2);
  REQUIRE(static_cast<int64_t>(initial.size()) == NumParameters(layout));
  const EvaluationResult before = trainer->Evaluate(layout, initial).value();
  TrainingParams params;
  params.local_epochs = 10;
  params.batch_size = 8;
  params.learning_rate = 0.1;
  const TrainingResult trained = trainer->Train(layout, initial, params).value();
  const EvaluationResult after = trainer->Evaluate(layout, trained.parameters).value();
  CHECK(after.loss < 0.5 * before.loss);
  CHECK(after.accuracy > 0.95);
  CHECK(after.num_correct == static_cast<int64_t>(std::llround(after.accuracy * 80)));
}

TEST_CASE("Train_GraphThatDoesNotMatchItsTensors_IsInvalidArgument") {
  std::vector<float> features;
  std::vector<int32_t> labels;
  HalvesData(8, &features, &labels);
  auto trainer = EigenTrainer::Create(std::move(features), std::move(labels), 36, 5).value();
  ModelLayout layout = GraphLayout(TinyCnn()).value();
  layout.tensors[0].shape = {4, 1, 3, 2};
  std::vector<float> p(NumParameters(layout), 0.0f);
  CHECK(trainer->Train(layout, p, TrainingParams{}).status().message() ==
        "EigenTrainer: the layout's tensors are not the ones its graph implies");
  // A graph taking other inputs than the data holds.
  ModelLayout mlp = GraphLayout(model::MlpGraph(35, 4, 2)).value();
  std::vector<float> q(NumParameters(mlp), 0.0f);
  CHECK(trainer->Train(mlp, q, TrainingParams{}).status().message() ==
        "EigenTrainer: the model takes 35 inputs ([35]), the data has 36 features");
}

TEST_CASE("Evaluate_WithAHoldout_UsesOnlyTheHeldOutExamples") {
  std::vector<float> features;
  std::vector<int32_t> labels;
  SeparableData(60, &features, &labels);
  EigenTrainer::Options options;
  options.seed = 4;
  options.holdout_fraction = 0.25;
  auto trainer = EigenTrainer::Create(features, labels, 4, options).value();
  CHECK(trainer->num_examples() == 45);
  CHECK(trainer->num_holdout_examples() == 15);
  const ModelLayout layout = SoftmaxRegressionLayout(4, 3);
  std::vector<float> p(15, 0.0f);
  CHECK(trainer->Evaluate(layout, p)->num_examples == 15);
  TrainingResult trained = trainer->Train(layout, p, TrainingParams{}).value();
  CHECK(trained.num_examples == 45);
  // The split depends only on the seed.
  auto again = EigenTrainer::Create(features, labels, 4, options).value();
  CHECK(again->Evaluate(layout, trained.parameters)->loss ==
        trainer->Evaluate(layout, trained.parameters)->loss);
  options.holdout_fraction = 1.0;
  CHECK(EigenTrainer::Create(features, labels, 4, options).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cohort::client
