#include "base/device_id.h"

#include "absl/strings/str_cat.h"

namespace cohort {

absl::Status ValidateDeviceId(absl::string_view device_id) {
  if (device_id.size() < kMinDeviceIdBytes || device_id.size() > kMaxDeviceIdBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("device_id must be ", kMinDeviceIdBytes, " to ", kMaxDeviceIdBytes,
                     " printable ASCII bytes, got ", device_id.size()));
  }
  for (size_t i = 0; i < device_id.size(); ++i) {
    const char c = device_id[i];
    if (c < 0x21 || c > 0x7e) {
      return absl::InvalidArgumentError(
          absl::StrCat("device_id must be printable ASCII without spaces; byte ", i, " is 0x",
                       absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2)));
    }
  }
  return absl::OkStatus();
}

}  // namespace cohort
