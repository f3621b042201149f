#include "client_sdk/inference/xnn_adapter.h"

#include <mutex>

#include "absl/strings/str_cat.h"

namespace cohort::inference {
namespace {

const char* StatusName(xnn_status status) {
  switch (status) {
    case xnn_status_success: return "success";
    case xnn_status_uninitialized: return "uninitialized";
    case xnn_status_invalid_parameter: return "invalid parameter";
    case xnn_status_invalid_state: return "invalid state";
    case xnn_status_unsupported_parameter: return "unsupported parameter";
    case xnn_status_unsupported_hardware: return "unsupported hardware";
    case xnn_status_out_of_memory: return "out of memory";
  }
  return "unknown status";
}

absl::StatusCode CodeOf(xnn_status status) {
  switch (status) {
    case xnn_status_success: return absl::StatusCode::kOk;
    case xnn_status_invalid_parameter:
    case xnn_status_unsupported_parameter: return absl::StatusCode::kUnimplemented;
    case xnn_status_unsupported_hardware: return absl::StatusCode::kUnavailable;
    case xnn_status_out_of_memory: return absl::StatusCode::kResourceExhausted;
    default: return absl::StatusCode::kInternal;
  }
}

}  // namespace

absl::Status InitializeXnnpack() {
  // xnn_initialize is itself idempotent, but its result must reach every caller and a failed
  // initialization must not be retried into a half-initialized library.
  static std::once_flag once;
  static xnn_status result = xnn_status_uninitialized;
  std::call_once(once, [] { result = xnn_initialize(/*allocator=*/nullptr); });
  return XnnCall(result, "xnn_initialize", "XNNPACK");
}

absl::Status XnnCall(xnn_status status, absl::string_view function, absl::string_view layer) {
  if (status == xnn_status_success) return absl::OkStatus();
  return absl::Status(CodeOf(status), absl::StrCat(layer, ": XNNPACK ", function, " failed: ",
                                                   StatusName(status)));
}

void XnnOperatorDeleter::operator()(xnn_operator_t op) const {
  if (op != nullptr) xnn_delete_operator(op);
}

void ThreadPoolDeleter::operator()(pthreadpool_t pool) const {
  if (pool != nullptr) pthreadpool_destroy(pool);
}

ThreadPool MakeThreadPool(size_t threads) {
  if (threads <= 1) return ThreadPool(nullptr);
  return ThreadPool(pthreadpool_create(threads));
}

}  // namespace cohort::inference
