#include "model/onnx/onnx_import.h"

#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "model/graph.h"
#include "model/onnx/onnx_tensors.h"
#include "onnx/onnx_pb.h"

namespace cohort::model {
namespace {

using cohort::v1::Layer;
using onnx_internal::FloatTensor;

constexpr const char* kSupported =
    "Gemm, MatMul (+ Add), Conv, Relu, Clip(0, 6), MaxPool, AveragePool, GlobalAveragePool, "
    "Flatten, Reshape, Softmax, Constant, Identity, Dropout, Pad (of zeros)";

absl::Status NodeError(const onnx::NodeProto& node, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("ONNX node '", node.name(), "' (", node.op_type(), "): ", what));
}

// [A-Za-z0-9_.-] with other characters as '_' and no leading separators ("/conv1/Conv" ->
// "conv1_Conv").
std::string Sanitize(const std::string& name) {
  std::string out;
  for (char c : name) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
    out.push_back(ok ? c : '_');
  }
  while (!out.empty() && (out.front() == '_' || out.front() == '.')) out.erase(out.begin());
  if (out.size() > 56) out.resize(56);
  return out;
}

class Importer {
 public:
  explicit Importer(const onnx::ModelProto& model) : graph_(model.graph()) {
    for (const auto& opset : model.opset_import()) {
      if (opset.domain().empty() || opset.domain() == "ai.onnx") opset_ = opset.version();
    }
  }

  absl::StatusOr<ImportedModel> Run() {
    for (const onnx::TensorProto& t : graph_.initializer()) constants_[t.name()] = t;
    if (absl::Status s = ReadInput(); !s.ok()) return s;
    for (int i = 0; i < graph_.node_size(); ++i) {
      if (absl::Status s = ImportNode(i); !s.ok()) return s;
      if (fused_next_) {  // a MatMul took the Add after it
        fused_next_ = false;
        ++i;
      }
    }
    if (graph_.output_size() != 1 || graph_.output(0).name() != current_) {
      return absl::InvalidArgumentError(absl::StrCat(
          "ONNX graph: its one output must be the last node's output '", current_, "', got ",
          graph_.output_size(), " outputs",
          graph_.output_size() > 0 ? absl::StrCat(", the first '", graph_.output(0).name(), "'")
                                   : std::string()));
    }
    absl::StatusOr<GraphInfo> info = AnalyzeGraph(result_.graph);
    if (!info.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("ONNX model maps to a graph Cohort refuses: ", info.status().message()));
    }
    result_.graph = CanonicalGraph(result_.graph);
    return std::move(result_);
  }

 private:
  absl::Status ReadInput() {
    const onnx::ValueInfoProto* input = nullptr;
    for (const onnx::ValueInfoProto& v : graph_.input()) {
      if (constants_.contains(v.name())) continue;  // older exporters list initializers too
      if (input != nullptr) {
        return absl::InvalidArgumentError(absl::StrCat(
            "ONNX graph has more than one input ('", input->name(), "', '", v.name(),
            "'); Cohort models take one"));
      }
      input = &v;
    }
    if (input == nullptr) return absl::InvalidArgumentError("ONNX graph has no input");
    const auto& type = input->type().tensor_type();
    if (type.elem_type() != onnx::TensorProto::FLOAT) {
      return absl::InvalidArgumentError(absl::StrCat("ONNX input '", input->name(),
                                                     "' must be FLOAT, got data type ",
                                                     type.elem_type()));
    }
    const auto& dims = type.shape().dim();
    std::vector<std::string> shown;
    bool ok = dims.size() == 2 || dims.size() == 4;
    for (int i = 0; i < dims.size(); ++i) {
      shown.push_back(dims[i].has_dim_value() ? absl::StrCat(dims[i].dim_value())
                                              : dims[i].dim_param());
      if (i == 0) continue;  // the batch: fixed or symbolic
      if (!dims[i].has_dim_value() || dims[i].dim_value() < 1) ok = false;
      if (ok) result_.graph.add_input_shape(dims[i].dim_value());
    }
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          "ONNX input '", input->name(), "' must be [N, features] or [N, C, H, W] with fixed "
          "sizes after the batch, got [", absl::StrJoin(shown, ", "), "]"));
    }
    current_ = input->name();
    return absl::OkStatus();
  }

  absl::StatusOr<Shape> CurrentShape() const {
    absl::StatusOr<GraphInfo> info = AnalyzeLayers(result_.graph);
    if (!info.ok()) return info.status();
    if (info->layers.empty()) return info->input;
    return info->layers.back().output;
  }

  // The constant an input names (initializer or Constant output), or null.
  const onnx::TensorProto* Constant(const std::string& name) const {
    auto it = constants_.find(name);
    return it == constants_.end() ? nullptr : &it->second;
  }

  absl::StatusOr<FloatTensor> Weights(const onnx::NodeProto& node, int input,
                                      absl::string_view role) const {
    const onnx::TensorProto* t =
        input < node.input_size() ? Constant(node.input(input)) : nullptr;
    if (t == nullptr) {
      return NodeError(node, absl::StrCat("its ", role, " must be an initializer or a Constant"));
    }
    absl::StatusOr<FloatTensor> values = onnx_internal::ReadFloats(*t);
    if (!values.ok()) return NodeError(node, values.status().message());
    return values;
  }

  // A new layer named after the weights ("conv1.weight" -> "conv1"), or the node.
  Layer* AddLayer(const onnx::NodeProto& node, const std::string& weights_name = "") {
    std::string name;
    if (absl::EndsWith(weights_name, ".weight")) {
      name = Sanitize(weights_name.substr(0, weights_name.size() - 7));
    }
    if (name.empty()) name = Sanitize(node.name());
    if (name.empty()) name = absl::StrCat(node.op_type(), "_", result_.graph.layers_size());
    std::string unique = name;
    for (int k = 2; used_names_.contains(unique); ++k) unique = absl::StrCat(name, "_", k);
    used_names_.insert(unique);
    Layer* layer = result_.graph.add_layers();
    layer->set_name(unique);
    return layer;
  }

  absl::Status ImportNode(int index) {
    const onnx::NodeProto& node = graph_.node(index);
    if (!node.domain().empty() && node.domain() != "ai.onnx") {
      return NodeError(node, absl::StrCat("operators of domain '", node.domain(),
                                          "' are not supported"));
    }
    const std::string& op = node.op_type();
    if (op == "Constant") {
      absl::StatusOr<onnx::TensorProto> value = onnx_internal::ConstantValue(node);
      if (!value.ok()) return value.status();
      constants_[node.output(0)] = *std::move(value);
      return absl::OkStatus();
    }
    if (node.input_size() < 1 || node.input(0) != current_) {
      return NodeError(node, absl::StrCat("Cohort imports a chain of layers; this node's first "
                                          "input is '", node.input_size() ? node.input(0) : "",
                                          "', not the previous output '", current_, "'"));
    }
    if (node.output_size() < 1) return NodeError(node, "has no output");
    if (op == "Pad") {
      if (absl::Status s = CheckZeroPad(node); !s.ok()) return s;
      current_ = node.output(0);
      return absl::OkStatus();
    }
    if (op == "Dropout" || op == "Identity") {
      if (node.output_size() > 1 && !node.output(1).empty()) {
        return NodeError(node, "a Dropout mask output is not supported (export in eval mode)");
      }
      current_ = node.output(0);
      return absl::OkStatus();
    }
    absl::Status status;
    if (op == "Gemm") {
      status = ImportGemm(node);
    } else if (op == "MatMul") {
      status = ImportMatMul(index);
    } else if (op == "Conv") {
      status = ImportConv(node);
    } else if (op == "Relu") {
      AddLayer(node)->mutable_relu();
    } else if (op == "Clip") {
      status = ImportClip(node);
    } else if (op == "MaxPool" || op == "AveragePool") {
      status = ImportPool(node, op == "MaxPool");
    } else if (op == "GlobalAveragePool") {
      AddLayer(node)->mutable_global_avg_pool();
    } else if (op == "Flatten") {
      if (onnx_internal::IntAttribute(node, "axis", 1) != 1) {
        return NodeError(node, "only axis = 1 (keep the batch) is supported");
      }
      AddLayer(node)->mutable_flatten();
    } else if (op == "Reshape") {
      status = ImportReshape(node);
    } else if (op == "Softmax") {
      const int64_t axis = onnx_internal::IntAttribute(node, "axis", opset_ >= 13 ? -1 : 1);
      if (axis != 1 && axis != -1) {
        return NodeError(node, absl::StrCat("only axis 1 or -1 of a [N, classes] input is "
                                            "supported, got ", axis));
      }
      AddLayer(node)->mutable_softmax();
    } else {
      return NodeError(node, absl::StrCat("operator not supported; Cohort imports ", kSupported));
    }
    if (!status.ok()) return status;
    if (node.output_size() > 1 && !(node.output_size() == 2 && node.output(1).empty())) {
      return NodeError(node, "only the first output is supported");
    }
    current_ = fused_next_ ? graph_.node(index + 1).output(0) : node.output(0);
    // Catch shape errors at the node that causes them.
    if (absl::StatusOr<Shape> shape = CurrentShape(); !shape.ok()) {
      return NodeError(node, shape.status().message());
    }
    return absl::OkStatus();
  }

  absl::Status AddDense(const onnx::NodeProto& node, const std::string& weights_name,
                        const FloatTensor& kernel_kn, const FloatTensor* bias, float bias_scale) {
    absl::StatusOr<Shape> in = CurrentShape();
    if (!in.ok()) return in.status();
    const int64_t k = kernel_kn.dims[0];
    const int64_t n = kernel_kn.dims[1];
    if (in->size() != 1 || (*in)[0] != k) {
      return NodeError(node, absl::StrCat("weights of ", k, " inputs do not fit the input ",
                                          ShapeToString(*in), " (flatten first)"));
    }
    Layer* layer = AddLayer(node, weights_name);
    layer->mutable_dense()->set_units(n);
    layer->mutable_dense()->set_use_bias(bias != nullptr);
    Append(kernel_kn.values, 1.0f);
    if (bias != nullptr) {
      if (bias->values.size() != static_cast<size_t>(n)) {
        return NodeError(node, absl::StrCat("bias has ", bias->values.size(), " values, want ", n));
      }
      Append(bias->values, bias_scale);
    }
    return absl::OkStatus();
  }

  void Append(const std::vector<float>& values, float scale) {
    for (float v : values) result_.parameters.push_back(v * scale);
  }

  absl::Status ImportGemm(const onnx::NodeProto& node) {
    if (onnx_internal::IntAttribute(node, "transA", 0) != 0) {
      return NodeError(node, "transA = 1 is not supported");
    }
    const bool trans_b = onnx_internal::IntAttribute(node, "transB", 0) != 0;
    const float alpha = onnx_internal::FloatAttribute(node, "alpha", 1.0f);
    const float beta = onnx_internal::FloatAttribute(node, "beta", 1.0f);
    absl::StatusOr<FloatTensor> b = Weights(node, 1, "B");
    if (!b.ok()) return b.status();
    if (b->dims.size() != 2) return NodeError(node, "B must be a matrix");
    // Cohort stores [in, units]; transB = 1 (PyTorch's Linear) stores [units, in].
    FloatTensor kernel;
    kernel.dims = trans_b ? std::vector<int64_t>{b->dims[1], b->dims[0]} : b->dims;
    kernel.values.resize(b->values.size());
    for (int64_t r = 0; r < kernel.dims[0]; ++r) {
      for (int64_t c = 0; c < kernel.dims[1]; ++c) {
        const int64_t from = trans_b ? c * kernel.dims[0] + r : r * kernel.dims[1] + c;
        kernel.values[r * kernel.dims[1] + c] = alpha * b->values[from];
      }
    }
    std::optional<FloatTensor> bias;
    if (node.input_size() > 2 && !node.input(2).empty()) {
      absl::StatusOr<FloatTensor> c = Weights(node, 2, "C (bias)");
      if (!c.ok()) return c.status();
      bias = *std::move(c);
    }
    return AddDense(node, node.input(1), kernel, bias ? &*bias : nullptr, beta);
  }

  // MatMul by a constant [in, units], and an Add of a constant [units] right after it.
  absl::Status ImportMatMul(int index) {
    const onnx::NodeProto& node = graph_.node(index);
    absl::StatusOr<FloatTensor> b = Weights(node, 1, "second input");
    if (!b.ok()) return b.status();
    if (b->dims.size() != 2) return NodeError(node, "the second input must be a matrix");
    std::optional<FloatTensor> bias;
    if (index + 1 < graph_.node_size()) {
      const onnx::NodeProto& next = graph_.node(index + 1);
      if (next.op_type() == "Add" && next.input_size() == 2 && next.input(0) == node.output(0) &&
          Constant(next.input(1)) != nullptr) {
        absl::StatusOr<FloatTensor> c = Weights(next, 1, "addend");
        if (!c.ok()) return c.status();
        bias = *std::move(c);
        fused_next_ = true;
      }
    }
    return AddDense(node, node.input(1), *b, bias ? &*bias : nullptr, 1.0f);
  }

  // Pads from `pads` or auto_pad, for a window over the current [C, H, W] input.
  absl::StatusOr<std::vector<int64_t>> ResolvePads(const onnx::NodeProto& node,
                                                   const std::vector<int64_t>& kernel,
                                                   const std::vector<int64_t>& strides) {
    const std::string auto_pad = onnx_internal::StringAttribute(node, "auto_pad", "NOTSET");
    std::vector<int64_t> pads = onnx_internal::IntsAttribute(node, "pads");
    if (auto_pad == "NOTSET") return pads.empty() ? std::vector<int64_t>{0, 0, 0, 0} : pads;
    if (auto_pad == "VALID") return std::vector<int64_t>{0, 0, 0, 0};
    if (auto_pad != "SAME_UPPER" && auto_pad != "SAME_LOWER") {
      return NodeError(node, absl::StrCat("auto_pad '", auto_pad, "' is not supported"));
    }
    absl::StatusOr<Shape> in = CurrentShape();
    if (!in.ok()) return in.status();
    if (in->size() != 3) return NodeError(node, "needs a [N, C, H, W] input");
    std::vector<int64_t> out(4);
    for (int axis = 0; axis < 2; ++axis) {
      const int64_t size = (*in)[1 + axis];
      const int64_t wanted = (size + strides[axis] - 1) / strides[axis];
      const int64_t total = std::max<int64_t>(0, (wanted - 1) * strides[axis] + kernel[axis] - size);
      const int64_t small = total / 2;
      const bool upper = auto_pad == "SAME_UPPER";
      out[axis] = upper ? small : total - small;
      out[2 + axis] = upper ? total - small : small;
    }
    return out;
  }

  // Reads kernel_shape / strides / pads / dilations of a Conv or pool into `window`'s fields.
  template <typename Window>
  absl::Status ImportWindow(const onnx::NodeProto& node, Window* window,
                            const std::vector<int64_t>& kernel) {
    if (kernel.size() != 2) {
      return NodeError(node, absl::StrCat("only 2-D windows are supported, kernel_shape has ",
                                          kernel.size(), " dimensions"));
    }
    std::vector<int64_t> strides = onnx_internal::IntsAttribute(node, "strides");
    if (strides.empty()) strides = {1, 1};
    if (strides.size() != 2) return NodeError(node, "strides must have 2 values");
    for (int64_t d : onnx_internal::IntsAttribute(node, "dilations")) {
      if (d != 1) return NodeError(node, "dilations other than 1 are not supported");
    }
    absl::StatusOr<std::vector<int64_t>> pads = ResolvePads(node, kernel, strides);
    if (!pads.ok()) return pads.status();
    if (pads->size() != 4) return NodeError(node, "pads must have 4 values");
    for (int64_t k : kernel) window->add_kernel_size(k);
    for (int64_t s : strides) window->add_strides(s);
    for (int64_t p : *pads) window->add_pads(p);
    return absl::OkStatus();
  }

  absl::Status ImportConv(const onnx::NodeProto& node) {
    absl::StatusOr<FloatTensor> w = Weights(node, 1, "weights");
    if (!w.ok()) return w.status();
    if (w->dims.size() != 4) return NodeError(node, "only 2-D convolutions are supported");
    std::vector<int64_t> kernel = onnx_internal::IntsAttribute(node, "kernel_shape");
    if (kernel.empty()) kernel = {w->dims[2], w->dims[3]};
    if (kernel.size() != 2 || kernel[0] != w->dims[2] || kernel[1] != w->dims[3]) {
      return NodeError(node, "kernel_shape does not match the weights");
    }
    absl::StatusOr<Shape> in = CurrentShape();
    if (!in.ok()) return in.status();
    const int64_t groups = onnx_internal::IntAttribute(node, "group", 1);
    if (in->size() != 3 || groups < 1 || w->dims[1] * groups != (*in)[0]) {
      return NodeError(node, absl::StrCat("weights ", ShapeToString(w->dims), " with group ", groups,
                                          " do not fit the input ", ShapeToString(*in)));
    }
    Layer* layer = AddLayer(node, node.input(1));
    auto* conv = layer->mutable_conv2d();
    conv->set_filters(w->dims[0]);
    conv->set_groups(groups);
    if (absl::Status s = ImportWindow(node, conv, kernel); !s.ok()) return s;
    Append(w->values, 1.0f);
    const bool has_bias = node.input_size() > 2 && !node.input(2).empty();
    conv->set_use_bias(has_bias);
    if (has_bias) {
      absl::StatusOr<FloatTensor> b = Weights(node, 2, "bias");
      if (!b.ok()) return b.status();
      if (b->values.size() != static_cast<size_t>(w->dims[0])) {
        return NodeError(node, absl::StrCat("bias has ", b->values.size(), " values, want ",
                                            w->dims[0]));
      }
      Append(b->values, 1.0f);
    }
    return absl::OkStatus();
  }

  absl::Status ImportPool(const onnx::NodeProto& node, bool max) {
    if (onnx_internal::IntAttribute(node, "ceil_mode", 0) != 0) {
      return NodeError(node, "ceil_mode = 1 is not supported");
    }
    if (max && onnx_internal::IntAttribute(node, "storage_order", 0) != 0) {
      return NodeError(node, "storage_order = 1 is not supported");
    }
    const std::vector<int64_t> kernel = onnx_internal::IntsAttribute(node, "kernel_shape");
    Layer* layer = AddLayer(node);
    auto* pool = max ? layer->mutable_max_pool2d() : layer->mutable_avg_pool2d();
    if (absl::Status s = ImportWindow(node, pool, kernel); !s.ok()) return s;
    if (!max && onnx_internal::IntAttribute(node, "count_include_pad", 0) != 0) {
      for (int64_t p : pool->pads()) {
        if (p != 0) return NodeError(node, "count_include_pad = 1 with padding is not supported");
      }
    }
    return absl::OkStatus();
  }

  absl::Status ImportClip(const onnx::NodeProto& node) {
    float lo = -std::numeric_limits<float>::infinity();
    float hi = std::numeric_limits<float>::infinity();
    if (opset_ < 11) {
      lo = onnx_internal::FloatAttribute(node, "min", lo);
      hi = onnx_internal::FloatAttribute(node, "max", hi);
    } else {
      for (int i : {1, 2}) {
        if (node.input_size() <= i || node.input(i).empty()) continue;
        absl::StatusOr<FloatTensor> v = Weights(node, i, i == 1 ? "min" : "max");
        if (!v.ok()) return v.status();
        if (v->values.size() != 1) return NodeError(node, "min and max must be scalars");
        (i == 1 ? lo : hi) = v->values[0];
      }
    }
    const bool after_relu = result_.graph.layers_size() > 0 &&
                            result_.graph.layers().rbegin()->has_relu();
    if (lo == 0.0f && hi == 6.0f && after_relu) {
      // PyTorch exports relu6 as Relu then Clip(0, 6): one ReLU6 layer.
      result_.graph.mutable_layers()->rbegin()->mutable_relu6();
    } else if (lo == 0.0f && hi == 6.0f) {
      AddLayer(node)->mutable_relu6();
    } else if (lo == 0.0f && std::isinf(hi)) {
      AddLayer(node)->mutable_relu();
    } else {
      return NodeError(node, absl::StrCat("only Clip(0, 6) (ReLU6) and Clip(0, inf) are "
                                          "supported, got Clip(", lo, ", ", hi, ")"));
    }
    return absl::OkStatus();
  }

  // PyTorch's AvgPool2d exports a Pad of zeros before the pool; any other Pad would change the
  // pool's divisor or the convolution's edges, which Cohort's pads cannot express exactly.
  absl::Status CheckZeroPad(const onnx::NodeProto& node) {
    if (onnx_internal::StringAttribute(node, "mode", "constant") != "constant") {
      return NodeError(node, "only constant padding is supported");
    }
    std::vector<int64_t> pads = onnx_internal::IntsAttribute(node, "pads");  // opset < 11
    if (node.input_size() > 1 && !node.input(1).empty()) {
      const onnx::TensorProto* t = Constant(node.input(1));
      if (t == nullptr) return NodeError(node, "its pads must be an initializer or a Constant");
      absl::StatusOr<std::vector<int64_t>> values = onnx_internal::ReadInt64s(*t);
      if (!values.ok()) return NodeError(node, values.status().message());
      pads = *std::move(values);
    }
    for (int64_t p : pads) {
      if (p != 0) {
        return NodeError(node, "only an all-zero Pad is supported (put the padding on the Conv "
                               "or pool)");
      }
    }
    return absl::OkStatus();
  }

  absl::Status ImportReshape(const onnx::NodeProto& node) {
    const onnx::TensorProto* t = node.input_size() > 1 ? Constant(node.input(1)) : nullptr;
    if (t == nullptr) return NodeError(node, "its shape must be an initializer or a Constant");
    absl::StatusOr<std::vector<int64_t>> target = onnx_internal::ReadInt64s(*t);
    if (!target.ok()) return NodeError(node, target.status().message());
    absl::StatusOr<Shape> in = CurrentShape();
    if (!in.ok()) return in.status();
    if (target->empty() || ((*target)[0] != -1 && (*target)[0] != 0)) {
      // A literal batch size would tie the model to one batch.
      return NodeError(node, absl::StrCat("the first dimension of the shape must be 0 or -1 (the "
                                          "batch), got [", absl::StrJoin(*target, ", "), "]"));
    }
    Shape shape;
    int64_t known = 1;
    int infer = -1;
    for (size_t i = 1; i < target->size(); ++i) {
      int64_t d = (*target)[i];
      if (d == 0) {
        if (i - 1 >= in->size()) return NodeError(node, "a 0 in the shape has no input dimension");
        d = (*in)[i - 1];
      }
      if (d == -1) {
        if (infer >= 0 || (*target)[0] == -1) {
          return NodeError(node, "the shape may infer one dimension only");
        }
        infer = static_cast<int>(shape.size());
        shape.push_back(1);
        continue;
      }
      if (d < 1) return NodeError(node, absl::StrCat("bad shape dimension ", d));
      shape.push_back(d);
      known *= d;
    }
    if (infer >= 0) shape[infer] = NumElements(*in) / std::max<int64_t>(known, 1);
    Layer* layer = AddLayer(node);
    // AnalyzeLayers (after this node) names a shape that does not hold the input.
    for (int64_t d : shape) layer->mutable_reshape()->add_shape(d);
    return absl::OkStatus();
  }

  const onnx::GraphProto& graph_;
  int64_t opset_ = 13;
  std::map<std::string, onnx::TensorProto> constants_;
  std::string current_;
  std::set<std::string> used_names_;
  bool fused_next_ = false;
  ImportedModel result_;
};

}  // namespace

absl::StatusOr<ImportedModel> ImportOnnx(absl::string_view model_bytes) {
  onnx::ModelProto model;
  if (model_bytes.size() > (size_t{1} << 30) ||
      !model.ParseFromArray(model_bytes.data(), static_cast<int>(model_bytes.size()))) {
    return absl::InvalidArgumentError("the ONNX model does not parse as an onnx.ModelProto");
  }
  if (!model.has_graph()) return absl::InvalidArgumentError("the ONNX model has no graph");
  return Importer(model).Run();
}

}  // namespace cohort::model
