// ReLU, ReLU6, Flatten/Reshape and Softmax, and MakeLayerOp, which picks the op of a layer.

#include <algorithm>
#include <cmath>
#include <limits>

#include "Eigen/Core"
#include "model/layer_op.h"

namespace cohort::model::internal {
namespace {

template <typename Scalar>
class ClampedReluOp : public LayerOp<Scalar> {
  using Array = Eigen::Array<Scalar, Eigen::Dynamic, 1>;

 public:
  ClampedReluOp(const LayerInfo& info, Scalar upper)
      : size_(NumElements(info.input)), upper_(upper) {}

  // Eigen's array expressions compile to packed max/min and masks: the plain loop became a
  // branch per element, mispredicted half the time on activations of random sign.
  void Forward(const Scalar*, const Scalar* in, int64_t batch, Scalar* out) override {
    Eigen::Map<Array> y(out, batch * size_);
    y = Eigen::Map<const Array>(in, batch * size_).max(Scalar(0)).min(upper_);
  }

  // The derivative is 1 strictly inside (0, upper) and 0 elsewhere (at the kinks as well).
  void Backward(const Scalar*, const Scalar* in, const Scalar*, const Scalar* d_out,
                int64_t batch, Scalar* d_in, Scalar*) override {
    if (d_in == nullptr) return;
    const Eigen::Map<const Array> x(in, batch * size_);
    Eigen::Map<Array>(d_in, batch * size_) =
        (x > Scalar(0) && x < upper_).select(Eigen::Map<const Array>(d_out, batch * size_), Scalar(0));
  }

 private:
  int64_t size_;
  Scalar upper_;
};

template <typename Scalar>
class IdentityOp : public LayerOp<Scalar> {
 public:
  explicit IdentityOp(const LayerInfo& info) : size_(NumElements(info.input)) {}

  void Forward(const Scalar*, const Scalar* in, int64_t batch, Scalar* out) override {
    std::copy_n(in, batch * size_, out);
  }
  void Backward(const Scalar*, const Scalar*, const Scalar*, const Scalar* d_out, int64_t batch,
                Scalar* d_in, Scalar*) override {
    if (d_in != nullptr) std::copy_n(d_out, batch * size_, d_in);
  }

 private:
  int64_t size_;
};

template <typename Scalar>
class SoftmaxOp : public LayerOp<Scalar> {
 public:
  explicit SoftmaxOp(const LayerInfo& info) : size_(info.input[0]) {}

  void Forward(const Scalar*, const Scalar* in, int64_t batch, Scalar* out) override {
    for (int64_t b = 0; b < batch; ++b) {
      const Scalar* x = in + b * size_;
      Scalar* y = out + b * size_;
      const Scalar max = *std::max_element(x, x + size_);
      Scalar sum(0);
      for (int64_t i = 0; i < size_; ++i) sum += (y[i] = std::exp(x[i] - max));
      for (int64_t i = 0; i < size_; ++i) y[i] /= sum;
    }
  }

  // dx_i = y_i * (dy_i - sum_j dy_j y_j). Training never runs it (the loss reads the logits
  // before a final softmax), but it keeps every op differentiable.
  void Backward(const Scalar*, const Scalar*, const Scalar* out, const Scalar* d_out,
                int64_t batch, Scalar* d_in, Scalar*) override {
    if (d_in == nullptr) return;
    for (int64_t b = 0; b < batch; ++b) {
      const Scalar* y = out + b * size_;
      const Scalar* dy = d_out + b * size_;
      Scalar dot(0);
      for (int64_t i = 0; i < size_; ++i) dot += dy[i] * y[i];
      for (int64_t i = 0; i < size_; ++i) d_in[b * size_ + i] = y[i] * (dy[i] - dot);
    }
  }

 private:
  int64_t size_;
};

}  // namespace

template <typename Scalar>
std::unique_ptr<LayerOp<Scalar>> MakeClampedRelu(const LayerInfo& info, Scalar upper) {
  return std::make_unique<ClampedReluOp<Scalar>>(info, upper);
}
template <typename Scalar>
std::unique_ptr<LayerOp<Scalar>> MakeIdentity(const LayerInfo& info) {
  return std::make_unique<IdentityOp<Scalar>>(info);
}
template <typename Scalar>
std::unique_ptr<LayerOp<Scalar>> MakeSoftmax(const LayerInfo& info) {
  return std::make_unique<SoftmaxOp<Scalar>>(info);
}

template <typename Scalar>
std::unique_ptr<LayerOp<Scalar>> MakeLayerOp(const cohort::v1::Layer& layer,
                                             const LayerInfo& info) {
  using cohort::v1::Layer;
  switch (layer.kind_case()) {
    case Layer::kDense:
      return MakeDense<Scalar>(info);
    case Layer::kConv2D:
      return MakeConv2D<Scalar>(info);
    case Layer::kMaxPool2D:
      return MakeMaxPool2D<Scalar>(info);
    case Layer::kAvgPool2D:
      return MakeAvgPool2D<Scalar>(info);
    case Layer::kGlobalAvgPool:
      return MakeGlobalAvgPool<Scalar>(info);
    case Layer::kRelu:
      return MakeClampedRelu<Scalar>(info, std::numeric_limits<Scalar>::infinity());
    case Layer::kRelu6:
      return MakeClampedRelu<Scalar>(info, Scalar(6));
    case Layer::kFlatten:
    case Layer::kReshape:
      return MakeIdentity<Scalar>(info);
    case Layer::kSoftmax:
      return MakeSoftmax<Scalar>(info);
    case Layer::KIND_NOT_SET:
      break;
  }
  return nullptr;  // AnalyzeGraph refuses such a layer
}

template std::unique_ptr<LayerOp<float>> MakeLayerOp<float>(const cohort::v1::Layer&,
                                                            const LayerInfo&);
template std::unique_ptr<LayerOp<double>> MakeLayerOp<double>(const cohort::v1::Layer&,
                                                              const LayerInfo&);

}  // namespace cohort::model::internal
