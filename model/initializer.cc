#include "model/initializer.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "codec/model.h"
#include "codec/splitmix64.h"

namespace cohort::model {

std::vector<float> GlorotUniformParameters(const cohort::v1::ModelGraph& graph,
                                           const GraphInfo& info, uint64_t seed) {
  std::vector<float> values(static_cast<size_t>(info.num_parameters), 0.0f);
  codec::SplitMix64 rng(codec::MixSeed(seed, codec::kGlorotStream));
  for (int i = 0; i < graph.layers_size(); ++i) {
    const LayerInfo& layer = info.layers[i];
    if (layer.kernel_size == 0) continue;
    double fan_in = 0;
    double fan_out = 0;
    if (graph.layers(i).has_dense()) {
      fan_in = static_cast<double>(layer.input[0]);
      fan_out = static_cast<double>(layer.output[0]);
    } else {
      const double receptive = static_cast<double>(layer.window.kernel_h * layer.window.kernel_w);
      fan_in = static_cast<double>(layer.input[0] / layer.groups) * receptive;
      fan_out = static_cast<double>(layer.output[0]) * receptive;
    }
    const double limit = std::sqrt(6.0 / (fan_in + fan_out));
    for (int64_t k = 0; k < layer.kernel_size; ++k) {
      values[static_cast<size_t>(layer.kernel_offset + k)] =
          static_cast<float>((2.0 * rng.NextDouble() - 1.0) * limit);
    }
  }
  return values;
}

absl::StatusOr<cohort::v1::Model> InitialGraphModel(const cohort::v1::ModelInit& init,
                                                    const cohort::v1::ModelGraph& graph) {
  absl::StatusOr<GraphInfo> info = AnalyzeGraph(graph);
  if (!info.ok()) return info.status();
  std::vector<float> values;
  switch (init.init_case()) {
    case cohort::v1::ModelInit::kParameters: {
      if (static_cast<int64_t>(init.parameters().size()) != info->num_parameters * 4) {
        return absl::InvalidArgumentError(absl::StrCat(
            "initial_model.parameters has ", init.parameters().size(), " bytes, the graph needs ",
            info->num_parameters * 4, " (", info->num_parameters, " float32)"));
      }
      absl::StatusOr<std::vector<float>> floats = codec::FloatsFromBytes(init.parameters());
      if (!floats.ok()) return floats.status();
      values = *std::move(floats);
      break;
    }
    case cohort::v1::ModelInit::kGlorotUniformSeed:
      values = GlorotUniformParameters(graph, *info, init.glorot_uniform_seed());
      break;
    case cohort::v1::ModelInit::INIT_NOT_SET:
      return absl::InvalidArgumentError(
          "initial_model sets neither parameters nor glorot_uniform_seed");
  }
  absl::StatusOr<cohort::v1::Model> model = codec::MakeModel(info->layout, values, 0);
  if (!model.ok()) return model.status();
  *model->mutable_graph() = CanonicalGraph(graph);
  return model;
}

}  // namespace cohort::model
