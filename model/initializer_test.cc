#include "model/initializer.h"

#include <cmath>

#include <catch2/catch.hpp>

#include "codec/model.h"
#include "model/zoo.h"

namespace cohort::model {
namespace {

TEST_CASE("InitialGraphModel_DenseGraphsMatchTheLayoutInitialiser") {
  const cohort::v1::ModelGraph graph = MlpGraph(784, 64, 10);
  cohort::v1::ModelInit init;
  init.set_glorot_uniform_seed(5);
  absl::StatusOr<cohort::v1::Model> from_graph = InitialGraphModel(init, graph);
  REQUIRE(from_graph.ok());
  absl::StatusOr<GraphInfo> info = AnalyzeGraph(graph);
  REQUIRE(info.ok());
  absl::StatusOr<cohort::v1::Model> from_layout = codec::InitialModel(init, info->layout);
  REQUIRE(from_layout.ok());
  CHECK(from_graph->parameters() == from_layout->parameters());
  CHECK(from_graph->layout().SerializeAsString() == info->layout.SerializeAsString());
  CHECK(from_graph->graph().SerializeAsString() == CanonicalGraph(graph).SerializeAsString());
  CHECK(from_graph->version() == 0);
  CHECK(codec::VerifyChecksum(*from_graph).ok());
}

TEST_CASE("GlorotUniformParameters_UseConvolutionFansAndZeroBiases") {
  const cohort::v1::ModelGraph graph = SmallCnnGraph(28, 10);
  absl::StatusOr<GraphInfo> info = AnalyzeGraph(graph);
  REQUIRE(info.ok());
  const std::vector<float> values = GlorotUniformParameters(graph, *info, 1);
  REQUIRE(static_cast<int64_t>(values.size()) == info->num_parameters);
  // conv2: fan_in 8*25 = 200, fan_out 16*25 = 400.
  const double limit = std::sqrt(6.0 / 600.0);
  const LayerInfo& conv2 = info->layers[3];
  double max_abs = 0;
  for (int64_t i = 0; i < conv2.kernel_size; ++i) {
    max_abs = std::max(max_abs, std::abs(double{values[conv2.kernel_offset + i]}));
  }
  CHECK(max_abs <= limit);
  CHECK(max_abs > 0.9 * limit);  // 3,200 draws reach close to the bound
  for (int64_t i = 0; i < conv2.bias_size; ++i) CHECK(values[conv2.bias_offset + i] == 0.0f);
}

TEST_CASE("InitialGraphModel_RefusesParametersOfTheWrongLength") {
  cohort::v1::ModelInit init;
  init.set_parameters(std::string(12, '\0'));
  absl::StatusOr<cohort::v1::Model> model = InitialGraphModel(init, MlpGraph(4, 3, 2));
  REQUIRE_FALSE(model.ok());
  CHECK(model.status().message() ==
        "initial_model.parameters has 12 bytes, the graph needs 92 (23 float32)");
}

}  // namespace
}  // namespace cohort::model
