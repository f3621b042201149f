#include "client_sdk/inference/test_models.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "codec/splitmix64.h"
#include "model/graph.h"
#include "model/initializer.h"
#include "model/onnx/onnx_import.h"
#include "model/onnx/onnx_tensors.h"
#include "model/quantize.h"
#include "model/zoo.h"

namespace cohort::inference::testing {
namespace {

// Test set-up failures abort the test binary loudly (Catch2 reports the exception).
template <typename T>
T ValueOrThrow(absl::StatusOr<T> value, const std::string& what) {
  if (!value.ok()) throw std::runtime_error(what + ": " + value.status().ToString());
  return *std::move(value);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

model::onnx_internal::FloatTensor ReadTensor(const std::string& path) {
  onnx::TensorProto tensor;
  if (!tensor.ParseFromString(ReadFile(path))) throw std::runtime_error("bad tensor " + path);
  return ValueOrThrow(model::onnx_internal::ReadFloats(tensor), path);
}

}  // namespace

std::vector<float> Uniform(int64_t n, float low, float high, uint64_t seed) {
  codec::SplitMix64 rng(seed);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = low + (high - low) * static_cast<float>(rng.NextDouble());
  return v;
}

std::vector<float> RandomParameters(const cohort::v1::ModelGraph& graph, uint64_t seed) {
  const model::GraphInfo info = ValueOrThrow(model::AnalyzeGraph(graph), "graph");
  std::vector<float> params = model::GlorotUniformParameters(graph, info, seed);
  for (const model::LayerInfo& li : info.layers) {
    const std::vector<float> bias = Uniform(li.bias_size, -0.1f, 0.1f, seed + li.bias_offset);
    std::copy(bias.begin(), bias.end(), params.begin() + li.bias_offset);
  }
  return params;
}

TestModel FromGraph(const std::string& name, cohort::v1::ModelGraph graph, int64_t batch,
                    uint64_t seed) {
  TestModel m;
  m.name = name;
  m.graph = model::CanonicalGraph(std::move(graph));
  m.parameters = RandomParameters(m.graph, seed);
  const model::GraphInfo info = ValueOrThrow(model::AnalyzeGraph(m.graph), name);
  m.sample_batch = batch;
  m.sample_inputs = Uniform(batch * model::NumElements(info.input), 0.0f, 1.0f, seed + 1);
  return m;
}

TestModel FromOnnxFixture(const std::string& name) {
  const std::string dir = std::string(COHORT_FIXTURE_DIR) + "/onnx/";
  model::ImportedModel imported =
      ValueOrThrow(model::ImportOnnx(ReadFile(dir + name + ".onnx")), name);
  TestModel m;
  m.name = name;
  m.graph = std::move(imported.graph);
  m.parameters = std::move(imported.parameters);
  model::onnx_internal::FloatTensor input = ReadTensor(dir + name + "_input.pb");
  m.sample_batch = input.dims[0];
  m.sample_inputs = std::move(input.values);
  m.pytorch_outputs = ReadTensor(dir + name + "_output.pb").values;
  return m;
}

std::vector<TestModel> AllModels() {
  std::vector<TestModel> models;
  models.push_back(FromGraph("zoo_mlp", model::MlpGraph(784, 64, 10), 5, 11));
  models.push_back(FromGraph("zoo_cnn", model::SmallCnnGraph(28, 10), 5, 12));
  for (const char* name : {"mlp", "lenet", "mobile_block"}) models.push_back(FromOnnxFixture(name));
  return models;
}

std::vector<float> CalibrationData(const TestModel& model, int64_t examples, uint64_t seed) {
  const auto [low, high] = std::minmax_element(model.sample_inputs.begin(), model.sample_inputs.end());
  const int64_t size = static_cast<int64_t>(model.sample_inputs.size()) / model.sample_batch;
  return Uniform(examples * size, *low, *high, seed);
}

cohort::v1::InferenceModel FloatModel(const TestModel& model) {
  return ValueOrThrow(model::FloatArtifact(model.graph, model.parameters), model.name);
}

cohort::v1::InferenceModel Int8Model(const TestModel& model) {
  return ValueOrThrow(
      model::QuantizeModel(model.graph, model.parameters, CalibrationData(model, 200, 99)),
      model.name);
}

cohort::v1::Layer* AddLayer(cohort::v1::ModelGraph& graph, const std::string& name) {
  cohort::v1::Layer* layer = graph.add_layers();
  layer->set_name(name);
  return layer;
}

void AddConv(cohort::v1::ModelGraph& graph, const std::string& name, int64_t filters,
             int64_t kernel, int64_t stride, int64_t pad, int64_t groups) {
  cohort::v1::Conv2D* conv = AddLayer(graph, name)->mutable_conv2d();
  conv->set_filters(filters);
  conv->add_kernel_size(kernel);
  conv->add_kernel_size(kernel);
  conv->add_strides(stride);
  conv->add_strides(stride);
  for (int i = 0; i < 4; ++i) conv->add_pads(pad);
  conv->set_groups(groups);
}

void AddPool(cohort::v1::ModelGraph& graph, const std::string& name, bool max, int64_t kernel,
             int64_t stride, int64_t pad) {
  cohort::v1::Layer* layer = AddLayer(graph, name);
  cohort::v1::Pool2D* pool = max ? layer->mutable_max_pool2d() : layer->mutable_avg_pool2d();
  pool->add_kernel_size(kernel);
  pool->add_kernel_size(kernel);
  pool->add_strides(stride);
  pool->add_strides(stride);
  for (int i = 0; i < 4; ++i) pool->add_pads(pad);
}

void AddDense(cohort::v1::ModelGraph& graph, const std::string& name, int64_t units) {
  AddLayer(graph, name)->mutable_dense()->set_units(units);
}

}  // namespace cohort::inference::testing
