#ifndef COHORT_CLIENT_SDK_INFERENCE_ROW_CONVOLUTION_H_
#define COHORT_CLIENT_SDK_INFERENCE_ROW_CONVOLUTION_H_

// Rewrites an int8 convolution of few input channels as rows of receptive fields (an im2col
// step, im2col.h) and a 1x1 qc8 convolution of the same kernel, since XNNPACK's qc8 kernels pad
// every tap's input channels to 8 (plan.h, docs/inference.md).
//
// When the filters fill less than a 16-channel output tile of the GEMM kernels, each row covers r
// horizontally adjacent output pixels (the largest r in {4, 2} with r * filters <= 16 that
// divides the output width): the row is (r - 1) * stride_w + kw input columns wide and the
// kernel has r * filters outputs, output i * filters + f of row (y, j) being filter f at pixel
// (y, r * j + i), which is where NHWC puts it. No number changes. Thread-safe (pure function).

#include "client_sdk/inference/plan.h"

namespace cohort::inference {

// `conv` is a non-grouped int8 kConvolution step in XNNPACK's kernel layout; it becomes the 1x1
// convolution. Returns the kIm2Col step that must run before it.
Step AsRowConvolution(Step& conv);

}  // namespace cohort::inference

#endif  // COHORT_CLIENT_SDK_INFERENCE_ROW_CONVOLUTION_H_
