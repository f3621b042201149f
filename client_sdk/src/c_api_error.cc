#include "client_sdk/src/c_api_error.h"

#include <utility>

namespace cohort::client::c_api {
namespace {

thread_local std::string last_error;

}  // namespace

void ClearLastError() { last_error.clear(); }

cohort_status Fail(cohort_status status, std::string message) {
  last_error = std::move(message);
  return status;
}

cohort_status FromStatus(const absl::Status& status) {
  if (status.ok()) return COHORT_OK;
  return Fail(static_cast<cohort_status>(status.code()), std::string(status.message()));
}

const char* LastErrorMessage() { return last_error.c_str(); }

}  // namespace cohort::client::c_api
