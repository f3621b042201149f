// Dense: out[B, U] = in[B, I] . kernel[I, U] + bias[U], with Eigen's GEMM.

#include "Eigen/Core"
#include "model/layer_op.h"

namespace cohort::model::internal {
namespace {

template <typename Scalar>
using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename Scalar>
using RowVector = Eigen::Matrix<Scalar, 1, Eigen::Dynamic>;

template <typename Scalar>
class DenseOp : public LayerOp<Scalar> {
 public:
  explicit DenseOp(const LayerInfo& info)
      : info_(info), inputs_(info.input[0]), units_(info.output[0]) {}

  void Forward(const Scalar* params, const Scalar* in, int64_t batch, Scalar* out) override {
    Eigen::Map<const Matrix<Scalar>> x(in, batch, inputs_);
    Eigen::Map<const Matrix<Scalar>> w(params + info_.kernel_offset, inputs_, units_);
    Eigen::Map<Matrix<Scalar>> y(out, batch, units_);
    y.noalias() = x * w;
    if (info_.bias_size > 0) {
      Eigen::Map<const RowVector<Scalar>> b(params + info_.bias_offset, units_);
      y.rowwise() += b;
    }
  }

  void Backward(const Scalar* params, const Scalar* in, const Scalar* /*out*/,
                const Scalar* d_out, int64_t batch, Scalar* d_in, Scalar* d_params) override {
    Eigen::Map<const Matrix<Scalar>> x(in, batch, inputs_);
    Eigen::Map<const Matrix<Scalar>> dy(d_out, batch, units_);
    Eigen::Map<Matrix<Scalar>> dw(d_params + info_.kernel_offset, inputs_, units_);
    dw.noalias() = x.transpose() * dy;
    if (info_.bias_size > 0) {
      Eigen::Map<RowVector<Scalar>> db(d_params + info_.bias_offset, units_);
      db = dy.colwise().sum();
    }
    if (d_in != nullptr) {
      Eigen::Map<const Matrix<Scalar>> w(params + info_.kernel_offset, inputs_, units_);
      Eigen::Map<Matrix<Scalar>> dx(d_in, batch, inputs_);
      dx.noalias() = dy * w.transpose();
    }
  }

 private:
  LayerInfo info_;
  Eigen::Index inputs_;
  Eigen::Index units_;
};

}  // namespace

template <typename Scalar>
std::unique_ptr<LayerOp<Scalar>> MakeDense(const LayerInfo& info) {
  return std::make_unique<DenseOp<Scalar>>(info);
}

template std::unique_ptr<LayerOp<float>> MakeDense<float>(const LayerInfo&);
template std::unique_ptr<LayerOp<double>> MakeDense<double>(const LayerInfo&);

}  // namespace cohort::model::internal
