#include "client_sdk/inference/row_convolution.h"

#include <utility>
#include <vector>

namespace cohort::inference {
namespace {

// Output channels of the widest GEMM tile of XNNPACK's qc8 kernels (x86 AVX-512, ARM NEON).
constexpr int64_t kTileChannels = 16;

}  // namespace

Step AsRowConvolution(Step& conv) {
  const model::Window w = conv.window;
  const int64_t filters = conv.out_c, channels = conv.in_c, out_w = conv.out_w;
  int64_t r = 1;
  for (int64_t candidate : {4, 2}) {
    if (candidate * filters <= kTileChannels && out_w % candidate == 0) {
      r = candidate;
      break;
    }
  }
  const int64_t wide = (r - 1) * w.stride_w + w.kernel_w;
  const int64_t row = w.kernel_h * wide * channels;
  // Block-Toeplitz: output i of a row sees columns [i * stride_w, i * stride_w + kw).
  std::vector<int8_t> kernel(static_cast<size_t>(r * filters * row), 0);
  for (int64_t i = 0; i < r; ++i) {
    for (int64_t f = 0; f < filters; ++f) {
      for (int64_t ky = 0; ky < w.kernel_h; ++ky) {
        for (int64_t kx = 0; kx < w.kernel_w; ++kx) {
          for (int64_t c = 0; c < channels; ++c) {
            kernel[(i * filters + f) * row + (ky * wide + i * w.stride_w + kx) * channels + c] =
                conv.qkernel[((f * w.kernel_h + ky) * w.kernel_w + kx) * channels + c];
          }
        }
      }
    }
  }
  std::vector<float> scales;
  std::vector<int32_t> bias;
  for (int64_t i = 0; i < r; ++i) {
    scales.insert(scales.end(), conv.kernel_scales.begin(), conv.kernel_scales.end());
    bias.insert(bias.end(), conv.qbias.begin(), conv.qbias.end());
  }

  Step gather;
  gather.kind = StepKind::kIm2Col;
  gather.label = conv.label;
  gather.int8 = true;
  gather.in_h = conv.in_h;
  gather.in_w = conv.in_w;
  gather.in_c = channels;
  gather.in_q = conv.in_q;  // padding cells get its zero point: a real zero
  gather.out_q = conv.in_q;
  gather.window = w;
  gather.window.kernel_w = wide;
  gather.window.stride_w = r * w.stride_w;
  gather.out_h = conv.out_h;
  gather.out_w = out_w / r;
  gather.out_c = row;

  conv.qkernel = std::move(kernel);
  conv.kernel_scales = std::move(scales);
  conv.qbias = std::move(bias);
  conv.in_h = conv.out_h;
  conv.in_w = out_w / r;
  conv.in_c = row;
  conv.out_w = out_w / r;
  conv.out_c = r * filters;
  conv.window = model::Window();
  return gather;
}

}  // namespace cohort::inference
