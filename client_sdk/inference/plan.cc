#include "client_sdk/inference/plan.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "client_sdk/inference/artifact.h"
#include "client_sdk/inference/row_convolution.h"
#include "codec/model.h"

namespace cohort::inference {
namespace {

using cohort::v1::InferenceModel;
using cohort::v1::Layer;
using Dims = std::array<int64_t, 3>;  // C, H, W

constexpr float kInfinity = std::numeric_limits<float>::infinity();
// XNNPACK's qc8 convolution kernels read input channels in blocks of 8 per tap (im2col.h).
constexpr int64_t kIm2ColBelowChannels = 8;

// The (h, w, c) and (c, h, w) orders of a [C, H, W] tensor are the same when C = 1 or H = W = 1.
std::optional<Dims> HwcUnlessTrivial(const model::Shape& shape) {
  if (shape.size() != 3 || shape[0] == 1 || shape[1] * shape[2] == 1) return std::nullopt;
  return Dims{shape[0], shape[1], shape[2]};
}

// For each position in (h, w, c) order, the index of its value in (c, h, w) order.
std::vector<int64_t> HwcOrder(const Dims& d) {
  const auto [c, h, w] = d;
  std::vector<int64_t> order(static_cast<size_t>(c * h * w));
  for (int64_t y = 0; y < h; ++y) {
    for (int64_t x = 0; x < w; ++x) {
      for (int64_t ch = 0; ch < c; ++ch) order[(y * w + x) * c + ch] = (ch * h + y) * w + x;
    }
  }
  return order;
}

Quant QuantOf(const cohort::v1::QuantizationParams& p) {
  return {p.scale(), static_cast<int8_t>(p.zero_point())};
}

bool SameQuant(const Quant& a, const Quant& b) {
  return a.scale == b.scale && a.zero_point == b.zero_point;
}

// The int8 code of the real value 6 (ReLU6's ceiling), saturated.
int8_t SixCode(const Quant& q) {
  const double code = q.zero_point + std::nearbyint(6.0 / q.scale);
  return static_cast<int8_t>(std::clamp(code, -128.0, 127.0));
}

// What the compiler knows about the tensor between two layers.
struct Tensor {
  model::Shape shape;
  // Dimensions whose (h, w, c) order the values are in, when that differs from the graph's
  // row-major order: every non-trivial rank-3 tensor (NHWC), and a vector flattened from one.
  std::optional<Dims> hwc;
  Quant q;  // INT8 only
};

class Compiler {
 public:
  Compiler(const InferenceModel& artifact, const model::GraphInfo& info)
      : artifact_(artifact), graph_(artifact.graph()), info_(info),
        int8_(artifact.format() == cohort::v1::INFERENCE_FORMAT_INT8) {}

  absl::StatusOr<Plan> Compile() {
    if (!int8_) {
      COHORT_ASSIGN_OR_RETURN(params_, codec::FloatsFromBytes(artifact_.float_parameters()));
    }
    plan_.input_size = model::NumElements(info_.input);
    plan_.output_size = info_.num_outputs;
    t_.shape = info_.input;
    t_.hwc = HwcUnlessTrivial(info_.input);
    if (t_.hwc) plan_.input_order = HwcOrder(*t_.hwc);
    if (int8_) {
      t_.q = QuantOf(artifact_.input());
      AddConvert(StepKind::kQuantize, "input", plan_.input_size, t_.q);
    }
    for (int i = 0; i < graph_.layers_size(); ++i) {
      const bool fuse = i + 1 < graph_.layers_size() && IsActivation(graph_.layers(i + 1)) &&
                        (graph_.layers(i).has_dense() || graph_.layers(i).has_conv2d());
      COHORT_RETURN_IF_ERROR(AddLayer(i, fuse));
      if (fuse) ++i;  // the activation is the clamp of the operator just added
    }
    if (!plan_.steps.back().float_out()) {
      AddConvert(StepKind::kDequantize, "output", plan_.output_size, t_.q);
    }
    if (t_.hwc) plan_.output_order = HwcOrder(*t_.hwc);
    return std::move(plan_);
  }

 private:
  static bool IsActivation(const Layer& layer) { return layer.has_relu() || layer.has_relu6(); }

  absl::Status AddLayer(int i, bool fuse) {
    const Layer& layer = graph_.layers(i);
    const model::LayerInfo& li = info_.layers[i];
    label_ = LayerLabel(graph_, i);
    if (layer.has_dense()) return AddDense(i, li, fuse);
    if (layer.has_conv2d()) return AddConv(i, li, fuse);
    if (layer.has_max_pool2d()) {
      COHORT_RETURN_IF_ERROR(KeepsQuantization(i));
      Step s = Spatial(StepKind::kMaxPool, li);
      Finish(s, li.output);
      return absl::OkStatus();
    }
    if (layer.has_avg_pool2d()) return AddAvgPool(i, li);
    if (layer.has_global_avg_pool()) return AddGlobalAvgPool(i, li);
    if (IsActivation(layer)) return AddClamp(i, layer.has_relu6());
    if (layer.has_flatten()) {
      COHORT_RETURN_IF_ERROR(KeepsQuantization(i));
      t_.shape = li.output;  // the values stay in their order; t_.hwc remembers which
      return absl::OkStatus();
    }
    if (layer.has_reshape()) return AddReshape(i, li);
    if (layer.has_softmax()) {
      if (int8_) AddConvert(StepKind::kDequantize, label_, model::NumElements(t_.shape), t_.q);
      Step s = Elementwise(StepKind::kSoftmax, model::NumElements(t_.shape));
      s.int8 = false;
      plan_.steps.push_back(std::move(s));
      return absl::OkStatus();
    }
    return absl::UnimplementedError(absl::StrCat(label_, ": layer kind not supported"));
  }

  // Output quantization and clamp of a Dense/Conv2D, with its fused activation if any.
  void OutputOf(int i, bool fuse, Step& s) {
    const bool relu6 = fuse && graph_.layers(i + 1).has_relu6();
    s.out_min = fuse ? 0.0f : -kInfinity;
    s.out_max = relu6 ? 6.0f : kInfinity;
    if (!int8_) return;
    s.out_q = QuantOf(artifact_.layers(fuse ? i + 1 : i).output());
    s.qmin = fuse ? s.out_q.zero_point : int8_t{-128};
    s.qmax = relu6 ? SixCode(s.out_q) : int8_t{127};
  }

  absl::Status AddDense(int i, const model::LayerInfo& li, bool fuse) {
    const int64_t in = li.input[0], units = li.output[0];
    // The kernel row for input position p is the graph's row for the value that sits there.
    const std::vector<int64_t> order = t_.hwc ? HwcOrder(*t_.hwc) : std::vector<int64_t>();
    auto row = [&](int64_t p) { return order.empty() ? p : order[p]; };
    Step s;
    s.label = label_;
    s.in_c = in;
    s.out_c = units;
    if (int8_) {
      // qc8 convolution 1x1: per-unit kernel scales, which fully_connected_nc_qs8 lacks.
      const cohort::v1::QuantizedLayer& q = artifact_.layers(i);
      s.kind = StepKind::kConvolution;
      s.int8 = true;
      s.qkernel.resize(static_cast<size_t>(in * units));
      for (int64_t u = 0; u < units; ++u) {
        for (int64_t p = 0; p < in; ++p) {
          s.qkernel[u * in + p] = static_cast<int8_t>(q.weights()[row(p) * units + u]);
        }
      }
      s.kernel_scales.assign(q.weight_scales().begin(), q.weight_scales().end());
      s.qbias.assign(q.bias().begin(), q.bias().end());
      s.in_q = t_.q;
    } else {
      s.kind = StepKind::kFullyConnected;
      s.kernel.resize(static_cast<size_t>(in * units));
      const float* kernel = params_.data() + li.kernel_offset;
      for (int64_t u = 0; u < units; ++u) {
        for (int64_t p = 0; p < in; ++p) s.kernel[u * in + p] = kernel[row(p) * units + u];
      }
      s.bias = Bias(li, units);
    }
    OutputOf(i, fuse, s);
    if (int8_) COHORT_RETURN_IF_ERROR(FitRequantization(s));
    t_.hwc.reset();
    Finish(s, li.output);
    return absl::OkStatus();
  }

  absl::Status AddConv(int i, const model::LayerInfo& li, bool fuse) {
    Step s = Spatial(StepKind::kConvolution, li);
    s.groups = li.groups;
    const int64_t filters = li.output[0];
    const int64_t group_in = li.input[0] / li.groups;
    const int64_t taps = li.window.kernel_h * li.window.kernel_w;
    // ONNX [F][C/g][kh][kw] -> XNNPACK [F][kh][kw][C/g] (F is already group-major in both).
    auto xnn_index = [&](int64_t f, int64_t c, int64_t tap) { return (f * taps + tap) * group_in + c; };
    auto onnx_index = [&](int64_t f, int64_t c, int64_t tap) { return (f * group_in + c) * taps + tap; };
    const int64_t size = filters * group_in * taps;
    if (int8_) {
      const cohort::v1::QuantizedLayer& q = artifact_.layers(i);
      s.qkernel.resize(static_cast<size_t>(size));
      for (int64_t f = 0; f < filters; ++f) {
        for (int64_t c = 0; c < group_in; ++c) {
          for (int64_t tap = 0; tap < taps; ++tap) {
            s.qkernel[xnn_index(f, c, tap)] = static_cast<int8_t>(q.weights()[onnx_index(f, c, tap)]);
          }
        }
      }
      s.kernel_scales.assign(q.weight_scales().begin(), q.weight_scales().end());
      s.qbias.assign(q.bias().begin(), q.bias().end());
    } else {
      s.kernel.resize(static_cast<size_t>(size));
      const float* kernel = params_.data() + li.kernel_offset;
      for (int64_t f = 0; f < filters; ++f) {
        for (int64_t c = 0; c < group_in; ++c) {
          for (int64_t tap = 0; tap < taps; ++tap) {
            s.kernel[xnn_index(f, c, tap)] = kernel[onnx_index(f, c, tap)];
          }
        }
      }
      s.bias = Bias(li, filters);
    }
    OutputOf(i, fuse, s);
    if (int8_) {
      COHORT_RETURN_IF_ERROR(FitRequantization(s));
      if (li.groups == 1 && group_in < kIm2ColBelowChannels && taps > 1) {
        plan_.steps.push_back(AsRowConvolution(s));
      }
    }
    Finish(s, li.output);
    return absl::OkStatus();
  }

  absl::Status AddAvgPool(int i, const model::LayerInfo& li) {
    const model::Window& w = li.window;
    const bool padded = w.pad_top + w.pad_left + w.pad_bottom + w.pad_right > 0;
    if (!int8_) {
      Step s = Spatial(StepKind::kAvgPool, li);
      Finish(s, li.output);
      return absl::OkStatus();
    }
    const Quant out = QuantOf(artifact_.layers(i).output());
    if (padded) {
      // The divisor changes at the borders: pool in float between two conversions.
      AddConvert(StepKind::kDequantize, label_, model::NumElements(li.input), t_.q);
      Step s = Spatial(StepKind::kAvgPool, li);
      s.int8 = false;
      plan_.steps.push_back(std::move(s));
      AddConvert(StepKind::kQuantize, label_, model::NumElements(li.output), out);
      Finish(li.output, out);
      return absl::OkStatus();
    }
    // Depthwise convolution summing the window's codes (each kernel code 1), scaled by 1/taps.
    Step s = Spatial(StepKind::kConvolution, li);
    const int64_t channels = li.input[0];
    const int64_t taps = w.kernel_h * w.kernel_w;
    s.groups = channels;
    s.qkernel.assign(static_cast<size_t>(channels * taps), int8_t{1});
    s.kernel_scales.assign(static_cast<size_t>(channels), 1.0f / static_cast<float>(taps));
    s.qbias.assign(static_cast<size_t>(channels), 0);
    s.out_q = out;
    COHORT_RETURN_IF_ERROR(FitRequantization(s));
    Finish(s, li.output);
    return absl::OkStatus();
  }

  absl::Status AddGlobalAvgPool(int i, const model::LayerInfo& li) {
    Step s = Spatial(StepKind::kGlobalAvgPool, li);
    if (!int8_) {
      Finish(s, li.output);
      return absl::OkStatus();
    }
    s.out_q = QuantOf(artifact_.layers(i).output());
    // global_average_pooling_nwc_qs8 supports input_scale / output_scale in [2^-8, 2^8) only.
    const float ratio = t_.q.scale / s.out_q.scale;
    if (ratio >= 0x1.0p-8f && ratio < 0x1.0p+8f) {
      Finish(s, li.output);
      return absl::OkStatus();
    }
    const Quant out = s.out_q;
    AddConvert(StepKind::kDequantize, label_, model::NumElements(li.input), t_.q);
    s.int8 = false;
    plan_.steps.push_back(std::move(s));
    AddConvert(StepKind::kQuantize, label_, model::NumElements(li.output), out);
    Finish(li.output, out);
    return absl::OkStatus();
  }

  absl::Status AddClamp(int i, bool relu6) {
    Step s = Elementwise(StepKind::kClamp, model::NumElements(t_.shape));
    s.out_min = 0.0f;
    s.out_max = relu6 ? 6.0f : kInfinity;
    if (int8_) {
      COHORT_RETURN_IF_ERROR(KeepsQuantization(i));
      s.qmin = t_.q.zero_point;  // the code of 0: zero is exact in the scheme
      s.qmax = relu6 ? SixCode(t_.q) : int8_t{127};
      if (s.qmin >= s.qmax) {
        return absl::UnimplementedError(absl::StrCat(
            label_, ": every input value quantizes to at most zero (zero_point ",
            static_cast<int>(s.qmin), "), an empty clamp that XNNPACK's clamp_nc_s8 refuses"));
      }
    }
    plan_.steps.push_back(std::move(s));
    return absl::OkStatus();
  }

  absl::Status AddReshape(int i, const model::LayerInfo& li) {
    COHORT_RETURN_IF_ERROR(KeepsQuantization(i));
    const std::optional<Dims> needed = HwcUnlessTrivial(li.output);
    if (li.output.size() == 3 && needed != t_.hwc) {
      return absl::UnimplementedError(absl::StrCat(
          label_, ": reshape from ", model::ShapeToString(li.input), " to ",
          model::ShapeToString(li.output),
          " would move values between the graph's NCHW order and XNNPACK's NHWC order, and this "
          "XNNPACK has no transpose operator; a reshape to rank 3 runs when C = 1 or H = W = 1 "
          "on both sides, or when it undoes a flatten"));
    }
    t_.shape = li.output;
    return absl::OkStatus();
  }

  // A layer that only moves values must carry its input's quantization (model/quantize.h).
  absl::Status KeepsQuantization(int i) {
    if (!int8_ || SameQuant(QuantOf(artifact_.layers(i).output()), t_.q)) {
      return absl::OkStatus();
    }
    return absl::InvalidArgumentError(absl::StrCat(
        label_, ": output quantization (scale ", artifact_.layers(i).output().scale(),
        ", zero_point ", artifact_.layers(i).output().zero_point(),
        ") differs from its input's, but the layer only moves values"));
  }

  // XNNPACK's qc8 convolution needs input_scale * kernel_scale / output_scale < 256 per channel.
  absl::Status FitRequantization(Step& s) {
    const int64_t per_channel = static_cast<int64_t>(s.qkernel.size()) / s.out_c;
    for (int64_t c = 0; c < s.out_c; ++c) {
      const float requantization = s.in_q.scale * s.kernel_scales[c] / s.out_q.scale;
      if (requantization < 256.0f) continue;
      const auto begin = s.qkernel.begin() + c * per_channel;
      if (std::any_of(begin, begin + per_channel, [](int8_t k) { return k != 0; })) {
        return absl::UnimplementedError(absl::StrCat(
            s.label, ": output channel ", c, " has requantization scale ", requantization,
            " (input scale x weight scale / output scale); XNNPACK's qc8 convolution needs < 256"));
      }
      // Only the bias reaches the output: rescale it to requantization 1, same real value.
      const float scale = s.out_q.scale / s.in_q.scale;
      const double code = std::nearbyint(static_cast<double>(s.qbias[c]) * s.kernel_scales[c] / scale);
      s.qbias[c] = static_cast<int32_t>(std::clamp(
          code, double{std::numeric_limits<int32_t>::min()},
          double{std::numeric_limits<int32_t>::max()}));
      s.kernel_scales[c] = scale;
    }
    if (s.qmin >= s.qmax) {
      return absl::UnimplementedError(absl::StrCat(
          s.label, ": the fused activation's output clamp [", static_cast<int>(s.qmin), ", ",
          static_cast<int>(s.qmax), "] is empty"));
    }
    return absl::OkStatus();
  }

  std::vector<float> Bias(const model::LayerInfo& li, int64_t channels) const {
    if (li.bias_size == 0) return std::vector<float>(static_cast<size_t>(channels), 0.0f);
    const float* bias = params_.data() + li.bias_offset;
    return std::vector<float>(bias, bias + channels);
  }

  // A step over NHWC geometry from the layer's [C, H, W] input and output.
  Step Spatial(StepKind kind, const model::LayerInfo& li) const {
    Step s;
    s.kind = kind;
    s.label = label_;
    s.int8 = int8_;
    s.in_c = li.input[0];
    s.in_h = li.input[1];
    s.in_w = li.input[2];
    s.out_c = li.output[0];
    s.out_h = li.output[1];
    s.out_w = li.output[2];
    s.window = li.window;
    s.in_q = t_.q;
    s.out_q = t_.q;
    s.out_min = -kInfinity;
    s.out_max = kInfinity;
    return s;
  }

  Step Elementwise(StepKind kind, int64_t size) const {
    Step s;
    s.kind = kind;
    s.label = label_;
    s.int8 = int8_;
    s.in_c = s.out_c = size;
    s.in_q = s.out_q = t_.q;
    return s;
  }

  void AddConvert(StepKind kind, const std::string& label, int64_t size, const Quant& q) {
    Step s;
    s.kind = kind;
    s.label = label;
    s.int8 = true;
    s.in_c = s.out_c = size;
    s.in_q = s.out_q = q;
    plan_.steps.push_back(std::move(s));
  }

  void Finish(Step& s, const model::Shape& output) {
    const Quant q = s.out_q;
    plan_.steps.push_back(std::move(s));
    Finish(output, q);
  }
  void Finish(const model::Shape& output, const Quant& q) {
    t_.shape = output;
    if (output.size() == 3) t_.hwc = HwcUnlessTrivial(output);
    t_.q = q;
  }

  const InferenceModel& artifact_;
  const cohort::v1::ModelGraph& graph_;
  const model::GraphInfo& info_;
  const bool int8_;
  std::vector<float> params_;
  Plan plan_;
  Tensor t_;
  std::string label_;
};

}  // namespace

bool Step::float_in() const {
  if (kind == StepKind::kIm2Col) return false;
  if (kind == StepKind::kQuantize) return true;
  if (kind == StepKind::kDequantize) return false;
  return !int8;
}

bool Step::float_out() const {
  if (kind == StepKind::kIm2Col) return false;
  if (kind == StepKind::kQuantize) return false;
  if (kind == StepKind::kDequantize) return true;
  return !int8;
}

absl::StatusOr<Plan> CompilePlan(const InferenceModel& artifact, const model::GraphInfo& info) {
  return Compiler(artifact, info).Compile();
}

}  // namespace cohort::inference
