#include "model/onnx/onnx_import.h"

#include <fstream>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

#include "model/network.h"
#include "model/onnx/onnx_tensors.h"
#include "model/zoo.h"
#include "onnx/checker.h"
#include "onnx/onnx_pb.h"

namespace cohort::model {
namespace {

std::string ReadFixture(const std::string& name) {
  std::ifstream in(std::string(COHORT_FIXTURE_DIR) + "/onnx/" + name, std::ios::binary);
  REQUIRE(in.good());
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

onnx_internal::FloatTensor ReadTensorFixture(const std::string& name) {
  onnx::TensorProto tensor;
  REQUIRE(tensor.ParseFromString(ReadFixture(name)));
  absl::StatusOr<onnx_internal::FloatTensor> values = onnx_internal::ReadFloats(tensor);
  REQUIRE(values.ok());
  return *values;
}

// The ONNX checker (the C++ code behind Python's onnx.checker) throws on a bad model.
std::string CheckerError(const std::string& model_bytes) {
  onnx::ModelProto model;
  if (!model.ParseFromString(model_bytes)) return "does not parse";
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

// Runs the imported model on the fixture's inputs and compares with PyTorch's outputs.
void CheckMatchesPyTorch(const std::string& name, int expected_layers) {
  absl::StatusOr<ImportedModel> imported = ImportOnnx(ReadFixture(name + ".onnx"));
  REQUIRE(imported.ok());
  CHECK(imported->graph.layers_size() == expected_layers);
  const onnx_internal::FloatTensor input = ReadTensorFixture(name + "_input.pb");
  const onnx_internal::FloatTensor expected = ReadTensorFixture(name + "_output.pb");
  auto net = Network<float>::Create(imported->graph);
  REQUIRE(net.ok());
  const int64_t batch = input.dims[0];
  REQUIRE(static_cast<int64_t>(input.values.size()) == batch * (*net)->input_size());
  REQUIRE(static_cast<int64_t>(expected.values.size()) == batch * (*net)->num_outputs());
  std::vector<float> out(expected.values.size());
  (*net)->Predict(imported->parameters.data(), input.values.data(), batch, out.data());
  for (size_t i = 0; i < out.size(); ++i) {
    INFO(name << " output " << i);
    CHECK(std::abs(out[i] - expected.values[i]) <= 1e-5f * std::max(1.0f, std::abs(expected.values[i])));
  }
}

TEST_CASE("ImportOnnx_PyTorchMlpWithGemmAndMatMulAddMatchesPyTorch") {
  CheckMatchesPyTorch("mlp", 3);
  absl::StatusOr<ImportedModel> imported = ImportOnnx(ReadFixture("mlp.onnx"));
  REQUIRE(imported.ok());
  CHECK(imported->graph.layers(0).name() == "hidden");
  CHECK(imported->graph.layers(0).dense().units() == 16);
  CHECK(imported->graph.layers(2).dense().units() == 5);
  CHECK(imported->parameters.size() == 20 * 16 + 16 + 16 * 5 + 5);
}

TEST_CASE("ImportOnnx_PyTorchLeNetMatchesPyTorch") {
  CheckMatchesPyTorch("lenet", 8);
  absl::StatusOr<ImportedModel> imported = ImportOnnx(ReadFixture("lenet.onnx"));
  REQUIRE(imported.ok());
  CHECK(imported->graph.layers(0).name() == "conv1");
  CHECK(imported->graph.layers(0).conv2d().filters() == 4);
  CHECK(imported->graph.layers(2).max_pool2d().strides(0) == 2);
}

TEST_CASE("ImportOnnx_PyTorchMobileBlockWithDepthwiseConvMatchesPyTorch") {
  // stem, relu6, depthwise, relu6, pointwise, relu6, avg pool, global pool, reshape, dense,
  // softmax: PyTorch's Relu + Clip pairs become one ReLU6 each and its zero Pad disappears.
  CheckMatchesPyTorch("mobile_block", 11);
  absl::StatusOr<ImportedModel> imported = ImportOnnx(ReadFixture("mobile_block.onnx"));
  REQUIRE(imported.ok());
  CHECK(imported->graph.layers(2).conv2d().groups() == 8);
  CHECK(imported->graph.layers(1).has_relu6());
  CHECK(imported->graph.layers(10).has_softmax());
}

TEST_CASE("ExportOnnx_PassesTheCheckerAndReimportsToTheSameWeights") {
  for (const std::string name : {"mlp", "lenet", "mobile_block"}) {
    INFO(name);
    absl::StatusOr<ImportedModel> imported = ImportOnnx(ReadFixture(name + ".onnx"));
    REQUIRE(imported.ok());
    absl::StatusOr<std::string> exported = ExportOnnx(imported->graph, imported->parameters);
    REQUIRE(exported.ok());
    CHECK(CheckerError(*exported).empty());
    absl::StatusOr<ImportedModel> again = ImportOnnx(*exported);
    REQUIRE(again.ok());
    CHECK(again->graph.SerializeAsString() == imported->graph.SerializeAsString());
    CHECK(again->parameters == imported->parameters);
  }
  // A graph of Cohort's own (ReLU6 without a Relu before it, reshape, no bias).
  cohort::v1::ModelGraph graph = SmallCnnGraph(16, 3);
  graph.mutable_layers(1)->mutable_relu6();
  graph.mutable_layers(7)->mutable_dense()->set_use_bias(false);
  absl::StatusOr<GraphInfo> info = AnalyzeGraph(graph);
  REQUIRE(info.ok());
  std::vector<float> params(info->num_parameters);
  for (size_t i = 0; i < params.size(); ++i) params[i] = 0.001f * static_cast<float>(i % 97);
  absl::StatusOr<std::string> exported = ExportOnnx(graph, params);
  REQUIRE(exported.ok());
  CHECK(CheckerError(*exported).empty());
  absl::StatusOr<ImportedModel> again = ImportOnnx(*exported);
  REQUIRE(again.ok());
  CHECK(again->graph.SerializeAsString() == CanonicalGraph(graph).SerializeAsString());
  CHECK(again->parameters == params);
}

onnx::ModelProto LoadFixture(const std::string& name) {
  onnx::ModelProto model;
  REQUIRE(model.ParseFromString(ReadFixture(name)));
  return model;
}

std::string ImportError(const onnx::ModelProto& model) {
  absl::StatusOr<ImportedModel> imported = ImportOnnx(model.SerializeAsString());
  REQUIRE_FALSE(imported.ok());
  CHECK(imported.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(imported.status().message());
}

TEST_CASE("ImportOnnx_RefusesWhatItCannotRunNamingTheNode") {
  CHECK(ImportOnnx("not an onnx file").status().message() ==
        "the ONNX model does not parse as an onnx.ModelProto");

  onnx::ModelProto model = LoadFixture("lenet.onnx");
  model.mutable_graph()->mutable_node(1)->set_op_type("BatchNormalization");
  const std::string name = model.graph().node(1).name();
  CHECK(ImportError(model).find("ONNX node '" + name +
                                "' (BatchNormalization): operator not supported; Cohort imports "
                                "Gemm") == 0);

  model = LoadFixture("lenet.onnx");
  auto* dilations = model.mutable_graph()->mutable_node(0)->mutable_attribute(0);
  REQUIRE(dilations->name() == "dilations");
  dilations->set_ints(0, 2);
  CHECK(ImportError(model) == "ONNX node '" + model.graph().node(0).name() +
                                  "' (Conv): dilations other than 1 are not supported");

  model = LoadFixture("mobile_block.onnx");
  for (auto& node : *model.mutable_graph()->mutable_node()) {
    if (node.op_type() == "Constant" && node.output(0) == "/Constant_1_output_0") {
      node.mutable_attribute(0)->mutable_t()->set_raw_data(std::string("\0\0@@", 4));  // 3.0f
    }
  }
  CHECK(ImportError(model).find("(Clip): only Clip(0, 6) (ReLU6) and Clip(0, inf) are "
                                "supported, got Clip(0, 3)") != std::string::npos);

  model = LoadFixture("lenet.onnx");
  model.mutable_graph()->mutable_initializer()->erase(
      model.mutable_graph()->mutable_initializer()->begin());  // conv1.weight
  CHECK(ImportError(model).find("(Conv): its weights must be an initializer or a Constant") !=
        std::string::npos);

  model = LoadFixture("mlp.onnx");
  *model.mutable_graph()->add_input() = model.graph().input(0);
  model.mutable_graph()->mutable_input(1)->set_name("second");
  CHECK(ImportError(model) ==
        "ONNX graph has more than one input ('input', 'second'); Cohort models take one");

  model = LoadFixture("lenet.onnx");
  model.mutable_graph()->mutable_node(4)->set_input(0, "input");
  CHECK(ImportError(model).find("Cohort imports a chain of layers") != std::string::npos);
}

}  // namespace
}  // namespace cohort::model
