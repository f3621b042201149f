#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "model/graph.h"
#include "model/onnx/onnx_import.h"
#include "model/onnx/onnx_tensors.h"
#include "onnx/onnx_pb.h"

namespace cohort::model {
namespace {

using cohort::v1::Layer;
using onnx_internal::AddIntAttribute;
using onnx_internal::AddIntsAttribute;
using onnx_internal::MakeFloatTensor;

void SetTensorType(onnx::ValueInfoProto* value, const std::string& name, const Shape& shape) {
  value->set_name(name);
  auto* tensor = value->mutable_type()->mutable_tensor_type();
  tensor->set_elem_type(onnx::TensorProto::FLOAT);
  auto* dims = tensor->mutable_shape();
  dims->add_dim()->set_dim_param("N");
  for (int64_t d : shape) dims->add_dim()->set_dim_value(d);
}

std::vector<int64_t> ToVector(const google::protobuf::RepeatedField<int64_t>& values) {
  return {values.begin(), values.end()};
}

void AddWindow(onnx::NodeProto& node, const LayerInfo& info) {
  const Window& w = info.window;
  AddIntsAttribute(node, "kernel_shape", {w.kernel_h, w.kernel_w});
  AddIntsAttribute(node, "strides", {w.stride_h, w.stride_w});
  AddIntsAttribute(node, "pads", {w.pad_top, w.pad_left, w.pad_bottom, w.pad_right});
}

}  // namespace

absl::StatusOr<std::string> ExportOnnx(const cohort::v1::ModelGraph& graph,
                                       absl::Span<const float> parameters) {
  absl::StatusOr<GraphInfo> analyzed = AnalyzeGraph(graph);
  if (!analyzed.ok()) return analyzed.status();
  const GraphInfo& info = *analyzed;
  if (static_cast<int64_t>(parameters.size()) != info.num_parameters) {
    return absl::InvalidArgumentError(absl::StrCat(parameters.size(), " parameters for a graph of ",
                                                   info.num_parameters));
  }
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.set_producer_name("cohort");
  model.set_producer_version("1");
  auto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(13);
  onnx::GraphProto* g = model.mutable_graph();
  g->set_name("cohort_model");
  SetTensorType(g->add_input(), "input", info.input);
  std::string current = "input";
  for (int i = 0; i < graph.layers_size(); ++i) {
    const Layer& layer = graph.layers(i);
    const LayerInfo& li = info.layers[i];
    const std::string& name = layer.name();
    const std::string output = i + 1 == graph.layers_size() ? "output" : name + "_output";
    onnx::NodeProto* node = g->add_node();
    node->set_name(name);
    node->add_input(current);
    node->add_output(output);
    const float* kernel = parameters.data() + li.kernel_offset;
    switch (layer.kind_case()) {
      case Layer::kDense: {
        // PyTorch's Linear layout: weight [units, in], Gemm with transB = 1.
        const int64_t in = li.input[0];
        const int64_t units = li.output[0];
        std::vector<float> transposed(static_cast<size_t>(in * units));
        for (int64_t r = 0; r < in; ++r) {
          for (int64_t c = 0; c < units; ++c) transposed[c * in + r] = kernel[r * units + c];
        }
        node->set_op_type("Gemm");
        *g->add_initializer() = MakeFloatTensor(name + ".weight", {units, in}, transposed.data());
        node->add_input(name + ".weight");
        AddIntAttribute(*node, "transB", 1);
        break;
      }
      case Layer::kConv2D:
        node->set_op_type("Conv");
        *g->add_initializer() =
            MakeFloatTensor(name + ".weight",
                            {li.output[0], li.input[0] / li.groups, li.window.kernel_h,
                             li.window.kernel_w},
                            kernel);
        node->add_input(name + ".weight");
        AddWindow(*node, li);
        AddIntsAttribute(*node, "dilations", {1, 1});
        AddIntAttribute(*node, "group", li.groups);
        break;
      case Layer::kMaxPool2D:
        node->set_op_type("MaxPool");
        AddWindow(*node, li);
        break;
      case Layer::kAvgPool2D:
        node->set_op_type("AveragePool");
        AddWindow(*node, li);
        AddIntAttribute(*node, "count_include_pad", 0);
        break;
      case Layer::kGlobalAvgPool:
        node->set_op_type("GlobalAveragePool");
        break;
      case Layer::kRelu:
        node->set_op_type("Relu");
        break;
      case Layer::kRelu6: {
        node->set_op_type("Clip");
        const float lo = 0.0f, hi = 6.0f;
        *g->add_initializer() = MakeFloatTensor(name + ".min", {}, &lo);
        *g->add_initializer() = MakeFloatTensor(name + ".max", {}, &hi);
        node->add_input(name + ".min");
        node->add_input(name + ".max");
        break;
      }
      case Layer::kFlatten:
        node->set_op_type("Flatten");
        AddIntAttribute(*node, "axis", 1);
        break;
      case Layer::kReshape: {
        node->set_op_type("Reshape");
        std::vector<int64_t> shape = {-1};
        for (int64_t d : ToVector(layer.reshape().shape())) shape.push_back(d);
        *g->add_initializer() = onnx_internal::MakeInt64Tensor(name + ".shape", shape);
        node->add_input(name + ".shape");
        break;
      }
      case Layer::kSoftmax:
        node->set_op_type("Softmax");
        AddIntAttribute(*node, "axis", -1);
        break;
      case Layer::KIND_NOT_SET:
        return absl::InvalidArgumentError("graph has a layer without a kind");
    }
    if (li.bias_size > 0) {
      *g->add_initializer() =
          MakeFloatTensor(name + ".bias", {li.bias_size}, parameters.data() + li.bias_offset);
      node->add_input(name + ".bias");
    }
    current = output;
  }
  SetTensorType(g->add_output(), "output", {info.num_outputs});
  return model.SerializeAsString();
}

}  // namespace cohort::model
