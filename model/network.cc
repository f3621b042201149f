#include "model/network.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace cohort::model {

template <typename Scalar>
absl::StatusOr<std::unique_ptr<Network<Scalar>>> Network<Scalar>::Create(
    const cohort::v1::ModelGraph& graph) {
  absl::StatusOr<GraphInfo> info = AnalyzeGraph(graph);
  if (!info.ok()) return info.status();
  return std::unique_ptr<Network>(new Network(graph, *std::move(info)));
}

template <typename Scalar>
Network<Scalar>::Network(cohort::v1::ModelGraph graph, GraphInfo info)
    : graph_(std::move(graph)), info_(std::move(info)) {
  for (int i = 0; i < graph_.layers_size(); ++i) {
    ops_.push_back(internal::MakeLayerOp<Scalar>(graph_.layers(i), info_.layers[i]));
  }
  activations_.resize(ops_.size());
}

template <typename Scalar>
const Scalar* Network<Scalar>::ForwardTo(int64_t last, const Scalar* params,
                                         const Scalar* inputs, int64_t batch) {
  const Scalar* in = inputs;
  for (int64_t i = 0; i <= last; ++i) {
    std::vector<Scalar>& out = activations_[i];
    out.resize(static_cast<size_t>(batch * NumElements(info_.layers[i].output)));
    ops_[i]->Forward(params, in, batch, out.data());
    in = out.data();
  }
  return in;
}

template <typename Scalar>
void Network<Scalar>::Predict(const Scalar* params, const Scalar* inputs, int64_t batch,
                              Scalar* outputs) {
  const Scalar* out = ForwardTo(static_cast<int64_t>(ops_.size()) - 1, params, inputs, batch);
  std::copy_n(out, batch * info_.num_outputs, outputs);
}

template <typename Scalar>
LossStats Network<Scalar>::Loss(const Scalar* params, const Scalar* inputs,
                                const int32_t* labels, int64_t batch, Scalar* grad) {
  const int64_t classes = info_.num_outputs;
  const Scalar* logits = ForwardTo(info_.logits_layer, params, inputs, batch);
  LossStats stats;
  if (grad != nullptr) grad_a_.resize(static_cast<size_t>(batch * classes));
  for (int64_t b = 0; b < batch; ++b) {
    const Scalar* z = logits + b * classes;
    const int32_t label = labels[b];
    const Scalar max = *std::max_element(z, z + classes);
    Scalar sum(0);
    for (int64_t c = 0; c < classes; ++c) sum += std::exp(z[c] - max);
    const Scalar log_sum = std::log(sum) + max;
    stats.loss_sum += static_cast<double>(log_sum - z[label]);
    bool strictly_largest = true;
    for (int64_t c = 0; c < classes; ++c) {
      if (c != label && z[c] >= z[label]) strictly_largest = false;
    }
    stats.correct += strictly_largest ? 1 : 0;
    if (grad != nullptr) {
      // d(mean loss)/d(logits) = (softmax - one_hot) / batch.
      for (int64_t c = 0; c < classes; ++c) {
        grad_a_[b * classes + c] =
            (std::exp(z[c] - log_sum) - (c == label ? Scalar(1) : Scalar(0))) / Scalar(batch);
      }
    }
  }
  if (grad == nullptr) return stats;
  for (int64_t i = info_.logits_layer; i >= 0; --i) {
    const Scalar* in = i == 0 ? inputs : activations_[i - 1].data();
    Scalar* d_in = nullptr;
    if (i > 0) {
      grad_b_.resize(static_cast<size_t>(batch * NumElements(info_.layers[i].input)));
      d_in = grad_b_.data();
    }
    ops_[i]->Backward(params, in, activations_[i].data(), grad_a_.data(), batch, d_in, grad);
    std::swap(grad_a_, grad_b_);
  }
  return stats;
}

template class Network<float>;
template class Network<double>;

}  // namespace cohort::model
