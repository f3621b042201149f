#include "client_sdk/inference/artifact.h"

#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace cohort::inference {
namespace {

using cohort::v1::InferenceModel;
using cohort::v1::QuantizationParams;

const char* KindName(const cohort::v1::Layer& layer) {
  switch (layer.kind_case()) {
    case cohort::v1::Layer::kDense: return "dense";
    case cohort::v1::Layer::kConv2D: return "conv2d";
    case cohort::v1::Layer::kMaxPool2D: return "max_pool2d";
    case cohort::v1::Layer::kAvgPool2D: return "avg_pool2d";
    case cohort::v1::Layer::kGlobalAvgPool: return "global_avg_pool";
    case cohort::v1::Layer::kRelu: return "relu";
    case cohort::v1::Layer::kRelu6: return "relu6";
    case cohort::v1::Layer::kFlatten: return "flatten";
    case cohort::v1::Layer::kReshape: return "reshape";
    case cohort::v1::Layer::kSoftmax: return "softmax";
    case cohort::v1::Layer::KIND_NOT_SET: break;
  }
  return "unset";
}

bool PositiveFinite(float x) { return std::isfinite(x) && x > 0.0f; }

absl::Status CheckParams(const QuantizationParams& p, const std::string& where) {
  if (!PositiveFinite(p.scale())) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": scale must be a positive finite number, got ", p.scale()));
  }
  if (p.zero_point() < -128 || p.zero_point() > 127) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": zero_point must be in [-128, 127], got ", p.zero_point()));
  }
  return absl::OkStatus();
}

absl::Status CheckInt8(const InferenceModel& artifact, const model::GraphInfo& info) {
  if (artifact.layers_size() != artifact.graph().layers_size()) {
    return absl::InvalidArgumentError(absl::StrCat("INT8 artifact has ", artifact.layers_size(),
                                                   " quantized layers for a graph of ",
                                                   artifact.graph().layers_size()));
  }
  COHORT_RETURN_IF_ERROR(CheckParams(artifact.input(), "input"));
  for (int i = 0; i < artifact.layers_size(); ++i) {
    const cohort::v1::Layer& layer = artifact.graph().layers(i);
    const cohort::v1::QuantizedLayer& q = artifact.layers(i);
    const std::string label = LayerLabel(artifact.graph(), i);
    COHORT_RETURN_IF_ERROR(CheckParams(q.output(), label + " output"));
    const model::LayerInfo& li = info.layers[i];
    const bool weighted = layer.has_dense() || layer.has_conv2d();
    const int64_t channels = weighted ? li.output[0] : 0;
    if (static_cast<int64_t>(q.weights().size()) != (weighted ? li.kernel_size : 0) ||
        q.weight_scales_size() != channels || q.bias_size() != channels) {
      return absl::InvalidArgumentError(absl::StrCat(
          label, ": int8 data of the wrong size (", q.weights().size(), " weights, ",
          q.weight_scales_size(), " scales, ", q.bias_size(), " biases; expected ",
          weighted ? li.kernel_size : 0, ", ", channels, ", ", channels, ")"));
    }
    for (int c = 0; c < q.weight_scales_size(); ++c) {
      if (!PositiveFinite(q.weight_scales(c))) {
        return absl::InvalidArgumentError(absl::StrCat(
            label, ": weight_scales[", c, "] must be a positive finite number, got ",
            q.weight_scales(c)));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string LayerLabel(const cohort::v1::ModelGraph& graph, int index) {
  const cohort::v1::Layer& layer = graph.layers(index);
  return absl::StrCat("layers[", index, "] '", layer.name(), "' (", KindName(layer), ")");
}

absl::StatusOr<InferenceModel> ParseArtifact(absl::string_view bytes) {
  InferenceModel artifact;
  if (bytes.empty() || !artifact.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::DataLossError(absl::StrCat("the ", bytes.size(),
                                            " bytes are not a cohort.v1.InferenceModel"));
  }
  return artifact;
}

absl::StatusOr<model::GraphInfo> CheckArtifact(const InferenceModel& artifact) {
  absl::StatusOr<model::GraphInfo> info = model::AnalyzeGraph(artifact.graph());
  if (!info.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the artifact's graph is refused: ", info.status().message()));
  }
  switch (artifact.format()) {
    case cohort::v1::INFERENCE_FORMAT_FLOAT32:
      if (static_cast<int64_t>(artifact.float_parameters().size()) !=
          info->num_parameters * static_cast<int64_t>(sizeof(float))) {
        return absl::InvalidArgumentError(absl::StrCat(
            "FLOAT32 artifact has ", artifact.float_parameters().size(),
            " bytes of parameters; its graph needs ", info->num_parameters, " floats"));
      }
      break;
    case cohort::v1::INFERENCE_FORMAT_INT8:
      COHORT_RETURN_IF_ERROR(CheckInt8(artifact, *info));
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("artifact format ", static_cast<int>(artifact.format()),
                       " is neither FLOAT32 nor INT8"));
  }
  return info;
}

}  // namespace cohort::inference
