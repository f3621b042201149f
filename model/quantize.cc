#include "model/quantize.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "codec/model.h"
#include "model/graph.h"
#include "model/layer_op.h"
#include "model/network.h"

namespace cohort::model {
namespace {

using cohort::v1::Layer;
using cohort::v1::QuantizationParams;

constexpr int64_t kCalibrationBatch = 64;

struct Range {
  double min = 0.0;  // ranges always contain 0
  double max = 0.0;
  void Add(const float* values, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      min = std::min(min, static_cast<double>(values[i]));
      max = std::max(max, static_cast<double>(values[i]));
    }
  }
};

bool HasWeights(const Layer& layer) { return layer.has_dense() || layer.has_conv2d(); }
bool IsActivation(const Layer& layer) { return layer.has_relu() || layer.has_relu6(); }
bool MovesValues(const Layer& layer) {
  return layer.has_flatten() || layer.has_reshape() || layer.has_max_pool2d();
}

// True when layer i is a ReLU/ReLU6 the engine fuses into the Dense/Conv2D before it.
bool FusedActivation(const cohort::v1::ModelGraph& graph, int i) {
  return i > 0 && IsActivation(graph.layers(i)) && HasWeights(graph.layers(i - 1));
}

float Quantize(float value, const QuantizationParams& p) {
  const float q = std::nearbyint(value / p.scale()) + static_cast<float>(p.zero_point());
  return std::clamp(q, -128.0f, 127.0f);
}

float Dequantize(float q, const QuantizationParams& p) {
  return p.scale() * (q - static_cast<float>(p.zero_point()));
}

void FakeQuantize(std::vector<float>& values, const QuantizationParams& p) {
  for (float& v : values) v = Dequantize(Quantize(v, p), p);
}

// Number of output channels and elements per channel of a layer's kernel.
void KernelShape(const LayerInfo& info, const Layer& layer, int64_t* channels,
                 int64_t* per_channel) {
  *channels = info.output[0];
  *per_channel = info.kernel_size / *channels;
  (void)layer;
}

// Element k of output channel c of a kernel in layout order (Dense [in, units] is column c).
int64_t KernelIndex(const Layer& layer, int64_t channels, int64_t per_channel, int64_t c,
                    int64_t k) {
  return layer.has_dense() ? k * channels + c : c * per_channel + k;
}

}  // namespace

QuantizationParams ActivationParams(double min, double max) {
  min = std::min(min, 0.0);
  max = std::max(max, 0.0);
  QuantizationParams p;
  const double scale = max > min ? (max - min) / 255.0 : 1.0;
  p.set_scale(static_cast<float>(scale));
  const double zero = std::nearbyint(-128.0 - min / static_cast<double>(p.scale()));
  p.set_zero_point(static_cast<int32_t>(std::clamp(zero, -128.0, 127.0)));
  return p;
}

absl::StatusOr<cohort::v1::InferenceModel> FloatArtifact(const cohort::v1::ModelGraph& graph,
                                                         absl::Span<const float> parameters) {
  absl::StatusOr<GraphInfo> info = AnalyzeGraph(graph);
  if (!info.ok()) return info.status();
  if (static_cast<int64_t>(parameters.size()) != info->num_parameters) {
    return absl::InvalidArgumentError(absl::StrCat(parameters.size(), " parameters for a graph of ",
                                                   info->num_parameters));
  }
  cohort::v1::InferenceModel artifact;
  artifact.set_format(cohort::v1::INFERENCE_FORMAT_FLOAT32);
  *artifact.mutable_graph() = CanonicalGraph(graph);
  artifact.set_float_parameters(codec::FloatsToBytes(parameters));
  return artifact;
}

absl::StatusOr<cohort::v1::InferenceModel> QuantizeModel(
    const cohort::v1::ModelGraph& graph, absl::Span<const float> parameters,
    absl::Span<const float> calibration_inputs) {
  absl::StatusOr<std::unique_ptr<Network<float>>> net = Network<float>::Create(graph);
  if (!net.ok()) return net.status();
  const GraphInfo& info = (*net)->info();
  if (static_cast<int64_t>(parameters.size()) != info.num_parameters) {
    return absl::InvalidArgumentError(absl::StrCat(parameters.size(), " parameters for a graph of ",
                                                   info.num_parameters));
  }
  const int64_t input_size = (*net)->input_size();
  if (calibration_inputs.empty()) {
    return absl::FailedPreconditionError(
        "int8 quantization needs representative data: attach calibration examples to the task");
  }
  if (calibration_inputs.size() % static_cast<size_t>(input_size) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "calibration data of ", calibration_inputs.size(), " values is not a whole number of ",
        input_size, "-value examples"));
  }
  const int64_t examples = std::min<int64_t>(
      static_cast<int64_t>(calibration_inputs.size()) / input_size, kMaxCalibrationExamples);

  // Value ranges of the input and of every layer's output over the calibration examples.
  Range input_range;
  std::vector<Range> ranges(static_cast<size_t>(graph.layers_size()));
  std::vector<float> outputs;
  for (int64_t start = 0; start < examples; start += kCalibrationBatch) {
    const int64_t rows = std::min(kCalibrationBatch, examples - start);
    const float* x = calibration_inputs.data() + start * input_size;
    input_range.Add(x, rows * input_size);
    outputs.resize(static_cast<size_t>(rows * info.num_outputs));
    (*net)->Predict(parameters.data(), x, rows, outputs.data());
    for (int i = 0; i < graph.layers_size(); ++i) {
      ranges[i].Add((*net)->activation(i), rows * NumElements(info.layers[i].output));
    }
  }

  cohort::v1::InferenceModel artifact;
  artifact.set_format(cohort::v1::INFERENCE_FORMAT_INT8);
  *artifact.mutable_graph() = CanonicalGraph(graph);
  artifact.set_calibration_examples(static_cast<int32_t>(examples));
  *artifact.mutable_input() = ActivationParams(input_range.min, input_range.max);
  QuantizationParams previous = artifact.input();
  for (int i = 0; i < graph.layers_size(); ++i) {
    const Layer& layer = graph.layers(i);
    const LayerInfo& li = info.layers[i];
    cohort::v1::QuantizedLayer* q = artifact.add_layers();
    const bool keeps_input = MovesValues(layer) || layer.has_softmax() ||
                             (IsActivation(layer) && !FusedActivation(graph, i));
    *q->mutable_output() =
        keeps_input ? previous : ActivationParams(ranges[i].min, ranges[i].max);
    if (HasWeights(layer)) {
      int64_t channels = 0, per_channel = 0;
      KernelShape(li, layer, &channels, &per_channel);
      std::string weights(static_cast<size_t>(li.kernel_size), '\0');
      const float* kernel = parameters.data() + li.kernel_offset;
      for (int64_t c = 0; c < channels; ++c) {
        float max_abs = 0.0f;
        for (int64_t k = 0; k < per_channel; ++k) {
          max_abs = std::max(max_abs,
                             std::abs(kernel[KernelIndex(layer, channels, per_channel, c, k)]));
        }
        const float scale = max_abs > 0 ? max_abs / 127.0f : 1.0f;
        q->add_weight_scales(scale);
        for (int64_t k = 0; k < per_channel; ++k) {
          const int64_t at = KernelIndex(layer, channels, per_channel, c, k);
          const float level = std::clamp(std::nearbyint(kernel[at] / scale), -127.0f, 127.0f);
          weights[static_cast<size_t>(at)] = static_cast<char>(static_cast<int8_t>(level));
        }
        const double bias = li.bias_size > 0 ? parameters[li.bias_offset + c] : 0.0;
        const double code = std::nearbyint(bias / (double{previous.scale()} * scale));
        q->add_bias(static_cast<int32_t>(
            std::clamp(code, static_cast<double>(std::numeric_limits<int32_t>::min()),
                       static_cast<double>(std::numeric_limits<int32_t>::max()))));
      }
      q->set_weights(std::move(weights));
    }
    previous = q->output();
  }
  return artifact;
}

absl::Status SimulateInt8(const cohort::v1::InferenceModel& artifact,
                          absl::Span<const float> inputs, int64_t batch,
                          absl::Span<float> outputs) {
  const cohort::v1::ModelGraph& graph = artifact.graph();
  absl::StatusOr<GraphInfo> analyzed = AnalyzeGraph(graph);
  if (!analyzed.ok()) return analyzed.status();
  const GraphInfo& info = *analyzed;
  if (artifact.format() != cohort::v1::INFERENCE_FORMAT_INT8 ||
      artifact.layers_size() != graph.layers_size()) {
    return absl::InvalidArgumentError("not an INT8 artifact of its graph");
  }
  if (static_cast<int64_t>(inputs.size()) != batch * NumElements(info.input) ||
      static_cast<int64_t>(outputs.size()) != batch * info.num_outputs) {
    return absl::InvalidArgumentError("input or output buffer of the wrong size");
  }
  // The float parameters the int8 codes stand for.
  std::vector<float> params(static_cast<size_t>(info.num_parameters), 0.0f);
  QuantizationParams previous = artifact.input();
  for (int i = 0; i < graph.layers_size(); ++i) {
    const cohort::v1::QuantizedLayer& q = artifact.layers(i);
    const LayerInfo& li = info.layers[i];
    if (HasWeights(graph.layers(i))) {
      int64_t channels = 0, per_channel = 0;
      KernelShape(li, graph.layers(i), &channels, &per_channel);
      if (static_cast<int64_t>(q.weights().size()) != li.kernel_size ||
          q.weight_scales_size() != channels || q.bias_size() != channels) {
        return absl::InvalidArgumentError(
            absl::StrCat("layer '", graph.layers(i).name(), "' has int8 data of the wrong size"));
      }
      for (int64_t c = 0; c < channels; ++c) {
        for (int64_t k = 0; k < per_channel; ++k) {
          const int64_t at = KernelIndex(graph.layers(i), channels, per_channel, c, k);
          params[li.kernel_offset + at] =
              q.weight_scales(c) * static_cast<float>(static_cast<int8_t>(q.weights()[at]));
        }
        if (li.bias_size > 0) {
          params[li.bias_offset + c] = static_cast<float>(
              static_cast<double>(q.bias(c)) * previous.scale() * q.weight_scales(c));
        }
      }
    }
    previous = q.output();
  }
  std::vector<float> current(inputs.begin(), inputs.end());
  FakeQuantize(current, artifact.input());
  for (int i = 0; i < graph.layers_size(); ++i) {
    const Layer& layer = graph.layers(i);
    std::unique_ptr<internal::LayerOp<float>> op = internal::MakeLayerOp<float>(layer, info.layers[i]);
    std::vector<float> next(static_cast<size_t>(batch * NumElements(info.layers[i].output)));
    op->Forward(params.data(), current.data(), batch, next.data());
    current = std::move(next);
    const bool fused_next = i + 1 < graph.layers_size() && FusedActivation(graph, i + 1);
    // A fused Dense/Conv2D stays in its accumulator until the activation; a softmax is float.
    if (!fused_next && !layer.has_softmax()) FakeQuantize(current, artifact.layers(i).output());
  }
  std::copy(current.begin(), current.end(), outputs.begin());
  return absl::OkStatus();
}

}  // namespace cohort::model
