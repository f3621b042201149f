#ifndef COHORT_CLIENT_SDK_INFERENCE_XNN_INSTANCE_H_
#define COHORT_CLIENT_SDK_INFERENCE_XNN_INSTANCE_H_

// One runnable copy of a Plan: its XNNPACK operators (each holding its packed weights) and the
// activation buffers between them. XNNPACK operators keep the pointers and batch size of their
// last setup, so an instance serves one caller at a time; the engine keeps a pool of them.
//
// Operators are set up again only when the batch size changes (buffers stay put otherwise), so
// a stream of same-size calls pays only for xnn_run_operator.
//
// Codes: Create returns the XNNPACK refusal of the first operator it cannot create, naming the
// layer (UNIMPLEMENTED, RESOURCE_EXHAUSTED: xnn_adapter.h). Run returns INTERNAL naming the
// operator and layer if XNNPACK fails at setup or run. This class is not thread-safe.

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "client_sdk/inference/plan.h"
#include "client_sdk/inference/xnn_adapter.h"

namespace cohort::inference {

class XnnInstance {
 public:
  // `plan` must outlive the instance.
  static absl::StatusOr<std::unique_ptr<XnnInstance>> Create(const Plan& plan);

  // `inputs` is [batch, input_size] in the graph's order, `outputs` [batch, output_size]; sizes
  // are the caller's to check. `pool` may be null (run on this thread).
  absl::Status Run(const float* inputs, int64_t batch, float* outputs, pthreadpool_t pool);

 private:
  explicit XnnInstance(const Plan& plan) : plan_(plan) {}
  absl::Status Setup(int64_t batch, pthreadpool_t pool);

  const Plan& plan_;
  std::vector<XnnOperator> ops_;
  // buffers_[0] holds the input (NHWC), buffers_[k + 1] step k's output; each with
  // kXnnExtraBytes of slack since XNNPACK's kernels may read past the end.
  std::vector<std::vector<float>> buffers_;
  int64_t batch_ = 0;  // batch size the operators are set up for; 0 = none
  pthreadpool_t setup_pool_ = nullptr;
};

}  // namespace cohort::inference

#endif  // COHORT_CLIENT_SDK_INFERENCE_XNN_INSTANCE_H_
