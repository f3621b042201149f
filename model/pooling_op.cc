// MaxPool2D, AvgPool2D (ONNX count_include_pad = 0) and GlobalAvgPool over [C, H, W].

#include <algorithm>
#include <limits>

#include "model/layer_op.h"

namespace cohort::model::internal {
namespace {

// The window geometry shared by both pools: calls visit(out index, first input row, row end,
// first input column, column end) with the window clipped to the input.
class PoolGeometry {
 public:
  explicit PoolGeometry(const LayerInfo& info)
      : w_(info.window),
        channels_(info.input[0]),
        height_(info.input[1]),
        width_(info.input[2]),
        out_h_(info.output[1]),
        out_w_(info.output[2]) {}

  int64_t in_plane() const { return height_ * width_; }
  int64_t out_plane() const { return out_h_ * out_w_; }
  int64_t width() const { return width_; }
  int64_t planes(int64_t batch) const { return batch * channels_; }

  template <typename Visit>
  void ForEachWindow(Visit visit) const {
    for (int64_t oh = 0; oh < out_h_; ++oh) {
      const int64_t h0 = std::max<int64_t>(0, oh * w_.stride_h - w_.pad_top);
      const int64_t h1 = std::min(height_, oh * w_.stride_h - w_.pad_top + w_.kernel_h);
      for (int64_t ow = 0; ow < out_w_; ++ow) {
        const int64_t w0 = std::max<int64_t>(0, ow * w_.stride_w - w_.pad_left);
        const int64_t w1 = std::min(width_, ow * w_.stride_w - w_.pad_left + w_.kernel_w);
        visit(oh * out_w_ + ow, h0, h1, w0, w1);
      }
    }
  }

 private:
  Window w_;
  int64_t channels_, height_, width_, out_h_, out_w_;
};

template <typename Scalar>
class MaxPoolOp : public LayerOp<Scalar> {
 public:
  explicit MaxPoolOp(const LayerInfo& info) : geometry_(info) {}

  void Forward(const Scalar*, const Scalar* in, int64_t batch, Scalar* out) override {
    for (int64_t plane = 0; plane < geometry_.planes(batch); ++plane) {
      const Scalar* x = in + plane * geometry_.in_plane();
      Scalar* y = out + plane * geometry_.out_plane();
      geometry_.ForEachWindow([&](int64_t o, int64_t h0, int64_t h1, int64_t w0, int64_t w1) {
        y[o] = x[ArgMax(x, h0, h1, w0, w1)];
      });
    }
  }

  // The gradient goes to the first maximum of each window (the one Forward picked).
  void Backward(const Scalar*, const Scalar* in, const Scalar*, const Scalar* d_out,
                int64_t batch, Scalar* d_in, Scalar*) override {
    if (d_in == nullptr) return;
    std::fill(d_in, d_in + geometry_.planes(batch) * geometry_.in_plane(), Scalar(0));
    for (int64_t plane = 0; plane < geometry_.planes(batch); ++plane) {
      const Scalar* x = in + plane * geometry_.in_plane();
      const Scalar* dy = d_out + plane * geometry_.out_plane();
      Scalar* dx = d_in + plane * geometry_.in_plane();
      geometry_.ForEachWindow([&](int64_t o, int64_t h0, int64_t h1, int64_t w0, int64_t w1) {
        dx[ArgMax(x, h0, h1, w0, w1)] += dy[o];
      });
    }
  }

 private:
  // Written as selects rather than an if, so that it compiles to conditional moves: a branch
  // per cell is mispredicted on most windows.
  int64_t ArgMax(const Scalar* x, int64_t h0, int64_t h1, int64_t w0, int64_t w1) const {
    int64_t best = h0 * geometry_.width() + w0;
    Scalar best_value = x[best];
    for (int64_t h = h0; h < h1; ++h) {
      for (int64_t w = w0; w < w1; ++w) {
        const int64_t at = h * geometry_.width() + w;
        const bool larger = x[at] > best_value;
        best = larger ? at : best;
        best_value = larger ? x[at] : best_value;
      }
    }
    return best;
  }

  PoolGeometry geometry_;
};

template <typename Scalar>
class AvgPoolOp : public LayerOp<Scalar> {
 public:
  explicit AvgPoolOp(const LayerInfo& info) : geometry_(info) {}

  void Forward(const Scalar*, const Scalar* in, int64_t batch, Scalar* out) override {
    for (int64_t plane = 0; plane < geometry_.planes(batch); ++plane) {
      const Scalar* x = in + plane * geometry_.in_plane();
      Scalar* y = out + plane * geometry_.out_plane();
      geometry_.ForEachWindow([&](int64_t o, int64_t h0, int64_t h1, int64_t w0, int64_t w1) {
        Scalar sum(0);
        for (int64_t h = h0; h < h1; ++h) {
          for (int64_t w = w0; w < w1; ++w) sum += x[h * geometry_.width() + w];
        }
        y[o] = sum / Scalar((h1 - h0) * (w1 - w0));
      });
    }
  }

  void Backward(const Scalar*, const Scalar*, const Scalar*, const Scalar* d_out, int64_t batch,
                Scalar* d_in, Scalar*) override {
    if (d_in == nullptr) return;
    std::fill(d_in, d_in + geometry_.planes(batch) * geometry_.in_plane(), Scalar(0));
    for (int64_t plane = 0; plane < geometry_.planes(batch); ++plane) {
      const Scalar* dy = d_out + plane * geometry_.out_plane();
      Scalar* dx = d_in + plane * geometry_.in_plane();
      geometry_.ForEachWindow([&](int64_t o, int64_t h0, int64_t h1, int64_t w0, int64_t w1) {
        const Scalar share = dy[o] / Scalar((h1 - h0) * (w1 - w0));
        for (int64_t h = h0; h < h1; ++h) {
          for (int64_t w = w0; w < w1; ++w) dx[h * geometry_.width() + w] += share;
        }
      });
    }
  }

 private:
  PoolGeometry geometry_;
};

template <typename Scalar>
class GlobalAvgPoolOp : public LayerOp<Scalar> {
 public:
  explicit GlobalAvgPoolOp(const LayerInfo& info)
      : channels_(info.input[0]), plane_(info.input[1] * info.input[2]) {}

  void Forward(const Scalar*, const Scalar* in, int64_t batch, Scalar* out) override {
    for (int64_t p = 0; p < batch * channels_; ++p) {
      Scalar sum(0);
      for (int64_t i = 0; i < plane_; ++i) sum += in[p * plane_ + i];
      out[p] = sum / Scalar(plane_);
    }
  }

  void Backward(const Scalar*, const Scalar*, const Scalar*, const Scalar* d_out, int64_t batch,
                Scalar* d_in, Scalar*) override {
    if (d_in == nullptr) return;
    for (int64_t p = 0; p < batch * channels_; ++p) {
      std::fill_n(d_in + p * plane_, plane_, d_out[p] / Scalar(plane_));
    }
  }

 private:
  int64_t channels_, plane_;
};

}  // namespace

template <typename Scalar>
std::unique_ptr<LayerOp<Scalar>> MakeMaxPool2D(const LayerInfo& info) {
  return std::make_unique<MaxPoolOp<Scalar>>(info);
}
template <typename Scalar>
std::unique_ptr<LayerOp<Scalar>> MakeAvgPool2D(const LayerInfo& info) {
  return std::make_unique<AvgPoolOp<Scalar>>(info);
}
template <typename Scalar>
std::unique_ptr<LayerOp<Scalar>> MakeGlobalAvgPool(const LayerInfo& info) {
  return std::make_unique<GlobalAvgPoolOp<Scalar>>(info);
}

template std::unique_ptr<LayerOp<float>> MakeMaxPool2D<float>(const LayerInfo&);
template std::unique_ptr<LayerOp<double>> MakeMaxPool2D<double>(const LayerInfo&);
template std::unique_ptr<LayerOp<float>> MakeAvgPool2D<float>(const LayerInfo&);
template std::unique_ptr<LayerOp<double>> MakeAvgPool2D<double>(const LayerInfo&);
template std::unique_ptr<LayerOp<float>> MakeGlobalAvgPool<float>(const LayerInfo&);
template std::unique_ptr<LayerOp<double>> MakeGlobalAvgPool<double>(const LayerInfo&);

}  // namespace cohort::model::internal
