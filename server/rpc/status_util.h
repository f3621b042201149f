#ifndef COHORT_SERVER_RPC_STATUS_UTIL_H_
#define COHORT_SERVER_RPC_STATUS_UTIL_H_

// The one place where absl::Status becomes grpc::Status. Codes map one to one; messages longer
// than kMaxStatusMessage bytes are truncated (with "...") so that a status always fits the
// trailers. Thread-safe.

#include <cstddef>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace cohort::server {

inline constexpr size_t kMaxStatusMessage = 1024;

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace cohort::server

#endif  // COHORT_SERVER_RPC_STATUS_UTIL_H_
