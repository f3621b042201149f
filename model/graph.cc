#include "model/graph.h"

#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace cohort::model {
namespace {

using cohort::v1::Layer;

std::string Values(const google::protobuf::RepeatedField<int64_t>& values) {
  return absl::StrCat("[", absl::StrJoin(values, ", "), "]");
}

bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-')) {
      return false;
    }
  }
  return true;
}

// Builds "graph.layers[i] 'name': <attribute> must be <requirement>, got <got>".
class LayerErrors {
 public:
  LayerErrors(int index, const std::string& name)
      : prefix_(absl::StrCat("graph.layers[", index, "] '", name, "': ")) {}

  absl::Status Invalid(absl::string_view attribute, absl::string_view requirement,
                       absl::string_view got) const {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix_, attribute, " must be ", requirement, ", got ", got));
  }
  absl::Status Plain(absl::string_view text) const {
    return absl::InvalidArgumentError(absl::StrCat(prefix_, text));
  }
  absl::Status Input(absl::string_view kind, absl::string_view requirement,
                     const Shape& input) const {
    return absl::InvalidArgumentError(absl::StrCat(prefix_, kind, " needs ", requirement,
                                                   " input, got ", ShapeToString(input)));
  }

 private:
  std::string prefix_;
};

// Reads kernel_size, strides and pads of a Conv2D or Pool2D.
absl::StatusOr<Window> ReadWindow(const LayerErrors& errors, absl::string_view kind,
                                  const google::protobuf::RepeatedField<int64_t>& kernel,
                                  const google::protobuf::RepeatedField<int64_t>& strides,
                                  const google::protobuf::RepeatedField<int64_t>& pads,
                                  bool strides_default_to_kernel) {
  Window w;
  if (kernel.size() != 2 || kernel[0] < 1 || kernel[1] < 1) {
    return errors.Invalid(absl::StrCat(kind, ".kernel_size"), "2 values >= 1", Values(kernel));
  }
  w.kernel_h = kernel[0];
  w.kernel_w = kernel[1];
  if (strides.empty()) {
    w.stride_h = strides_default_to_kernel ? w.kernel_h : 1;
    w.stride_w = strides_default_to_kernel ? w.kernel_w : 1;
  } else if (strides.size() != 2 || strides[0] < 1 || strides[1] < 1) {
    return errors.Invalid(absl::StrCat(kind, ".strides"), "empty or 2 values >= 1",
                          Values(strides));
  } else {
    w.stride_h = strides[0];
    w.stride_w = strides[1];
  }
  if (!pads.empty()) {
    if (pads.size() != 4) {
      return errors.Invalid(absl::StrCat(kind, ".pads"), "empty or 4 values [top, left, bottom, right]",
                            Values(pads));
    }
    // A pad as wide as the kernel would make windows of padding alone.
    if (pads[0] < 0 || pads[2] < 0 || pads[0] >= w.kernel_h || pads[2] >= w.kernel_h ||
        pads[1] < 0 || pads[3] < 0 || pads[1] >= w.kernel_w || pads[3] >= w.kernel_w) {
      return errors.Invalid(absl::StrCat(kind, ".pads"), "in [0, kernel size)", Values(pads));
    }
    w.pad_top = pads[0];
    w.pad_left = pads[1];
    w.pad_bottom = pads[2];
    w.pad_right = pads[3];
  }
  return w;
}

absl::StatusOr<Shape> WindowOutput(const LayerErrors& errors, absl::string_view kind,
                                   const Window& w, const Shape& input, int64_t channels) {
  const int64_t h = input[1] + w.pad_top + w.pad_bottom - w.kernel_h;
  const int64_t width = input[2] + w.pad_left + w.pad_right - w.kernel_w;
  if (h < 0 || width < 0) {
    return errors.Input(kind, absl::StrCat("a (padded) input at least as large as the ", w.kernel_h,
                                           "x", w.kernel_w, " kernel, got"),
                        input);
  }
  return Shape{channels, h / w.stride_h + 1, width / w.stride_w + 1};
}

bool UseBias(const Layer& layer) {
  if (layer.has_dense()) return !layer.dense().has_use_bias() || layer.dense().use_bias();
  if (layer.has_conv2d()) return !layer.conv2d().has_use_bias() || layer.conv2d().use_bias();
  return false;
}

void AddTensor(GraphInfo& info, const std::string& name, Shape shape) {
  auto* tensor = info.layout.add_tensors();
  tensor->set_name(name);
  for (int64_t d : shape) tensor->add_shape(d);
  tensor->set_dtype(cohort::v1::DTYPE_FLOAT32);
  info.num_parameters += NumElements(shape);
}

// Shape inference of one layer; fills `out` and registers its tensors.
absl::Status AnalyzeLayer(const Layer& layer, const LayerErrors& errors, bool last,
                          GraphInfo& info, LayerInfo& out) {
  const Shape& in = out.input;
  switch (layer.kind_case()) {
    case Layer::kDense: {
      if (in.size() != 1) return errors.Input("dense", "a rank-1 (flattened)", in);
      if (layer.dense().units() < 1) {
        return errors.Invalid("dense.units", ">= 1", absl::StrCat(layer.dense().units()));
      }
      out.output = {layer.dense().units()};
      out.kernel_offset = info.num_parameters;
      out.kernel_size = in[0] * layer.dense().units();
      if (out.kernel_size > kMaxGraphParameters) {
        return errors.Invalid("dense.units", absl::StrCat("at most ", kMaxGraphParameters,
                                                          " weights"),
                              absl::StrCat(out.kernel_size));
      }
      AddTensor(info, layer.name() + "/kernel", {in[0], layer.dense().units()});
      break;
    }
    case Layer::kConv2D: {
      const auto& c = layer.conv2d();
      if (in.size() != 3) return errors.Input("conv2d", "a rank-3 [C, H, W]", in);
      if (c.filters() < 1) return errors.Invalid("conv2d.filters", ">= 1", absl::StrCat(c.filters()));
      const int64_t groups = c.groups() == 0 ? 1 : c.groups();
      if (groups < 1 || in[0] % groups != 0 || c.filters() % groups != 0) {
        return errors.Invalid("conv2d.groups",
                              absl::StrCat("a divisor of the ", in[0], " input channels and ",
                                           c.filters(), " filters"),
                              absl::StrCat(c.groups()));
      }
      absl::StatusOr<Window> w =
          ReadWindow(errors, "conv2d", c.kernel_size(), c.strides(), c.pads(), false);
      if (!w.ok()) return w.status();
      absl::StatusOr<Shape> o = WindowOutput(errors, "conv2d", *w, in, c.filters());
      if (!o.ok()) return o.status();
      out.output = *o;
      out.window = *w;
      out.groups = groups;
      out.kernel_offset = info.num_parameters;
      out.kernel_size = c.filters() * (in[0] / groups) * w->kernel_h * w->kernel_w;
      if (out.kernel_size > kMaxGraphParameters) {
        return errors.Invalid("conv2d", absl::StrCat("at most ", kMaxGraphParameters, " weights"),
                              absl::StrCat(out.kernel_size));
      }
      AddTensor(info, layer.name() + "/kernel",
                {c.filters(), in[0] / groups, w->kernel_h, w->kernel_w});
      break;
    }
    case Layer::kMaxPool2D:
    case Layer::kAvgPool2D: {
      const bool max = layer.kind_case() == Layer::kMaxPool2D;
      const char* kind = max ? "max_pool2d" : "avg_pool2d";
      const auto& p = max ? layer.max_pool2d() : layer.avg_pool2d();
      if (in.size() != 3) return errors.Input(kind, "a rank-3 [C, H, W]", in);
      absl::StatusOr<Window> w =
          ReadWindow(errors, kind, p.kernel_size(), p.strides(), p.pads(), true);
      if (!w.ok()) return w.status();
      absl::StatusOr<Shape> o = WindowOutput(errors, kind, *w, in, in[0]);
      if (!o.ok()) return o.status();
      out.output = *o;
      out.window = *w;
      break;
    }
    case Layer::kGlobalAvgPool:
      if (in.size() != 3) return errors.Input("global_avg_pool", "a rank-3 [C, H, W]", in);
      out.output = {in[0], 1, 1};
      break;
    case Layer::kRelu:
    case Layer::kRelu6:
      out.output = in;
      break;
    case Layer::kFlatten:
      out.output = {NumElements(in)};
      break;
    case Layer::kReshape: {
      const auto& s = layer.reshape().shape();
      Shape target(s.begin(), s.end());
      bool dims_ok = (target.size() == 1 || target.size() == 3);
      for (int64_t d : target) dims_ok = dims_ok && d >= 1 && d <= kMaxActivationElements;
      if (!dims_ok) {
        return errors.Invalid("reshape.shape", "1 or 3 dimensions >= 1", Values(s));
      }
      if (NumElements(target) != NumElements(in)) {
        return errors.Invalid("reshape.shape",
                              absl::StrCat("a shape of ", NumElements(in), " elements like ",
                                           ShapeToString(in)),
                              Values(s));
      }
      out.output = std::move(target);
      break;
    }
    case Layer::kSoftmax:
      if (!last) {
        return errors.Plain("softmax is supported only as the last layer");
      }
      if (in.size() != 1) return errors.Input("softmax", "a rank-1", in);
      out.output = in;
      break;
    case Layer::KIND_NOT_SET:
      return errors.Invalid("kind", "one of dense, conv2d, max_pool2d, avg_pool2d, "
                            "global_avg_pool, relu, relu6, flatten, reshape, softmax",
                            "none");
  }
  if (NumElements(out.output) > kMaxActivationElements) {
    return errors.Invalid("output", absl::StrCat("at most ", kMaxActivationElements, " elements"),
                          ShapeToString(out.output));
  }
  if (UseBias(layer)) {
    out.bias_offset = info.num_parameters;
    out.bias_size = out.output[0];
    AddTensor(info, layer.name() + "/bias", {out.output[0]});
  }
  if (info.num_parameters > kMaxGraphParameters) {
    return errors.Invalid("parameters", absl::StrCat("at most ", kMaxGraphParameters, " in the graph"),
                          absl::StrCat(info.num_parameters));
  }
  return absl::OkStatus();
}

}  // namespace

int64_t NumElements(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string ShapeToString(const Shape& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

absl::StatusOr<GraphInfo> AnalyzeLayers(const cohort::v1::ModelGraph& graph) {
  GraphInfo info;
  const auto& input = graph.input_shape();
  bool input_ok = input.size() == 1 || input.size() == 3;
  for (int64_t d : input) input_ok = input_ok && d >= 1 && d <= kMaxActivationElements;
  info.input.assign(input.begin(), input.end());
  if (!input_ok || NumElements(info.input) > kMaxActivationElements) {
    return absl::InvalidArgumentError(
        absl::StrCat("graph.input_shape must be [features] or [channels, height, width] with "
                     "dimensions >= 1 and at most ",
                     kMaxActivationElements, " elements, got ", Values(input)));
  }
  if (graph.layers_size() > kMaxLayers) {
    return absl::InvalidArgumentError(absl::StrCat("graph.layers must hold 1 to ", kMaxLayers,
                                                   " layers, got ", graph.layers_size()));
  }
  std::set<std::string> names;
  info.layers.resize(graph.layers_size());
  Shape current = info.input;
  for (int i = 0; i < graph.layers_size(); ++i) {
    const Layer& layer = graph.layers(i);
    if (!ValidName(layer.name())) {
      return absl::InvalidArgumentError(
          absl::StrCat("graph.layers[", i, "].name must be 1 to 64 characters of "
                       "[A-Za-z0-9_.-], got '", layer.name(), "'"));
    }
    if (!names.insert(layer.name()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("graph.layers[", i, "].name must be unique, got a second '", layer.name(), "'"));
    }
    LayerInfo& out = info.layers[i];
    out.input = current;
    const bool last = i + 1 == graph.layers_size();
    if (absl::Status s = AnalyzeLayer(layer, LayerErrors(i, layer.name()), last, info, out);
        !s.ok()) {
      return s;
    }
    current = out.output;
  }
  return info;
}

absl::StatusOr<GraphInfo> AnalyzeGraph(const cohort::v1::ModelGraph& graph) {
  if (graph.layers().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("graph.layers must hold 1 to ", kMaxLayers, " layers, got 0"));
  }
  if (graph.loss() != cohort::v1::LOSS_UNSPECIFIED &&
      graph.loss() != cohort::v1::LOSS_SOFTMAX_CROSS_ENTROPY) {
    return absl::InvalidArgumentError(absl::StrCat(
        "graph.loss must be LOSS_SOFTMAX_CROSS_ENTROPY, got ", static_cast<int>(graph.loss())));
  }
  absl::StatusOr<GraphInfo> analyzed = AnalyzeLayers(graph);
  if (!analyzed.ok()) return analyzed.status();
  GraphInfo info = *std::move(analyzed);
  const Shape& current = info.layers.back().output;
  const bool ends_in_softmax = graph.layers().rbegin()->has_softmax();
  info.logits_layer = graph.layers_size() - 1 - (ends_in_softmax ? 1 : 0);
  if (current.size() != 1 || current[0] < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("graph: softmax cross-entropy needs the last layer to output a rank-1 "
                     "vector of at least 2 classes, got ",
                     ShapeToString(current), " (add flatten and dense layers)"));
  }
  if (info.num_parameters == 0) {
    return absl::InvalidArgumentError("graph has no trainable layer (dense or conv2d)");
  }
  info.num_outputs = current[0];
  return info;
}

cohort::v1::ModelGraph CanonicalGraph(cohort::v1::ModelGraph graph) {
  if (graph.loss() == cohort::v1::LOSS_UNSPECIFIED) {
    graph.set_loss(cohort::v1::LOSS_SOFTMAX_CROSS_ENTROPY);
  }
  auto fill_window = [](google::protobuf::RepeatedField<int64_t>* strides,
                        google::protobuf::RepeatedField<int64_t>* pads,
                        const google::protobuf::RepeatedField<int64_t>& kernel, bool pool) {
    if (strides->empty() && kernel.size() == 2) {
      strides->Add(pool ? kernel[0] : 1);
      strides->Add(pool ? kernel[1] : 1);
    }
    if (pads->empty()) {
      for (int i = 0; i < 4; ++i) pads->Add(0);
    }
  };
  for (Layer& layer : *graph.mutable_layers()) {
    if (layer.has_dense() && !layer.dense().has_use_bias()) {
      layer.mutable_dense()->set_use_bias(true);
    }
    if (layer.has_conv2d()) {
      auto* c = layer.mutable_conv2d();
      if (!c->has_use_bias()) c->set_use_bias(true);
      if (c->groups() == 0) c->set_groups(1);
      fill_window(c->mutable_strides(), c->mutable_pads(), c->kernel_size(), false);
    }
    if (layer.has_max_pool2d()) {
      auto* p = layer.mutable_max_pool2d();
      fill_window(p->mutable_strides(), p->mutable_pads(), p->kernel_size(), true);
    }
    if (layer.has_avg_pool2d()) {
      auto* p = layer.mutable_avg_pool2d();
      fill_window(p->mutable_strides(), p->mutable_pads(), p->kernel_size(), true);
    }
  }
  return graph;
}

}  // namespace cohort::model
