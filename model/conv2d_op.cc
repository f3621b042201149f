// Conv2D through im2col and Eigen's GEMM. For group g the columns of all examples sit side by
// side, so one product per group covers the whole batch:
//   col_g [K, B*P]  with K = (C / groups) * kh * kw, P = OH * OW
//   out_g [F_g, B*P] = kernel_g [F_g, K] . col_g     (F_g = filters / groups)
// and out_g is scattered back to batch-major [B, F, OH, OW]. The backward pass rebuilds col_g
// (cheaper in memory than keeping it) and uses the two transposed products and col2im.

#include <algorithm>
#include <vector>

#include "Eigen/Core"
#include "model/layer_op.h"

namespace cohort::model::internal {
namespace {

template <typename Scalar>
using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

template <typename Scalar>
class Conv2DOp : public LayerOp<Scalar> {
 public:
  explicit Conv2DOp(const LayerInfo& info)
      : info_(info),
        w_(info.window),
        channels_(info.input[0]),
        height_(info.input[1]),
        width_(info.input[2]),
        filters_(info.output[0]),
        out_h_(info.output[1]),
        out_w_(info.output[2]),
        group_channels_(channels_ / info.groups),
        group_filters_(filters_ / info.groups),
        k_(group_channels_ * w_.kernel_h * w_.kernel_w),
        p_(out_h_ * out_w_) {}

  void Forward(const Scalar* params, const Scalar* in, int64_t batch, Scalar* out) override {
    const int64_t bp = batch * p_;
    col_.resize(static_cast<size_t>(k_ * bp));
    tmp_.resize(static_cast<size_t>(group_filters_ * bp));
    for (int64_t g = 0; g < info_.groups; ++g) {
      Im2Col(in, batch, g);
      Eigen::Map<const Matrix<Scalar>> kernel(params + info_.kernel_offset + g * group_filters_ * k_,
                                              group_filters_, k_);
      Eigen::Map<const Matrix<Scalar>> col(col_.data(), k_, bp);
      Eigen::Map<Matrix<Scalar>> result(tmp_.data(), group_filters_, bp);
      result.noalias() = kernel * col;
      for (int64_t f = 0; f < group_filters_; ++f) {
        const int64_t filter = g * group_filters_ + f;
        const Scalar bias = info_.bias_size > 0 ? params[info_.bias_offset + filter] : Scalar(0);
        for (int64_t b = 0; b < batch; ++b) {
          const Scalar* src = tmp_.data() + f * bp + b * p_;
          Scalar* dst = out + (b * filters_ + filter) * p_;
          for (int64_t p = 0; p < p_; ++p) dst[p] = src[p] + bias;
        }
      }
    }
  }

  void Backward(const Scalar* params, const Scalar* in, const Scalar* /*out*/,
                const Scalar* d_out, int64_t batch, Scalar* d_in, Scalar* d_params) override {
    const int64_t bp = batch * p_;
    col_.resize(static_cast<size_t>(k_ * bp));
    tmp_.resize(static_cast<size_t>(group_filters_ * bp));
    if (d_in != nullptr) {
      std::fill(d_in, d_in + batch * channels_ * height_ * width_, Scalar(0));
      dcol_.resize(static_cast<size_t>(k_ * bp));
    }
    for (int64_t g = 0; g < info_.groups; ++g) {
      // Gather d_out of this group's filters into [F_g, B*P].
      for (int64_t f = 0; f < group_filters_; ++f) {
        const int64_t filter = g * group_filters_ + f;
        for (int64_t b = 0; b < batch; ++b) {
          std::copy_n(d_out + (b * filters_ + filter) * p_, p_, tmp_.data() + f * bp + b * p_);
        }
      }
      Eigen::Map<const Matrix<Scalar>> dy(tmp_.data(), group_filters_, bp);
      Im2Col(in, batch, g);
      Eigen::Map<const Matrix<Scalar>> col(col_.data(), k_, bp);
      Eigen::Map<Matrix<Scalar>> dkernel(d_params + info_.kernel_offset + g * group_filters_ * k_,
                                         group_filters_, k_);
      dkernel.noalias() = dy * col.transpose();
      if (info_.bias_size > 0) {
        for (int64_t f = 0; f < group_filters_; ++f) {
          d_params[info_.bias_offset + g * group_filters_ + f] = dy.row(f).sum();
        }
      }
      if (d_in != nullptr) {
        Eigen::Map<const Matrix<Scalar>> kernel(
            params + info_.kernel_offset + g * group_filters_ * k_, group_filters_, k_);
        Eigen::Map<Matrix<Scalar>> dcol(dcol_.data(), k_, bp);
        dcol.noalias() = kernel.transpose() * dy;
        Col2ImAdd(batch, g, d_in);
      }
    }
  }

 private:
  // The output columns [ow_begin, ow_end) whose input column ow * stride - pad_left + j lies
  // inside the image; the others read padding.
  void InsideColumns(int64_t j, int64_t* ow_begin, int64_t* ow_end) const {
    const int64_t offset = j - w_.pad_left;  // iw = ow * stride + offset
    int64_t begin = offset >= 0 ? 0 : (-offset + w_.stride_w - 1) / w_.stride_w;
    int64_t end = width_ - offset <= 0 ? 0 : (width_ - offset + w_.stride_w - 1) / w_.stride_w;
    begin = std::min(begin, out_w_);
    end = std::clamp(end, begin, out_w_);
    *ow_begin = begin;
    *ow_end = end;
  }

  // col_g[(c, i, j), (b, oh, ow)] = in[b, g * C_g + c, oh * sh - pt + i, ow * sw - pl + j] or 0.
  // Each output row of a patch row is one strided (often contiguous) run of the input.
  void Im2Col(const Scalar* in, int64_t batch, int64_t g) {
    const int64_t bp = batch * p_;
    Scalar* col = col_.data();
    for (int64_t c = 0; c < group_channels_; ++c) {
      for (int64_t i = 0; i < w_.kernel_h; ++i) {
        for (int64_t j = 0; j < w_.kernel_w; ++j) {
          int64_t ow0 = 0, ow1 = 0;
          InsideColumns(j, &ow0, &ow1);
          Scalar* row = col + ((c * w_.kernel_h + i) * w_.kernel_w + j) * bp;
          for (int64_t b = 0; b < batch; ++b) {
            const Scalar* plane = in + (b * channels_ + g * group_channels_ + c) * height_ * width_;
            for (int64_t oh = 0; oh < out_h_; ++oh, row += out_w_) {
              const int64_t ih = oh * w_.stride_h - w_.pad_top + i;
              if (ih < 0 || ih >= height_) {
                std::fill_n(row, out_w_, Scalar(0));
                continue;
              }
              std::fill_n(row, ow0, Scalar(0));
              const Scalar* src = plane + ih * width_ + ow0 * w_.stride_w - w_.pad_left + j;
              if (w_.stride_w == 1) {
                std::copy_n(src, ow1 - ow0, row + ow0);
              } else {
                for (int64_t ow = ow0; ow < ow1; ++ow, src += w_.stride_w) row[ow] = *src;
              }
              std::fill(row + ow1, row + out_w_, Scalar(0));
            }
          }
        }
      }
    }
  }

  // The adjoint of Im2Col: d_in += the columns, each entry back where it was read from.
  void Col2ImAdd(int64_t batch, int64_t g, Scalar* d_in) const {
    const int64_t bp = batch * p_;
    const Scalar* dcol = dcol_.data();
    for (int64_t c = 0; c < group_channels_; ++c) {
      for (int64_t i = 0; i < w_.kernel_h; ++i) {
        for (int64_t j = 0; j < w_.kernel_w; ++j) {
          int64_t ow0 = 0, ow1 = 0;
          InsideColumns(j, &ow0, &ow1);
          const Scalar* row = dcol + ((c * w_.kernel_h + i) * w_.kernel_w + j) * bp;
          for (int64_t b = 0; b < batch; ++b) {
            Scalar* plane = d_in + (b * channels_ + g * group_channels_ + c) * height_ * width_;
            for (int64_t oh = 0; oh < out_h_; ++oh, row += out_w_) {
              const int64_t ih = oh * w_.stride_h - w_.pad_top + i;
              if (ih < 0 || ih >= height_) continue;
              Scalar* dst = plane + ih * width_ + ow0 * w_.stride_w - w_.pad_left + j;
              for (int64_t ow = ow0; ow < ow1; ++ow, dst += w_.stride_w) *dst += row[ow];
            }
          }
        }
      }
    }
  }

  LayerInfo info_;
  Window w_;
  int64_t channels_, height_, width_, filters_, out_h_, out_w_;
  int64_t group_channels_, group_filters_, k_, p_;
  std::vector<Scalar> col_, tmp_, dcol_;
};

}  // namespace

template <typename Scalar>
std::unique_ptr<LayerOp<Scalar>> MakeConv2D(const LayerInfo& info) {
  return std::make_unique<Conv2DOp<Scalar>>(info);
}

template std::unique_ptr<LayerOp<float>> MakeConv2D<float>(const LayerInfo&);
template std::unique_ptr<LayerOp<double>> MakeConv2D<double>(const LayerInfo&);

}  // namespace cohort::model::internal
