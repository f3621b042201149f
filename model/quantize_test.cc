#include "model/quantize.h"

#include <cmath>
#include <vector>

#include <catch2/catch.hpp>

#include "codec/splitmix64.h"
#include "model/initializer.h"
#include "model/network.h"
#include "model/zoo.h"

namespace cohort::model {
namespace {

std::vector<float> Images(int64_t n, int64_t size, uint64_t seed) {
  codec::SplitMix64 rng(seed);
  std::vector<float> x(static_cast<size_t>(n * size));
  for (float& v : x) v = static_cast<float>(rng.NextDouble());
  return x;
}

TEST_CASE("ActivationParams_MapTheRangeOntoInt8WithZeroExact") {
  const cohort::v1::QuantizationParams p = ActivationParams(-1.0, 3.0);
  CHECK(p.scale() == Approx(4.0 / 255.0));
  CHECK(p.zero_point() == -64);  // round(-128 + 1 / (4 / 255)) = round(-64.25)
  const cohort::v1::QuantizationParams relu = ActivationParams(0.5, 6.0);  // widened to 0
  CHECK(relu.zero_point() == -128);
  CHECK(relu.scale() == Approx(6.0 / 255.0));
}

TEST_CASE("QuantizeModel_WeightsAreSymmetricPerChannelAndTheArtifactIsAQuarterOfFloat") {
  const cohort::v1::ModelGraph graph = SmallCnnGraph(28, 10);
  absl::StatusOr<GraphInfo> info = AnalyzeGraph(graph);
  REQUIRE(info.ok());
  const std::vector<float> params = GlorotUniformParameters(graph, *info, 3);
  absl::StatusOr<cohort::v1::InferenceModel> int8 =
      QuantizeModel(graph, params, Images(50, 784, 1));
  REQUIRE(int8.ok());
  REQUIRE(int8->layers_size() == graph.layers_size());
  CHECK(int8->calibration_examples() == 50);
  const cohort::v1::QuantizedLayer& conv2 = int8->layers(3);
  REQUIRE(conv2.weight_scales_size() == 16);
  REQUIRE(conv2.bias_size() == 16);
  const LayerInfo& li = info->layers[3];
  for (int64_t f = 0; f < 16; ++f) {
    float max_abs = 0;
    for (int64_t k = 0; k < 200; ++k) max_abs = std::max(max_abs, std::abs(params[li.kernel_offset + f * 200 + k]));
    CHECK(conv2.weight_scales(f) == Approx(max_abs / 127));
    for (int64_t k = 0; k < 200; ++k) {
      const float w = params[li.kernel_offset + f * 200 + k];
      const float back = conv2.weight_scales(f) * static_cast<int8_t>(conv2.weights()[f * 200 + k]);
      CHECK(std::abs(back - w) <= conv2.weight_scales(f) / 2 + 1e-7);
    }
  }
  // ReLU after a convolution is fused (own range from 0), max pooling keeps its input's.
  CHECK(int8->layers(1).output().zero_point() == -128);
  CHECK(int8->layers(2).output().SerializeAsString() == int8->layers(1).output().SerializeAsString());
  absl::StatusOr<cohort::v1::InferenceModel> f32 = FloatArtifact(graph, params);
  REQUIRE(f32.ok());
  CHECK(int8->ByteSizeLong() <= 0.3 * f32->ByteSizeLong());
}

TEST_CASE("SimulateInt8_StaysCloseToTheFloatModel") {
  const cohort::v1::ModelGraph graph = SmallCnnGraph(28, 10);
  absl::StatusOr<GraphInfo> info = AnalyzeGraph(graph);
  REQUIRE(info.ok());
  const std::vector<float> params = GlorotUniformParameters(graph, *info, 5);
  absl::StatusOr<cohort::v1::InferenceModel> int8 =
      QuantizeModel(graph, params, Images(200, 784, 2));
  REQUIRE(int8.ok());
  const std::vector<float> x = Images(20, 784, 9);  // not the calibration examples
  std::vector<float> simulated(200), exact(200);
  REQUIRE(SimulateInt8(*int8, x, 20, absl::MakeSpan(simulated)).ok());
  auto net = Network<float>::Create(graph);
  REQUIRE(net.ok());
  (*net)->Predict(params.data(), x.data(), 20, exact.data());
  double max_logit = 0, max_error = 0;
  for (size_t i = 0; i < exact.size(); ++i) {
    max_logit = std::max(max_logit, std::abs(double{exact[i]}));
    max_error = std::max(max_error, std::abs(double{exact[i]} - simulated[i]));
  }
  // Eight bits per layer over four quantized layers: a few percent of the logits' range.
  CHECK(max_error < 0.05 * max_logit + int8->layers(7).output().scale());
  CHECK(max_error > 0);  // it did quantize
}

TEST_CASE("QuantizeModel_NeedsRepresentativeDataOfTheInputSize") {
  const cohort::v1::ModelGraph graph = MlpGraph(4, 3, 2);
  const std::vector<float> params(4 * 3 + 3 + 3 * 2 + 2, 0.1f);
  CHECK(QuantizeModel(graph, params, {}).status().code() == absl::StatusCode::kFailedPrecondition);
  const std::vector<float> ragged(7, 0.0f);
  CHECK(QuantizeModel(graph, params, ragged).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(QuantizeModel(graph, std::vector<float>(3), std::vector<float>(8)).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cohort::model
