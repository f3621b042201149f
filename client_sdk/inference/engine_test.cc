#include "client_sdk/inference/engine.h"

#include <algorithm>
#include <cmath>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "client_sdk/inference/test_models.h"
#include "model/network.h"
#include "model/quantize.h"
#include "model/zoo.h"

namespace cohort::inference {
namespace {

using testing::TestModel;

std::vector<float> Reference(const TestModel& m, const std::vector<float>& inputs, int64_t batch) {
  auto net = model::Network<float>::Create(m.graph);
  REQUIRE(net.ok());
  std::vector<float> out(static_cast<size_t>(batch * (*net)->num_outputs()));
  (*net)->Predict(m.parameters.data(), inputs.data(), batch, out.data());
  return out;
}

std::vector<float> Run(const Engine& engine, const std::vector<float>& inputs, int64_t batch) {
  std::vector<float> out(static_cast<size_t>(batch * engine.output_size()));
  const absl::Status status = engine.Predict(inputs, batch, absl::MakeSpan(out));
  INFO(status.ToString());
  REQUIRE(status.ok());
  return out;
}

std::unique_ptr<Engine> Make(const cohort::v1::InferenceModel& artifact, EngineOptions options = {}) {
  absl::StatusOr<std::unique_ptr<Engine>> engine = CreateEngine(artifact, options);
  INFO(engine.status().ToString());
  REQUIRE(engine.ok());
  return *std::move(engine);
}

double MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(double{a[i]} - b[i]));
  return worst;
}

double MaxAbs(const std::vector<float>& a) {
  double m = 0;
  for (float v : a) m = std::max(m, std::abs(double{v}));
  return m;
}

// The scale of the last int8 layer before any softmax: one code of the logits.
float LogitScale(const cohort::v1::InferenceModel& artifact) {
  const int n = artifact.layers_size();
  const bool softmax = artifact.graph().layers(n - 1).has_softmax();
  return artifact.layers(softmax ? n - 2 : n - 1).output().scale();
}

TEST_CASE("XnnpackFloat_MatchesTheEigenReferenceOnEveryModel") {
  for (const TestModel& m : testing::AllModels()) {
    INFO(m.name);
    auto engine = Make(testing::FloatModel(m));
    const std::vector<float> expected = Reference(m, m.sample_inputs, m.sample_batch);
    const std::vector<float> got = Run(*engine, m.sample_inputs, m.sample_batch);
    CHECK(MaxAbsDiff(got, expected) <= 1e-4 * std::max(1.0, MaxAbs(expected)));
  }
}

TEST_CASE("EigenReferenceEngine_MatchesPyTorchOnTheOnnxFixtures") {
  for (const TestModel& m : testing::AllModels()) {
    if (m.pytorch_outputs.empty()) continue;
    INFO(m.name);
    auto engine = Make(testing::FloatModel(m), {.kind = EngineKind::kEigenReference});
    CHECK(MaxAbsDiff(Run(*engine, m.sample_inputs, m.sample_batch), m.pytorch_outputs) <= 1e-5);
    auto xnn = Make(testing::FloatModel(m));
    CHECK(MaxAbsDiff(Run(*xnn, m.sample_inputs, m.sample_batch), m.pytorch_outputs) <= 1e-4);
  }
}

// XNNPACK requantizes each layer's integer accumulator once, SimulateInt8 rounds a float sum of
// the same products: a result on a rounding boundary may land one code apart, and that code
// travels through the later layers. Nearly every output agrees exactly (measured: all of them
// for the zoo and fixture models, one code at most for the pooling graph).
void CheckInt8AgainstSimulation(const cohort::v1::InferenceModel& artifact,
                                const std::vector<float>& inputs, int64_t batch) {
  auto engine = Make(artifact);
  const std::vector<float> got = Run(*engine, inputs, batch);
  std::vector<float> simulated(got.size());
  REQUIRE(model::SimulateInt8(artifact, inputs, batch, absl::MakeSpan(simulated)).ok());
  const double code = LogitScale(artifact);
  const bool softmax = artifact.graph().layers(artifact.layers_size() - 1).has_softmax();
  // Softmax outputs move by at most half the change of the logits (its Lipschitz bound).
  const double unit = softmax ? code / 2 : code;
  double total = 0;
  for (size_t i = 0; i < got.size(); ++i) total += std::abs(double{got[i]} - simulated[i]);
  CHECK(MaxAbsDiff(got, simulated) <= 2 * unit);
  CHECK(total / got.size() <= 0.1 * unit);
}

TEST_CASE("XnnpackInt8_MatchesSimulateInt8OnEveryModel") {
  for (const TestModel& m : testing::AllModels()) {
    INFO(m.name);
    const cohort::v1::InferenceModel artifact = testing::Int8Model(m);
    std::vector<float> inputs = testing::CalibrationData(m, 16, 1234);  // not calibration's seed
    CheckInt8AgainstSimulation(artifact, inputs, 16);
  }
}

TEST_CASE("XnnpackInt8_StaysCloseToTheFloatModel") {
  for (const TestModel& m : testing::AllModels()) {
    INFO(m.name);
    auto engine = Make(testing::Int8Model(m));
    const std::vector<float> inputs = testing::CalibrationData(m, 16, 77);
    const std::vector<float> expected = Reference(m, inputs, 16);
    // Eight bits per layer: a few percent of the outputs' range.
    CHECK(MaxAbsDiff(Run(*engine, inputs, 16), expected) <= 0.08 * MaxAbs(expected) + 1e-3);
  }
}

// Padded and strided pooling and convolutions, depthwise with a multiplier, a flatten of a
// [C, H, W] tensor that is not the last layer's input (it goes back to rank 3), and a graph
// whose output is a flattened NHWC tensor.
cohort::v1::ModelGraph PoolingGraph() {
  cohort::v1::ModelGraph g;
  for (int64_t d : {3, 9, 9}) g.add_input_shape(d);
  testing::AddConv(g, "conv", 6, 3, 1, 1, 3);  // depthwise, multiplier 2
  testing::AddLayer(g, "relu6")->mutable_relu6();
  testing::AddPool(g, "avg_padded", false, 3, 2, 1);
  testing::AddPool(g, "max_padded", true, 2, 1, 1);
  testing::AddLayer(g, "flatten")->mutable_flatten();
  auto* reshape = testing::AddLayer(g, "unflatten")->mutable_reshape();
  for (int64_t d : {6, 6, 6}) reshape->add_shape(d);
  testing::AddPool(g, "avg", false, 2, 2, 0);
  testing::AddLayer(g, "relu")->mutable_relu();
  testing::AddConv(g, "pointwise", 2, 1, 1, 0, 1);
  testing::AddLayer(g, "out")->mutable_flatten();
  return g;
}

TEST_CASE("Xnnpack_PaddedPoolingGroupsAndLayoutMatchTheReference") {
  const TestModel m = testing::FromGraph("pooling", PoolingGraph(), 3, 5);
  const std::vector<float> expected = Reference(m, m.sample_inputs, 3);
  auto f32 = Make(testing::FloatModel(m));
  CHECK(MaxAbsDiff(Run(*f32, m.sample_inputs, 3), expected) <= 1e-4 * MaxAbs(expected));
  const cohort::v1::InferenceModel int8 = testing::Int8Model(m);
  CheckInt8AgainstSimulation(int8, testing::CalibrationData(m, 8, 3), 8);
}

TEST_CASE("XnnpackInt8_GlobalPoolingOutsideTheQs8OperatorsRangeRunsThroughFloat") {
  cohort::v1::ModelGraph g;
  for (int64_t d : {4, 5, 5}) g.add_input_shape(d);
  testing::AddConv(g, "conv", 4, 3, 1, 0, 1);
  testing::AddLayer(g, "gap")->mutable_global_avg_pool();
  testing::AddLayer(g, "flat")->mutable_flatten();
  testing::AddDense(g, "out", 3);
  const TestModel m = testing::FromGraph("gap", g, 2, 8);
  cohort::v1::InferenceModel int8 = testing::Int8Model(m);
  // 300x coarser than the input: past global_average_pooling_nwc_qs8's 2^8 ratio.
  const float input_scale = int8.layers(0).output().scale();
  for (int layer : {1, 2}) int8.mutable_layers(layer)->mutable_output()->set_scale(input_scale * 300);
  CheckInt8AgainstSimulation(int8, testing::CalibrationData(m, 8, 4), 8);
}

TEST_CASE("XnnpackInt8_AZeroChannelPastTheRequantizationLimitIsRescaledNotRefused") {
  const TestModel m = testing::FromGraph("zero_unit", model::MlpGraph(6, 4, 3), 2, 9);
  cohort::v1::InferenceModel int8 = testing::Int8Model(m);
  cohort::v1::QuantizedLayer* hidden = int8.mutable_layers(0);
  std::string weights = hidden->weights();
  for (int64_t in = 0; in < 6; ++in) weights[in * 4 + 1] = 0;  // unit 1: all weights zero
  hidden->set_weights(weights);
  hidden->set_weight_scales(1, 1e6f);  // requantization far past 256
  hidden->set_bias(1, 3);              // the bias still counts: 3 * input_scale * 1e6
  CheckInt8AgainstSimulation(int8, testing::CalibrationData(m, 8, 5), 8);

  weights[1] = 5;  // no longer zero: the channel cannot be rescaled
  hidden->set_weights(weights);
  absl::StatusOr<std::unique_ptr<Engine>> refused = CreateEngine(int8, {});
  CHECK(refused.status().code() == absl::StatusCode::kUnimplemented);
  CHECK_THAT(std::string(refused.status().message()),
             Catch::Contains("layers[0] 'hidden' (dense)") && Catch::Contains("requantization"));
}

TEST_CASE("Predict_FromManyThreadsGivesEachCallerItsOwnResult") {
  const TestModel m = testing::FromGraph("cnn", model::SmallCnnGraph(28, 10), 1, 3);
  // One operator set (callers take turns; the plan's weights are released after load) and three.
  for (const int sets : {1, 3}) {
    for (const bool int8 : {false, true}) {
      INFO("int8 " << int8 << ", max_concurrency " << sets);
      auto engine =
          Make(int8 ? testing::Int8Model(m) : testing::FloatModel(m), {.max_concurrency = sets});
      constexpr int kThreads = 6, kCalls = 20;
      std::vector<std::vector<float>> inputs, expected;
      for (int t = 0; t < kThreads; ++t) {
        inputs.push_back(testing::Uniform(784, 0, 1, 100 + t));
        expected.push_back(Run(*engine, inputs.back(), 1));
      }
      std::vector<int> mismatches(kThreads, 0), failures(kThreads, 0);
      std::vector<std::thread> threads;
      for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
          std::vector<float> out(10);
          for (int call = 0; call < kCalls; ++call) {
            if (!engine->Predict(inputs[t], 1, absl::MakeSpan(out)).ok()) ++failures[t];
            if (out != expected[t]) ++mismatches[t];
          }
        });
      }
      for (std::thread& thread : threads) thread.join();
      for (int t = 0; t < kThreads; ++t) {
        CHECK(failures[t] == 0);
        CHECK(mismatches[t] == 0);
      }
      CHECK(engine->instances() >= 1);
      CHECK(engine->instances() <= sets);
    }
  }
}

TEST_CASE("Predict_ChangingBatchSizesAndThreadCountsGiveTheSameRows") {
  const TestModel m = testing::FromGraph("cnn", model::SmallCnnGraph(28, 10), 4, 6);
  for (const bool int8 : {false, true}) {
    const cohort::v1::InferenceModel artifact = int8 ? testing::Int8Model(m) : testing::FloatModel(m);
    auto one = Make(artifact);
    auto two = Make(artifact, {.num_threads = 2});
    const std::vector<float> batch = Run(*one, m.sample_inputs, 4);
    CHECK(Run(*two, m.sample_inputs, 4) == batch);
    for (int64_t b = 0; b < 4; ++b) {
      const std::vector<float> x(m.sample_inputs.begin() + b * 784, m.sample_inputs.begin() + (b + 1) * 784);
      const std::vector<float> row(batch.begin() + b * 10, batch.begin() + (b + 1) * 10);
      CHECK(Run(*one, x, 1) == row);
    }
    CHECK(Run(*one, m.sample_inputs, 4) == batch);
  }
}

TEST_CASE("Predict_RefusesBuffersOfTheWrongSize") {
  auto engine = Make(testing::FloatModel(testing::FromGraph("mlp", model::MlpGraph(4, 3, 2), 1, 1)));
  std::vector<float> in(8), out(4);
  CHECK(engine->Predict(in, 2, absl::MakeSpan(out)).ok());
  CHECK(engine->Predict(in, 3, absl::MakeSpan(out)).code() == absl::StatusCode::kInvalidArgument);
  CHECK(engine->Predict(in, 0, absl::MakeSpan(out)).code() == absl::StatusCode::kInvalidArgument);
  std::vector<float> short_out(3);
  CHECK(engine->Predict(in, 2, absl::MakeSpan(short_out)).code() ==
        absl::StatusCode::kInvalidArgument);
}

void CheckRefused(const cohort::v1::InferenceModel& artifact, absl::StatusCode code,
                  const std::string& layer) {
  absl::StatusOr<std::unique_ptr<Engine>> engine = CreateEngine(artifact, {});
  INFO(engine.status().ToString());
  CHECK(engine.status().code() == code);
  CHECK_THAT(std::string(engine.status().message()), Catch::Contains(layer));
}

TEST_CASE("CreateEngine_RefusesAReshapeThatWouldMoveValuesNamingTheLayer") {
  cohort::v1::ModelGraph g;
  g.add_input_shape(32);
  auto* reshape = testing::AddLayer(g, "to_image")->mutable_reshape();
  for (int64_t d : {2, 4, 4}) reshape->add_shape(d);
  testing::AddConv(g, "conv", 3, 3, 1, 0, 1);
  testing::AddLayer(g, "flat")->mutable_flatten();
  testing::AddDense(g, "out", 2);
  const TestModel m = testing::FromGraph("reshape", g, 1, 2);
  CheckRefused(testing::FloatModel(m), absl::StatusCode::kUnimplemented,
               "layers[0] 'to_image' (reshape)");
  CheckRefused(testing::Int8Model(m), absl::StatusCode::kUnimplemented,
               "layers[0] 'to_image' (reshape)");
}

TEST_CASE("CreateEngine_RefusesWhatXnnpackRefusesAtCreateNamingTheLayer") {
  // A 1x1 max pooling with stride 2 (a subsampler) is a valid graph XNNPACK does not run.
  cohort::v1::ModelGraph g;
  for (int64_t d : {2, 6, 6}) g.add_input_shape(d);
  testing::AddConv(g, "conv", 4, 3, 1, 1, 1);
  testing::AddPool(g, "subsample", true, 1, 2, 0);
  testing::AddLayer(g, "flat")->mutable_flatten();
  testing::AddDense(g, "out", 2);
  const TestModel m = testing::FromGraph("subsample", g, 1, 3);
  CheckRefused(testing::FloatModel(m), absl::StatusCode::kUnimplemented,
               "layers[1] 'subsample' (max_pool2d): XNNPACK xnn_create_max_pooling2d_nhwc_f32");
  CheckRefused(testing::Int8Model(m), absl::StatusCode::kUnimplemented,
               "layers[1] 'subsample' (max_pool2d): XNNPACK xnn_create_max_pooling2d_nhwc_s8");
  // The Eigen reference runs it.
  CHECK(CreateEngine(testing::FloatModel(m), {.kind = EngineKind::kEigenReference}).ok());
}

TEST_CASE("LoadEngine_RefusesCorruptArtifacts") {
  const TestModel m = testing::FromGraph("cnn", model::SmallCnnGraph(28, 10), 1, 3);
  const std::string int8 = testing::Int8Model(m).SerializeAsString();
  CHECK(LoadEngine(int8, {}).ok());
  CHECK(LoadEngine("", {}).status().code() == absl::StatusCode::kDataLoss);
  CHECK(LoadEngine("not a model at all", {}).status().code() == absl::StatusCode::kDataLoss);
  // Cut anywhere: it no longer parses, or it parses into an artifact that misses data.
  for (size_t cut : {int8.size() / 3, int8.size() / 2, int8.size() - 7}) {
    INFO("cut at " << cut);
    absl::StatusOr<std::unique_ptr<Engine>> engine = LoadEngine(int8.substr(0, cut), {});
    CHECK(!engine.ok());
    CHECK((engine.status().code() == absl::StatusCode::kDataLoss ||
           engine.status().code() == absl::StatusCode::kInvalidArgument));
  }
}

TEST_CASE("CreateEngine_RefusesInconsistentArtifactsNamingTheField") {
  const TestModel m = testing::FromGraph("mlp", model::MlpGraph(8, 4, 3), 1, 3);
  cohort::v1::InferenceModel bad_scale = testing::Int8Model(m);
  bad_scale.mutable_layers(2)->set_weight_scales(0, 0.0f);
  CheckRefused(bad_scale, absl::StatusCode::kInvalidArgument, "layers[2] 'output' (dense): weight_scales[0]");
  cohort::v1::InferenceModel bad_zero = testing::Int8Model(m);
  bad_zero.mutable_layers(0)->mutable_output()->set_zero_point(200);
  CheckRefused(bad_zero, absl::StatusCode::kInvalidArgument, "layers[0] 'hidden' (dense) output");
  cohort::v1::InferenceModel moved = testing::Int8Model(m);
  moved.mutable_layers(1)->mutable_output()->set_scale(0.5f);  // relu fused: its own params
  CHECK(CreateEngine(moved, {}).ok());
  cohort::v1::InferenceModel short_weights = testing::Int8Model(m);
  short_weights.mutable_layers(0)->mutable_weights()->pop_back();
  CheckRefused(short_weights, absl::StatusCode::kInvalidArgument, "layers[0] 'hidden' (dense)");
  cohort::v1::InferenceModel float_short = testing::FloatModel(m);
  float_short.mutable_float_parameters()->resize(12);
  CheckRefused(float_short, absl::StatusCode::kInvalidArgument, "FLOAT32 artifact");
  cohort::v1::InferenceModel no_format = testing::FloatModel(m);
  no_format.set_format(cohort::v1::INFERENCE_FORMAT_UNSPECIFIED);
  CheckRefused(no_format, absl::StatusCode::kInvalidArgument, "format");
  CheckRefused(testing::Int8Model(m), absl::StatusCode::kOk, "");
  absl::StatusOr<std::unique_ptr<Engine>> eigen_int8 =
      CreateEngine(testing::Int8Model(m), {.kind = EngineKind::kEigenReference});
  CHECK(eigen_int8.status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("CreateEngine_RefusesAMaxPoolThatClaimsToRequantize") {
  const TestModel m = testing::FromGraph("cnn", model::SmallCnnGraph(28, 10), 1, 3);
  cohort::v1::InferenceModel int8 = testing::Int8Model(m);
  int8.mutable_layers(2)->mutable_output()->set_zero_point(0);
  CheckRefused(int8, absl::StatusCode::kInvalidArgument, "layers[2] 'pool1' (max_pool2d)");
}

TEST_CASE("CreateEngine_RefusesBadOptions") {
  const cohort::v1::InferenceModel f32 =
      testing::FloatModel(testing::FromGraph("mlp", model::MlpGraph(4, 3, 2), 1, 1));
  CHECK(CreateEngine(f32, {.num_threads = 0}).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(CreateEngine(f32, {.max_concurrency = 0}).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cohort::inference
