#include "client_sdk/inference/xnn_instance.h"

#include <cstring>
#include <utility>

#include "base/status_macros.h"
#include "client_sdk/inference/im2col.h"

namespace cohort::inference {
namespace {

using U32 = uint32_t;

absl::StatusOr<XnnOperator> CreateOperator(const Step& s) {
  xnn_operator_t op = nullptr;
  xnn_status status = xnn_status_invalid_state;
  const char* function = "";
  const model::Window& w = s.window;
  const size_t ci = static_cast<size_t>(s.in_c), co = static_cast<size_t>(s.out_c);
  switch (s.kind) {
    case StepKind::kQuantize:
      function = "xnn_create_convert_nc_f32_qs8";
      status = xnn_create_convert_nc_f32_qs8(ci, ci, ci, s.out_q.scale, s.out_q.zero_point, -128,
                                             127, 0, &op);
      break;
    case StepKind::kDequantize:
      function = "xnn_create_convert_nc_qs8_f32";
      status = xnn_create_convert_nc_qs8_f32(ci, ci, ci, s.in_q.scale, s.in_q.zero_point, 0, &op);
      break;
    case StepKind::kConvolution: {
      const size_t g = static_cast<size_t>(s.groups);
      if (s.int8) {
        function = "xnn_create_convolution2d_nhwc_qc8";
        status = xnn_create_convolution2d_nhwc_qc8(
            U32(w.pad_top), U32(w.pad_right), U32(w.pad_bottom), U32(w.pad_left), U32(w.kernel_h),
            U32(w.kernel_w), U32(w.stride_h), U32(w.stride_w), 1, 1, U32(g), ci / g, co / g, ci,
            co, s.in_q.zero_point, s.in_q.scale, s.kernel_scales.data(), s.qkernel.data(),
            s.qbias.data(), s.out_q.zero_point, s.out_q.scale, s.qmin, s.qmax, 0, &op);
      } else {
        function = "xnn_create_convolution2d_nhwc_f32";
        status = xnn_create_convolution2d_nhwc_f32(
            U32(w.pad_top), U32(w.pad_right), U32(w.pad_bottom), U32(w.pad_left), U32(w.kernel_h),
            U32(w.kernel_w), U32(w.stride_h), U32(w.stride_w), 1, 1, U32(g), ci / g, co / g, ci,
            co, s.kernel.data(), s.bias.data(), s.out_min, s.out_max, 0, &op);
      }
      break;
    }
    case StepKind::kFullyConnected:
      function = "xnn_create_fully_connected_nc_f32";
      status = xnn_create_fully_connected_nc_f32(ci, co, ci, co, s.kernel.data(), s.bias.data(),
                                                 s.out_min, s.out_max, 0, &op);
      break;
    case StepKind::kMaxPool:
      if (s.int8) {
        function = "xnn_create_max_pooling2d_nhwc_s8";
        status = xnn_create_max_pooling2d_nhwc_s8(
            U32(w.pad_top), U32(w.pad_right), U32(w.pad_bottom), U32(w.pad_left), U32(w.kernel_h),
            U32(w.kernel_w), U32(w.stride_h), U32(w.stride_w), 1, 1, ci, ci, ci, s.qmin, s.qmax,
            0, &op);
      } else {
        function = "xnn_create_max_pooling2d_nhwc_f32";
        status = xnn_create_max_pooling2d_nhwc_f32(
            U32(w.pad_top), U32(w.pad_right), U32(w.pad_bottom), U32(w.pad_left), U32(w.kernel_h),
            U32(w.kernel_w), U32(w.stride_h), U32(w.stride_w), 1, 1, ci, ci, ci, s.out_min,
            s.out_max, 0, &op);
      }
      break;
    case StepKind::kAvgPool:
      function = "xnn_create_average_pooling2d_nhwc_f32";
      status = xnn_create_average_pooling2d_nhwc_f32(
          U32(w.pad_top), U32(w.pad_right), U32(w.pad_bottom), U32(w.pad_left), U32(w.kernel_h),
          U32(w.kernel_w), U32(w.stride_h), U32(w.stride_w), ci, ci, ci, s.out_min, s.out_max, 0,
          &op);
      break;
    case StepKind::kGlobalAvgPool:
      if (s.int8) {
        function = "xnn_create_global_average_pooling_nwc_qs8";
        status = xnn_create_global_average_pooling_nwc_qs8(
            ci, ci, ci, s.in_q.zero_point, s.in_q.scale, s.out_q.zero_point, s.out_q.scale,
            s.qmin, s.qmax, 0, &op);
      } else {
        function = "xnn_create_global_average_pooling_nwc_f32";
        status = xnn_create_global_average_pooling_nwc_f32(ci, ci, ci, s.out_min, s.out_max, 0,
                                                           &op);
      }
      break;
    case StepKind::kClamp:
      if (s.int8) {
        function = "xnn_create_clamp_nc_s8";
        status = xnn_create_clamp_nc_s8(ci, ci, ci, s.qmin, s.qmax, 0, &op);
      } else {
        function = "xnn_create_clamp_nc_f32";
        status = xnn_create_clamp_nc_f32(ci, ci, ci, s.out_min, s.out_max, 0, &op);
      }
      break;
    case StepKind::kSoftmax:
      function = "xnn_create_softmax_nc_f32";
      status = xnn_create_softmax_nc_f32(ci, ci, ci, 0, &op);
      break;
    case StepKind::kIm2Col:
      return XnnOperator(nullptr);  // not an XNNPACK operator
  }
  XnnOperator owned(op);
  COHORT_RETURN_IF_ERROR(XnnCall(status, function, s.label));
  return owned;
}

xnn_status SetupOperator(const Step& s, xnn_operator_t op, size_t batch, const void* in,
                         void* out, pthreadpool_t pool, const char** function) {
  const size_t h = static_cast<size_t>(s.in_h), w = static_cast<size_t>(s.in_w);
  const auto* fin = static_cast<const float*>(in);
  const auto* qin = static_cast<const int8_t*>(in);
  auto* fout = static_cast<float*>(out);
  auto* qout = static_cast<int8_t*>(out);
  switch (s.kind) {
    case StepKind::kQuantize:
      *function = "xnn_setup_convert_nc_f32_qs8";
      return xnn_setup_convert_nc_f32_qs8(op, batch, fin, qout, pool);
    case StepKind::kDequantize:
      *function = "xnn_setup_convert_nc_qs8_f32";
      return xnn_setup_convert_nc_qs8_f32(op, batch, qin, fout, pool);
    case StepKind::kConvolution:
      *function = s.int8 ? "xnn_setup_convolution2d_nhwc_qc8" : "xnn_setup_convolution2d_nhwc_f32";
      return s.int8 ? xnn_setup_convolution2d_nhwc_qc8(op, batch, h, w, qin, qout, pool)
                    : xnn_setup_convolution2d_nhwc_f32(op, batch, h, w, fin, fout, pool);
    case StepKind::kFullyConnected:
      *function = "xnn_setup_fully_connected_nc_f32";
      return xnn_setup_fully_connected_nc_f32(op, batch, fin, fout, pool);
    case StepKind::kMaxPool:
      *function = s.int8 ? "xnn_setup_max_pooling2d_nhwc_s8" : "xnn_setup_max_pooling2d_nhwc_f32";
      return s.int8 ? xnn_setup_max_pooling2d_nhwc_s8(op, batch, h, w, qin, qout, pool)
                    : xnn_setup_max_pooling2d_nhwc_f32(op, batch, h, w, fin, fout, pool);
    case StepKind::kAvgPool:
      *function = "xnn_setup_average_pooling2d_nhwc_f32";
      return xnn_setup_average_pooling2d_nhwc_f32(op, batch, h, w, fin, fout, pool);
    case StepKind::kGlobalAvgPool:
      *function = s.int8 ? "xnn_setup_global_average_pooling_nwc_qs8"
                         : "xnn_setup_global_average_pooling_nwc_f32";
      return s.int8 ? xnn_setup_global_average_pooling_nwc_qs8(op, batch, h * w, qin, qout, pool)
                    : xnn_setup_global_average_pooling_nwc_f32(op, batch, h * w, fin, fout, pool);
    case StepKind::kClamp:
      *function = s.int8 ? "xnn_setup_clamp_nc_s8" : "xnn_setup_clamp_nc_f32";
      return s.int8 ? xnn_setup_clamp_nc_s8(op, batch, qin, qout, pool)
                    : xnn_setup_clamp_nc_f32(op, batch, fin, fout, pool);
    case StepKind::kSoftmax:
      *function = "xnn_setup_softmax_nc_f32";
      return xnn_setup_softmax_nc_f32(op, batch, fin, fout, pool);
    case StepKind::kIm2Col:
      return xnn_status_success;
  }
  *function = "setup";
  return xnn_status_invalid_state;
}

// Floats that hold `elements` values of the step's type plus XNNPACK's read slack.
size_t BufferFloats(int64_t elements, bool is_float) {
  const size_t bytes = static_cast<size_t>(elements) * (is_float ? sizeof(float) : 1);
  return (bytes + kXnnExtraBytes + sizeof(float) - 1) / sizeof(float);
}

}  // namespace

absl::StatusOr<std::unique_ptr<XnnInstance>> XnnInstance::Create(const Plan& plan) {
  COHORT_RETURN_IF_ERROR(InitializeXnnpack());
  std::unique_ptr<XnnInstance> instance(new XnnInstance(plan));
  instance->ops_.reserve(plan.steps.size());
  for (const Step& step : plan.steps) {
    COHORT_ASSIGN_OR_RETURN(XnnOperator op, CreateOperator(step));
    instance->ops_.push_back(std::move(op));
  }
  instance->buffers_.resize(plan.steps.size() + 1);
  return instance;
}

absl::Status XnnInstance::Setup(int64_t batch, pthreadpool_t pool) {
  batch_ = 0;
  buffers_[0].resize(BufferFloats(batch * plan_.input_size, true));
  for (size_t k = 0; k < plan_.steps.size(); ++k) {
    const Step& s = plan_.steps[k];
    buffers_[k + 1].resize(BufferFloats(batch * s.out_elements(), s.float_out()));
  }
  for (size_t k = 0; k < plan_.steps.size(); ++k) {
    const char* function = "";
    const xnn_status status = SetupOperator(plan_.steps[k], ops_[k].get(),
                                            static_cast<size_t>(batch), buffers_[k].data(),
                                            buffers_[k + 1].data(), pool, &function);
    absl::Status result = XnnCall(status, function, plan_.steps[k].label);
    if (!result.ok()) return absl::InternalError(result.message());
  }
  batch_ = batch;
  setup_pool_ = pool;
  return absl::OkStatus();
}

absl::Status XnnInstance::Run(const float* inputs, int64_t batch, float* outputs,
                              pthreadpool_t pool) {
  // Setup records the thread pool too (some operators compute their tiling from it).
  if (batch != batch_ || pool != setup_pool_) COHORT_RETURN_IF_ERROR(Setup(batch, pool));
  const int64_t n_in = plan_.input_size, n_out = plan_.output_size;
  float* in = buffers_[0].data();
  if (plan_.input_order.empty()) {
    std::memcpy(in, inputs, static_cast<size_t>(batch * n_in) * sizeof(float));
  } else {
    for (int64_t b = 0; b < batch; ++b) {
      for (int64_t i = 0; i < n_in; ++i) in[b * n_in + i] = inputs[b * n_in + plan_.input_order[i]];
    }
  }
  for (size_t k = 0; k < ops_.size(); ++k) {
    const Step& s = plan_.steps[k];
    if (s.kind == StepKind::kIm2Col) {
      Im2Col(reinterpret_cast<const int8_t*>(buffers_[k].data()), batch, s.in_h, s.in_w, s.in_c,
             s.window, s.out_h, s.out_w, s.in_q.zero_point,
             reinterpret_cast<int8_t*>(buffers_[k + 1].data()));
      continue;
    }
    absl::Status result = XnnCall(xnn_run_operator(ops_[k].get(), pool), "xnn_run_operator",
                                  plan_.steps[k].label);
    if (!result.ok()) return absl::InternalError(result.message());
  }
  const float* out = buffers_.back().data();
  if (plan_.output_order.empty()) {
    std::memcpy(outputs, out, static_cast<size_t>(batch * n_out) * sizeof(float));
  } else {
    for (int64_t b = 0; b < batch; ++b) {
      for (int64_t i = 0; i < n_out; ++i) outputs[b * n_out + plan_.output_order[i]] = out[b * n_out + i];
    }
  }
  return absl::OkStatus();
}

}  // namespace cohort::inference
