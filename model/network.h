#ifndef COHORT_MODEL_NETWORK_H_
#define COHORT_MODEL_NETWORK_H_

// A ModelGraph compiled for execution: the forward pass for prediction, and the softmax
// cross-entropy loss with its gradient for training. The reference implementation of every
// layer (Eigen GEMM for Dense and, through im2col, Conv2D); the SDK's trainer and the server's
// quantization calibration run it, and the XNNPACK engine is checked against it.
//
//   COHORT_ASSIGN_OR_RETURN(auto net, model::Network<float>::Create(graph));
//   net->Predict(params.data(), images.data(), batch, probabilities.data());
//   model::LossStats stats = net->Loss(params.data(), images.data(), labels.data(), batch,
//                                      gradient.data());
//
// Buffers: inputs are batch-major [batch, input_size] (each example in the graph's row-major
// C, H, W order), outputs [batch, num_outputs], parameters and gradients num_parameters values in
// the graph's layout order. Sizes are the caller's to get right; Create validates the graph.
//
// Instantiated for float (training, inference) and double (gradient checks).
// Codes: Create returns INVALID_ARGUMENT from AnalyzeGraph. This class is not thread-safe (it
// keeps activation buffers between calls); use one Network per thread.

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "cohort/v1/graph.pb.h"
#include "model/graph.h"
#include "model/layer_op.h"

namespace cohort::model {

struct LossStats {
  // Sum (not mean) of the per-example cross-entropy losses.
  double loss_sum = 0.0;
  // Examples whose label has the strictly largest logit (a tie counts as wrong, so an all-zero
  // model does not score 100%).
  int64_t correct = 0;
};

template <typename Scalar>
class Network {
 public:
  static absl::StatusOr<std::unique_ptr<Network>> Create(const cohort::v1::ModelGraph& graph);

  const GraphInfo& info() const { return info_; }
  int64_t input_size() const { return NumElements(info_.input); }
  int64_t num_outputs() const { return info_.num_outputs; }
  int64_t num_parameters() const { return info_.num_parameters; }

  // The last layer's output: probabilities when the graph ends in Softmax, logits otherwise.
  void Predict(const Scalar* params, const Scalar* inputs, int64_t batch, Scalar* outputs);

  // Softmax cross-entropy of the batch against `labels` (each in [0, num_outputs)); when `grad`
  // is not null it receives the gradient of the batch's MEAN loss.
  LossStats Loss(const Scalar* params, const Scalar* inputs, const int32_t* labels,
                 int64_t batch, Scalar* grad);

  // The output of layer `index` from the last Predict or Loss call ([batch, its size]).
  const Scalar* activation(int64_t index) const { return activations_[index].data(); }

 private:
  Network(cohort::v1::ModelGraph graph, GraphInfo info);
  // Runs layers [0, last] and returns the output of `last`.
  const Scalar* ForwardTo(int64_t last, const Scalar* params, const Scalar* inputs,
                          int64_t batch);

  cohort::v1::ModelGraph graph_;
  GraphInfo info_;
  std::vector<std::unique_ptr<internal::LayerOp<Scalar>>> ops_;
  std::vector<std::vector<Scalar>> activations_;
  std::vector<Scalar> grad_a_, grad_b_;
};

extern template class Network<float>;
extern template class Network<double>;

}  // namespace cohort::model

#endif  // COHORT_MODEL_NETWORK_H_
