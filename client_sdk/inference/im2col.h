#ifndef COHORT_CLIENT_SDK_INFERENCE_IM2COL_H_
#define COHORT_CLIENT_SDK_INFERENCE_IM2COL_H_

// Gathers every output pixel's receptive field of an NHWC int8 tensor into one row, in
// (ky, kx, c) order, with cells outside the input set to `pad` (the input's zero point, i.e. a
// real zero). A convolution then becomes a 1x1 convolution over rows of kh * kw * C values.
//
// The engine does this for int8 convolutions with few input channels (the first layer of an
// image model): XNNPACK's qc8 kernels read each tap's input channels in blocks of 8 and pad the
// rest, so a 5x5 convolution of a grey image does 8x the work; as rows of 25 values the padding
// is once per row (measured 3-4x faster for the CNN's first layer, docs/inference.md).
// Thread-safe (pure function).

#include <cstdint>

#include "model/graph.h"

namespace cohort::inference {

// `in` is [batch, h, w, c], `out` [batch, out_h, out_w, kh * kw * c]; both must have 8 bytes of
// slack past their end (the engine's buffers have kXnnExtraBytes).
void Im2Col(const int8_t* in, int64_t batch, int64_t h, int64_t w, int64_t c,
            const model::Window& window, int64_t out_h, int64_t out_w, int8_t pad, int8_t* out);

}  // namespace cohort::inference

#endif  // COHORT_CLIENT_SDK_INFERENCE_IM2COL_H_
