#include "client_sdk/trainer/eigen_trainer.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <utility>

#include "Eigen/Core"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "codec/model.h"
#include "codec/splitmix64.h"
#include "model/graph.h"
#include "model/initializer.h"
#include "model/zoo.h"

namespace cohort::client {
namespace {

using codec::MixSeed;
using codec::SplitMix64;

// Examples per forward pass in Evaluate: bounds the activations' (and im2col's) memory.
constexpr int64_t kEvaluationBatch = 256;
// The stream of the one-time holdout split ("holdout" in ASCII).
constexpr uint64_t kHoldoutStream = 0x686f6c646f7574ULL;

TensorSpec Tensor(std::string name, std::vector<int64_t> shape) {
  return TensorSpec{std::move(name), std::move(shape)};
}

std::string Describe(const TensorSpec& t) {
  return absl::StrCat("\"", t.name, "\" [", absl::StrJoin(t.shape, ","), "]");
}

bool SameTensors(const ModelLayout& a, const ModelLayout& b) {
  if (a.tensors.size() != b.tensors.size()) return false;
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    if (a.tensors[i].name != b.tensors[i].name || a.tensors[i].shape != b.tensors[i].shape) {
      return false;
    }
  }
  return true;
}

ModelLayout FromProto(const cohort::v1::ModelLayout& layout) {
  ModelLayout out;
  for (const auto& t : layout.tensors()) {
    out.tensors.push_back(Tensor(t.name(), {t.shape().begin(), t.shape().end()}));
  }
  return out;
}

// The graph a layout stands for: its own, or for a layout without one, the Dense graph whose
// tensors it lists (softmax regression or the one-hidden-layer MLP).
absl::StatusOr<cohort::v1::ModelGraph> ResolveGraph(const ModelLayout& layout) {
  cohort::v1::ModelGraph graph;
  if (!layout.graph.empty()) {
    if (!graph.ParseFromString(layout.graph)) {
      return absl::InvalidArgumentError("EigenTrainer: the layout's graph does not parse");
    }
    COHORT_ASSIGN_OR_RETURN(model::GraphInfo info, model::AnalyzeGraph(graph));
    if (!SameTensors(FromProto(info.layout), layout)) {
      return absl::InvalidArgumentError(
          "EigenTrainer: the layout's tensors are not the ones its graph implies");
    }
    return graph;
  }
  const auto& t = layout.tensors;
  if (t.size() == 2 && t[0].shape.size() == 2) {
    graph = model::SoftmaxRegressionGraph(t[0].shape[0], t[0].shape[1]);
  } else if (t.size() == 4 && t[0].shape.size() == 2 && t[2].shape.size() == 2) {
    graph = model::MlpGraph(t[0].shape[0], t[0].shape[1], t[2].shape[1]);
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "EigenTrainer: a layout without a graph must be softmax regression dense/{kernel,bias} or "
        "an MLP hidden/{kernel,bias} + output/{kernel,bias}; got ",
        t.size(), " tensors", t.empty() ? "" : absl::StrCat(", the first ", Describe(t[0]))));
  }
  absl::StatusOr<model::GraphInfo> info = model::AnalyzeGraph(graph);
  if (!info.ok() || !SameTensors(FromProto(info->layout), layout)) {
    const ModelLayout expected = info.ok() ? FromProto(info->layout) : ModelLayout{};
    for (size_t i = 0; i < t.size(); ++i) {
      if (i >= expected.tensors.size() || t[i].name != expected.tensors[i].name ||
          t[i].shape != expected.tensors[i].shape) {
        return absl::InvalidArgumentError(absl::StrCat(
            "EigenTrainer: tensor ", i, " is ", Describe(t[i]),
            i < expected.tensors.size() ? absl::StrCat(", expected ", Describe(expected.tensors[i]))
                                        : std::string(),
            " (a layout without a graph must be softmax regression or the one-hidden-layer MLP)"));
      }
    }
    return info.status();
  }
  return graph;
}

}  // namespace

ModelLayout SoftmaxRegressionLayout(int64_t inputs, int64_t classes) {
  return ModelLayout{{Tensor("dense/kernel", {inputs, classes}), Tensor("dense/bias", {classes})},
                     ""};
}

ModelLayout MlpLayout(int64_t inputs, int64_t hidden, int64_t classes) {
  return ModelLayout{{Tensor("hidden/kernel", {inputs, hidden}), Tensor("hidden/bias", {hidden}),
                      Tensor("output/kernel", {hidden, classes}),
                      Tensor("output/bias", {classes})},
                     ""};
}

absl::StatusOr<ModelLayout> GraphLayout(const cohort::v1::ModelGraph& graph) {
  COHORT_ASSIGN_OR_RETURN(model::GraphInfo info, model::AnalyzeGraph(graph));
  ModelLayout layout = FromProto(info.layout);
  layout.graph = model::CanonicalGraph(graph).SerializeAsString();
  return layout;
}

int64_t NumParameters(const ModelLayout& layout) {
  int64_t total = 0;
  for (const TensorSpec& t : layout.tensors) {
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    total += n;
  }
  return total;
}

std::vector<float> GlorotUniformParameters(const ModelLayout& layout, uint64_t seed) {
  if (absl::StatusOr<cohort::v1::ModelGraph> graph = ResolveGraph(layout); graph.ok()) {
    absl::StatusOr<model::GraphInfo> info = model::AnalyzeGraph(*graph);
    if (info.ok()) return model::GlorotUniformParameters(*graph, *info, seed);
  }
  cohort::v1::ModelLayout proto;
  for (const TensorSpec& t : layout.tensors) {
    auto* tensor = proto.add_tensors();
    tensor->set_name(t.name);
    for (int64_t d : t.shape) tensor->add_shape(d);
  }
  cohort::v1::ModelInit init;
  init.set_glorot_uniform_seed(seed);
  absl::StatusOr<cohort::v1::Model> model = codec::InitialModel(init, proto);
  if (!model.ok()) return {};
  return codec::FloatsFromBytes(model->parameters()).value_or(std::vector<float>{});
}

absl::StatusOr<std::unique_ptr<EigenTrainer>> EigenTrainer::Create(std::vector<float> features,
                                                                   std::vector<int32_t> labels,
                                                                   int64_t num_features,
                                                                   Options options) {
  if (num_features < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("EigenTrainer: num_features is ", num_features, ", must be >= 1"));
  }
  const auto n = static_cast<int64_t>(labels.size());
  if (static_cast<int64_t>(features.size()) != n * num_features) {
    return absl::InvalidArgumentError(
        absl::StrCat("EigenTrainer: ", features.size(), " feature values for ", n,
                     " labels of ", num_features, " features each (want ", n * num_features, ")"));
  }
  if (!(options.holdout_fraction >= 0.0 && options.holdout_fraction < 1.0)) {
    return absl::InvalidArgumentError(absl::StrCat("EigenTrainer: holdout_fraction must be in "
                                                   "[0, 1), got ", options.holdout_fraction));
  }
  auto trainer = std::unique_ptr<EigenTrainer>(new EigenTrainer(num_features, options.seed));
  for (int32_t label : labels) {
    if (label < 0) {
      return absl::InvalidArgumentError(absl::StrCat("EigenTrainer: negative label ", label));
    }
    trainer->max_label_ = std::max(trainer->max_label_, label);
  }
  const auto holdout =
      static_cast<int64_t>(std::llround(options.holdout_fraction * static_cast<double>(n)));
  if (holdout == 0) {
    trainer->train_features_ = std::move(features);
    trainer->train_labels_ = std::move(labels);
    return trainer;
  }
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  SplitMix64 rng(MixSeed(options.seed, kHoldoutStream));
  rng.Shuffle(order.begin(), order.end());
  for (int64_t i = 0; i < n; ++i) {
    const bool held_out = i >= n - holdout;
    auto& f = held_out ? trainer->holdout_features_ : trainer->train_features_;
    auto& l = held_out ? trainer->holdout_labels_ : trainer->train_labels_;
    const float* row = features.data() + order[i] * num_features;
    f.insert(f.end(), row, row + num_features);
    l.push_back(labels[order[i]]);
  }
  return trainer;
}

absl::StatusOr<model::Network<float>*> EigenTrainer::NetworkFor(
    const ModelLayout& layout, absl::Span<const float> parameters) {
  COHORT_ASSIGN_OR_RETURN(cohort::v1::ModelGraph graph, ResolveGraph(layout));
  std::string key = graph.SerializeAsString();
  if (network_ == nullptr || key != network_graph_) {
    COHORT_ASSIGN_OR_RETURN(network_, model::Network<float>::Create(graph));
    network_graph_ = std::move(key);
  }
  model::Network<float>* net = network_.get();
  if (static_cast<int64_t>(parameters.size()) != net->num_parameters()) {
    return absl::InvalidArgumentError(absl::StrCat("EigenTrainer: ", parameters.size(),
                                                   " parameters, the model needs ",
                                                   net->num_parameters()));
  }
  if (net->input_size() != num_features_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "EigenTrainer: the model takes ", net->input_size(), " inputs (",
        model::ShapeToString(net->info().input), "), the data has ", num_features_, " features"));
  }
  if (max_label_ >= net->num_outputs()) {
    return absl::InvalidArgumentError(absl::StrCat("EigenTrainer: label ", max_label_,
                                                   " out of range for ", net->num_outputs(),
                                                   " classes"));
  }
  return net;
}

absl::StatusOr<TrainingResult> EigenTrainer::Train(const ModelLayout& layout,
                                                   absl::Span<const float> parameters,
                                                   const TrainingParams& params) {
  COHORT_ASSIGN_OR_RETURN(model::Network<float>* net, NetworkFor(layout, parameters));
  if (params.local_epochs < 1 || params.batch_size < 1 || !(params.learning_rate > 0.0) ||
      !std::isfinite(params.learning_rate)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "EigenTrainer: local_epochs ", params.local_epochs, ", batch_size ", params.batch_size,
        ", learning_rate ", params.learning_rate, "; all must be positive"));
  }
  const int64_t n = num_examples();
  if (n == 0) return absl::FailedPreconditionError("EigenTrainer: no local examples");

  // The round number (when the SDK passes it) makes a round's shuffle independent of which
  // earlier rounds this device happened to join.
  const auto round_it = params.extra.find("round");
  const uint64_t stream = round_it != params.extra.end()
                              ? static_cast<uint64_t>(round_it->second)
                              : (uint64_t{1} << 63) | train_calls_;
  ++train_calls_;
  SplitMix64 rng(MixSeed(seed_, stream));

  std::vector<float> weights(parameters.begin(), parameters.end());
  std::vector<float> grad(weights.size());
  Eigen::Map<Eigen::VectorXf> w(weights.data(), static_cast<Eigen::Index>(weights.size()));
  Eigen::Map<const Eigen::VectorXf> g(grad.data(), static_cast<Eigen::Index>(grad.size()));
  const auto lr = static_cast<float>(params.learning_rate);
  const int64_t batch_size = std::min<int64_t>(params.batch_size, n);

  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::vector<float> batch_x(static_cast<size_t>(batch_size * num_features_));
  std::vector<int32_t> batch_y(static_cast<size_t>(batch_size));
  double epoch_loss = 0.0;
  for (int32_t epoch = 0; epoch < params.local_epochs; ++epoch) {
    rng.Shuffle(order.begin(), order.end());
    epoch_loss = 0.0;
    for (int64_t start = 0; start < n; start += batch_size) {
      const int64_t rows = std::min(n, start + batch_size) - start;
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t example = order[start + r];
        std::copy_n(train_features_.data() + example * num_features_, num_features_,
                    batch_x.data() + r * num_features_);
        batch_y[r] = train_labels_[example];
      }
      const model::LossStats stats =
          net->Loss(weights.data(), batch_x.data(), batch_y.data(), rows, grad.data());
      epoch_loss += stats.loss_sum;
      w -= lr * g;
    }
  }
  TrainingResult result;
  result.parameters = std::move(weights);
  result.num_examples = n;
  result.loss = epoch_loss / static_cast<double>(n);
  return result;
}

absl::StatusOr<EvaluationResult> EigenTrainer::Evaluate(const ModelLayout& layout,
                                                        absl::Span<const float> parameters) {
  COHORT_ASSIGN_OR_RETURN(model::Network<float>* net, NetworkFor(layout, parameters));
  const bool holdout = !holdout_labels_.empty();
  const std::vector<float>& features = holdout ? holdout_features_ : train_features_;
  const std::vector<int32_t>& labels = holdout ? holdout_labels_ : train_labels_;
  const auto n = static_cast<int64_t>(labels.size());
  if (n == 0) return absl::FailedPreconditionError("EigenTrainer: no local examples");
  double loss_sum = 0.0;
  int64_t correct = 0;
  for (int64_t start = 0; start < n; start += kEvaluationBatch) {
    const int64_t rows = std::min(kEvaluationBatch, n - start);
    const model::LossStats stats =
        net->Loss(parameters.data(), features.data() + start * num_features_,
                  labels.data() + start, rows, nullptr);
    loss_sum += stats.loss_sum;
    correct += stats.correct;
  }
  EvaluationResult result;
  result.loss = loss_sum / static_cast<double>(n);
  result.accuracy = static_cast<double>(correct) / static_cast<double>(n);
  result.num_examples = n;
  result.num_correct = correct;
  return result;
}

}  // namespace cohort::client
