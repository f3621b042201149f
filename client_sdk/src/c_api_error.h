#ifndef COHORT_CLIENT_SDK_SRC_C_API_ERROR_H_
#define COHORT_CLIENT_SDK_SRC_C_API_ERROR_H_

// The thread-local last error behind cohort_last_error_message(), shared by the C ABI's files
// (c_api.cc: the client; c_api_inference.cc: inference).

#include <string>

#include "absl/status/status.h"
#include "cohort/cohort_client.h"

namespace cohort::client::c_api {

// Clears the message at the start of a call.
void ClearLastError();
// Records `message` and returns `status`.
cohort_status Fail(cohort_status status, std::string message);
// COHORT_OK, or the status's code (the same numbers) with its message recorded.
cohort_status FromStatus(const absl::Status& status);
const char* LastErrorMessage();

}  // namespace cohort::client::c_api

#endif  // COHORT_CLIENT_SDK_SRC_C_API_ERROR_H_
