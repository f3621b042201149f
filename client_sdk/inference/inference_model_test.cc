#include "cohort/client/inference.h"

#include <vector>

#include <catch2/catch.hpp>

#include "client_sdk/inference/test_models.h"
#include "model/network.h"
#include "model/zoo.h"

namespace cohort::client {
namespace {

using inference::testing::TestModel;

TEST_CASE("InferenceModelLoad_DescribesTheArtifactAndPredictsLikeTheReference") {
  const TestModel m = inference::testing::FromGraph("cnn", model::SmallCnnGraph(28, 10), 2, 4);
  cohort::v1::InferenceModel artifact = inference::testing::FloatModel(m);
  artifact.set_task_id("keyboard");
  artifact.set_model_version(17);
  for (const InferenceEngine kind : {InferenceEngine::kXnnpack, InferenceEngine::kEigenReference}) {
    absl::StatusOr<std::unique_ptr<InferenceModel>> model =
        InferenceModel::Load(artifact.SerializeAsString(), {.engine = kind});
    REQUIRE(model.ok());
    const InferenceModelInfo& info = (*model)->info();
    CHECK(info.task_id == "keyboard");
    CHECK(info.model_version == 17);
    CHECK(info.format == InferenceFormat::kFloat32);
    CHECK(info.input_shape == std::vector<int64_t>{1, 28, 28});
    CHECK(info.input_size == 784);
    CHECK(info.output_size == 10);

    auto net = model::Network<float>::Create(m.graph);
    REQUIRE(net.ok());
    std::vector<float> expected(20), batch(20);
    (*net)->Predict(m.parameters.data(), m.sample_inputs.data(), 2, expected.data());
    REQUIRE((*model)->Predict(m.sample_inputs, 2, absl::MakeSpan(batch)).ok());
    absl::StatusOr<std::vector<float>> first =
        (*model)->Predict(absl::MakeConstSpan(m.sample_inputs).subspan(0, 784));
    REQUIRE(first.ok());
    for (size_t i = 0; i < 20; ++i) CHECK(batch[i] == Approx(expected[i]).margin(1e-4));
    // Eigen's GEMM may sum in another order for another batch size: equal up to rounding.
    for (size_t i = 0; i < 10; ++i) CHECK((*first)[i] == Approx(batch[i]).margin(1e-6));
    CHECK((*model)->Predict(absl::MakeConstSpan(m.sample_inputs).subspan(0, 700)).status().code() ==
          absl::StatusCode::kInvalidArgument);
  }
}

TEST_CASE("InferenceModelLoad_Int8ReportsItsFormat") {
  const TestModel m = inference::testing::FromGraph("mlp", model::MlpGraph(784, 64, 10), 1, 4);
  absl::StatusOr<std::unique_ptr<InferenceModel>> model =
      InferenceModel::Load(inference::testing::Int8Model(m).SerializeAsString());
  REQUIRE(model.ok());
  CHECK((*model)->info().format == InferenceFormat::kInt8);
  CHECK(InferenceModel::Load(inference::testing::Int8Model(m).SerializeAsString(),
                             {.engine = InferenceEngine::kEigenReference})
            .status()
            .code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("InferenceModelLoad_RefusesCorruptBytesAndUnrunnableLayers") {
  CHECK(InferenceModel::Load("\x08\x01garbage").status().code() != absl::StatusCode::kOk);
  CHECK(InferenceModel::Load("").status().code() == absl::StatusCode::kDataLoss);
  cohort::v1::ModelGraph g;
  for (int64_t d : {2, 6, 6}) g.add_input_shape(d);
  inference::testing::AddPool(g, "subsample", true, 1, 2, 0);
  inference::testing::AddLayer(g, "flat")->mutable_flatten();
  inference::testing::AddDense(g, "out", 2);
  const TestModel m = inference::testing::FromGraph("subsample", g, 1, 3);
  absl::StatusOr<std::unique_ptr<InferenceModel>> model =
      InferenceModel::Load(inference::testing::FloatModel(m).SerializeAsString());
  CHECK(model.status().code() == absl::StatusCode::kUnimplemented);
  CHECK_THAT(std::string(model.status().message()), Catch::Contains("'subsample'"));
}

}  // namespace
}  // namespace cohort::client
