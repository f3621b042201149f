#ifndef COHORT_CLIENT_SDK_INFERENCE_XNN_ADAPTER_H_
#define COHORT_CLIENT_SDK_INFERENCE_XNN_ADAPTER_H_

// The one place that talks to XNNPACK's C API: process-wide initialization, owning handles for
// operators and thread pools, and statuses that name the XNNPACK function and the graph layer.
//
//   COHORT_RETURN_IF_ERROR(InitializeXnnpack());
//   xnn_operator_t raw = nullptr;
//   COHORT_RETURN_IF_ERROR(XnnCall(xnn_create_clamp_nc_s8(...), "xnn_create_clamp_nc_s8", layer));
//   XnnOperator op(raw);
//
// Thread-safe: InitializeXnnpack may race from any thread (it runs xnn_initialize once).

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "pthreadpool.h"
#include "xnnpack.h"

namespace cohort::inference {

// xnn_initialize once per process; later calls return the first call's result. UNAVAILABLE when
// the CPU lacks what XNNPACK needs (e.g. SSE2, NEON), RESOURCE_EXHAUSTED when out of memory.
absl::Status InitializeXnnpack();

// OK for xnn_status_success; otherwise an error naming `function` and `layer`. A parameter
// XNNPACK refuses or does not support comes from the model (the engine passes nothing else), so
// both are UNIMPLEMENTED: "this engine cannot run that layer". RESOURCE_EXHAUSTED for out of
// memory, UNAVAILABLE for unsupported hardware, INTERNAL for an uninitialized library or an
// invalid state (a bug of ours).
absl::Status XnnCall(xnn_status status, absl::string_view function, absl::string_view layer);

struct XnnOperatorDeleter {
  void operator()(xnn_operator_t op) const;
};
using XnnOperator = std::unique_ptr<xnn_operator, XnnOperatorDeleter>;

struct ThreadPoolDeleter {
  void operator()(pthreadpool_t pool) const;
};
using ThreadPool = std::unique_ptr<pthreadpool, ThreadPoolDeleter>;

// A pool of `threads` workers, or null for 1: XNNPACK then runs on the calling thread, which is
// what a phone wants at batch 1 (no hand-off latency) and what lets concurrent callers run in
// parallel (a pthreadpool runs one parallel section at a time).
ThreadPool MakeThreadPool(size_t threads);

// Bytes XNNPACK's kernels may read past the end of any input buffer (XNN_EXTRA_BYTES).
inline constexpr size_t kXnnExtraBytes = XNN_EXTRA_BYTES;

}  // namespace cohort::inference

#endif  // COHORT_CLIENT_SDK_INFERENCE_XNN_ADAPTER_H_
