#ifndef COHORT_CLIENT_SDK_TRAINER_EIGEN_MODEL_H_
#define COHORT_CLIENT_SDK_TRAINER_EIGEN_MODEL_H_

// The models EigenTrainer knows, as pure batch math: no state, no I/O. Kept apart from the
// trainer so that tests can run the very same templates in double precision for gradient checks.

#include <cstdint>

#include "Eigen/Core"
#include "absl/status/statusor.h"
#include "cohort/client/trainer.h"

namespace cohort::client::internal {

enum class ModelKind { kSoftmaxRegression, kMlp };

// What a layout describes. `hidden` is 0 for softmax regression.
struct ModelShape {
  ModelKind kind = ModelKind::kSoftmaxRegression;
  int64_t inputs = 0;
  int64_t hidden = 0;
  int64_t classes = 0;
  int64_t num_parameters = 0;
};

// Recognises the two layouts EigenTrainer trains (see SoftmaxRegressionLayout and MlpLayout).
// Returns INVALID_ARGUMENT naming the first tensor that does not fit either.
absl::StatusOr<ModelShape> ParseLayout(const ModelLayout& layout);

template <typename Scalar>
using RowMatrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename Scalar>
using RowVector = Eigen::Matrix<Scalar, 1, Eigen::Dynamic>;

struct BatchStats {
  // Sum (not mean) of the per-example cross-entropy losses of the batch.
  double loss_sum = 0.0;
  // Examples whose label has the strictly largest logit (ties count as wrong, so an all-zero
  // model does not score 100%).
  int64_t correct = 0;
};

// One forward pass over a batch `x` (rows are examples) with `labels` in [0, classes), and, when
// `grad` is not null, the backward pass: `grad` (num_parameters values, layout order) receives the
// gradient of the batch's MEAN cross-entropy loss. `params` holds num_parameters values. The
// caller validates sizes; this function does not.
template <typename Scalar>
BatchStats ForwardBackward(const ModelShape& shape, const Scalar* params,
                           const Eigen::Ref<const RowMatrix<Scalar>>& x,
                           const Eigen::Ref<const Eigen::VectorXi>& labels, Scalar* grad) {
  using Mat = RowMatrix<Scalar>;
  using Vec = RowVector<Scalar>;
  const Eigen::Index batch = x.rows();
  const Eigen::Index classes = shape.classes;

  // The output layer's input is x itself for softmax regression, the ReLU activations for an MLP.
  Mat pre_activation;  // MLP only: x * W1 + b1, kept for the ReLU derivative.
  Mat hidden;
  const Scalar* out_params = params;
  Eigen::Index out_inputs = shape.inputs;
  Mat logits;
  if (shape.kind == ModelKind::kMlp) {
    Eigen::Map<const Mat> w1(params, shape.inputs, shape.hidden);
    Eigen::Map<const Vec> b1(params + shape.inputs * shape.hidden, shape.hidden);
    pre_activation = (x * w1).rowwise() + b1;
    hidden = pre_activation.cwiseMax(Scalar(0));
    out_params = params + shape.inputs * shape.hidden + shape.hidden;
    out_inputs = shape.hidden;
  }
  Eigen::Map<const Mat> w_out(out_params, out_inputs, classes);
  Eigen::Map<const Vec> b_out(out_params + out_inputs * classes, classes);
  if (shape.kind == ModelKind::kMlp) {
    logits = (hidden * w_out).rowwise() + b_out;
  } else {
    logits = (x * w_out).rowwise() + b_out;
  }

  // Numerically stable log-softmax; labels become a one-hot matrix by one vectorised comparison.
  const Eigen::Matrix<Scalar, Eigen::Dynamic, 1> row_max = logits.rowwise().maxCoeff();
  const Mat shifted = logits.colwise() - row_max;
  const Eigen::Matrix<Scalar, Eigen::Dynamic, 1> log_sum =
      shifted.array().exp().rowwise().sum().log();
  const Mat log_probs = shifted.colwise() - log_sum;
  const Eigen::Matrix<int, 1, Eigen::Dynamic> class_ids =
      Eigen::Matrix<int, 1, Eigen::Dynamic>::LinSpaced(classes, 0, static_cast<int>(classes) - 1);
  const Mat one_hot =
      (labels.replicate(1, classes).array() == class_ids.replicate(batch, 1).array())
          .template cast<Scalar>();

  BatchStats stats;
  stats.loss_sum = -static_cast<double>((log_probs.array() * one_hot.array()).sum());
  const Eigen::Matrix<Scalar, Eigen::Dynamic, 1> label_logit =
      (logits.array() * one_hot.array()).rowwise().sum();
  stats.correct =
      ((logits.array() >= label_logit.replicate(1, classes).array()).rowwise().count() == 1)
          .count();
  if (grad == nullptr) return stats;

  // d(mean loss)/d(logits) = (softmax - one_hot) / batch.
  const Mat d_logits = (log_probs.array().exp() - one_hot.array()) / Scalar(batch);
  Scalar* out_grad = grad;
  if (shape.kind == ModelKind::kMlp) {
    out_grad = grad + shape.inputs * shape.hidden + shape.hidden;
  }
  Eigen::Map<Mat> g_w(out_grad, out_inputs, classes);
  Eigen::Map<Vec> g_b(out_grad + out_inputs * classes, classes);
  if (shape.kind == ModelKind::kMlp) {
    g_w.noalias() = hidden.transpose() * d_logits;
  } else {
    g_w.noalias() = x.transpose() * d_logits;
  }
  g_b = d_logits.colwise().sum();
  if (shape.kind == ModelKind::kMlp) {
    const Mat d_pre = ((d_logits * w_out.transpose()).array() *
                       (pre_activation.array() > Scalar(0)).template cast<Scalar>())
                          .matrix();
    Eigen::Map<Mat> g_w1(grad, shape.inputs, shape.hidden);
    Eigen::Map<Vec> g_b1(grad + shape.inputs * shape.hidden, shape.hidden);
    g_w1.noalias() = x.transpose() * d_pre;
    g_b1 = d_pre.colwise().sum();
  }
  return stats;
}

}  // namespace cohort::client::internal

#endif  // COHORT_CLIENT_SDK_TRAINER_EIGEN_MODEL_H_
