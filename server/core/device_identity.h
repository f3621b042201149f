#ifndef COHORT_SERVER_CORE_DEVICE_IDENTITY_H_
#define COHORT_SERVER_CORE_DEVICE_IDENTITY_H_

// The identity fields every session-less device call carries (CheckIn, FetchInferenceModel):
// a population, the app's device id (16 to 128 printable ASCII bytes without spaces) and the
// SDK's semantic version, whose major version must be the server's.
//
// Codes: INVALID_ARGUMENT naming the field; FAILED_PRECONDITION for another SDK major version.
// Thread-safe (pure function).

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace cohort::server {

absl::Status ValidateDeviceIdentity(absl::string_view population, absl::string_view device_id,
                                    absl::string_view sdk_version, int sdk_major);

}  // namespace cohort::server

#endif  // COHORT_SERVER_CORE_DEVICE_IDENTITY_H_
