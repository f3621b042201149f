#ifndef COHORT_BASE_DEVICE_ID_H_
#define COHORT_BASE_DEVICE_ID_H_

// The rule for the app's device id, shared by the server (which refuses a check-in with a bad
// one) and the SDK (which refuses to be created with one, so an app learns at construction and
// not at its first round): 16 to 128 printable ASCII bytes without spaces.
//
// INVALID_ARGUMENT naming the rule and what was wrong. Thread-safe (pure function).

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace cohort {

inline constexpr size_t kMinDeviceIdBytes = 16;
inline constexpr size_t kMaxDeviceIdBytes = 128;

absl::Status ValidateDeviceId(absl::string_view device_id);

}  // namespace cohort

#endif  // COHORT_BASE_DEVICE_ID_H_
