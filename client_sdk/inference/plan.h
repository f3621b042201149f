#ifndef COHORT_CLIENT_SDK_INFERENCE_PLAN_H_
#define COHORT_CLIENT_SDK_INFERENCE_PLAN_H_

// A checked artifact compiled into the XNNPACK operators that run it, as plain data: weights
// already in XNNPACK's layouts, quantization parameters, clamps and shapes. Building the
// operators from a Plan (xnn_instance.h) can be done any number of times, once per concurrent
// caller, without looking at the graph again.
//
// Layout. The graph is NCHW per example (ONNX); XNNPACK is NHWC. Every rank-3 tensor is held as
// NHWC, so the input is transposed on the way in. A Flatten (or Reshape to rank 1) of [C, H, W]
// leaves the values in (h, w, c) order, and the Dense after it gets its kernel rows permuted to
// match, so it computes exactly the NCHW model; a vector still in that order at the end of the
// graph is permuted back. A Reshape to rank 3 is run only when it moves no value (C = 1, or
// H = W = 1, on both sides), since this XNNPACK snapshot has no transpose operator.
//
// INT8 (model/quantize.h's scheme):
//  - Conv2D: xnn_convolution2d_nhwc_qc8 (per-channel kernel scales). Dense: the same operator
//    as a 1x1 convolution, since fully_connected_nc_qs8 takes one kernel scale per tensor. A
//    non-grouped convolution of fewer than 8 input channels is an im2col (im2col.h) and a 1x1
//    convolution (row_convolution.h), since the qc8 kernels pad every tap's channels to 8.
//  - A ReLU/ReLU6 right after a Dense/Conv2D is the output clamp of that operator, which is
//    requantized with the activation's parameters; any other ReLU is an s8 clamp.
//  - Max pooling: max_pooling2d_nhwc_s8 (quantization unchanged). Global average pooling:
//    global_average_pooling_nwc_qs8, or through float when input_scale / output_scale is outside
//    the [2^-8, 2^8) the operator supports.
//  - Average pooling has no qs8 operator in this snapshot. Without padding it is a depthwise
//    qc8 convolution with every kernel code 1 and kernel scale 1/(kh*kw): the accumulator is
//    exactly the sum of (q - zero_point) over the window, requantized once, as a qs8 pooling
//    would. With padding the divisor is the number of cells inside the input (ONNX
//    count_include_pad = 0), which a convolution cannot express, so the layer converts to float,
//    pools with average_pooling2d_nhwc_f32 and converts back.
//  - convert_nc_f32_qs8 quantizes the input, convert_nc_qs8_f32 dequantizes the logits, and a
//    final Softmax runs in float.
//  - A channel whose requantization scale input_scale * kernel_scale / output_scale is >= 256
//    (XNNPACK's limit) is rescaled without changing a single number when all its weights are zero
//    (only the bias matters then); otherwise the layer is refused.
//
// Codes: UNIMPLEMENTED naming the layer for what the engine cannot run (a Reshape that would have
// to move values, quantization an operator cannot express); INVALID_ARGUMENT for an artifact
// whose layers disagree about quantization (a layer that only moves values must keep its input's
// parameters). The artifact must have passed CheckArtifact. Thread-safe (pure function).

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cohort/v1/inference.pb.h"
#include "model/graph.h"

namespace cohort::inference {

enum class StepKind {
  kQuantize,        // f32 -> qs8 (convert_nc_f32_qs8)
  kDequantize,      // qs8 -> f32 (convert_nc_qs8_f32)
  kConvolution,     // f32 or qc8, also int8 Dense (1x1) and unpadded int8 average pooling
  kFullyConnected,  // f32 Dense
  kMaxPool,         // f32 or s8
  kAvgPool,         // f32
  kGlobalAvgPool,   // f32 or qs8
  kClamp,           // f32 or s8
  kSoftmax,         // f32
  kIm2Col,          // s8, the engine's own loop (im2col.h), before a 1x1 qc8 convolution
};

struct Quant {
  float scale = 1.0f;
  int8_t zero_point = 0;
};

struct Step {
  StepKind kind = StepKind::kClamp;
  std::string label;   // the layer it comes from, for every error message
  bool int8 = false;   // its data is int8 (for kQuantize: the output; kDequantize: the input)
  // Per-example NHWC geometry; element-wise operators use height = width = 1.
  int64_t in_h = 1, in_w = 1, in_c = 0;
  int64_t out_h = 1, out_w = 1, out_c = 0;
  model::Window window;
  int64_t groups = 1;  // convolutions: in_c and out_c are split into `groups`
  // Float32 convolution / fully connected, in XNNPACK's layout
  // ([groups][group_out][kh][kw][group_in], fully connected [out][in]).
  std::vector<float> kernel, bias;
  // qc8 convolution, same layout; one scale per output channel.
  std::vector<int8_t> qkernel;
  std::vector<int32_t> qbias;
  std::vector<float> kernel_scales;
  Quant in_q, out_q;
  float out_min = 0.0f, out_max = 0.0f;  // float output clamp (+-infinity: none)
  int8_t qmin = -128, qmax = 127;        // int8 output clamp

  int64_t in_elements() const { return in_h * in_w * in_c; }
  int64_t out_elements() const { return out_h * out_w * out_c; }
  // Whether the step reads / writes float values.
  bool float_in() const;
  bool float_out() const;
};

struct Plan {
  std::vector<Step> steps;
  int64_t input_size = 0;   // floats per example
  int64_t output_size = 0;  // floats per example
  // Per example: the engine's input buffer gets canonical input value input_order[i] at i; empty
  // means the same order. The caller's output gets the last step's value i at output_order[i].
  std::vector<int64_t> input_order, output_order;
};

absl::StatusOr<Plan> CompilePlan(const cohort::v1::InferenceModel& artifact,
                                 const model::GraphInfo& info);

}  // namespace cohort::inference

#endif  // COHORT_CLIENT_SDK_INFERENCE_PLAN_H_
