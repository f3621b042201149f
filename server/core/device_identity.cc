#include "server/core/device_identity.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/device_id.h"

namespace cohort::server {

absl::Status ValidateDeviceIdentity(absl::string_view population, absl::string_view device_id,
                                    absl::string_view sdk_version, int sdk_major) {
  if (population.empty()) return absl::InvalidArgumentError("population is empty");
  if (absl::Status s = ValidateDeviceId(device_id); !s.ok()) return s;
  const std::vector<absl::string_view> parts = absl::StrSplit(sdk_version, '.');
  int major = 0;
  if (parts.size() < 2 || parts.size() > 3 || !absl::SimpleAtoi(parts[0], &major)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sdk_version must be a semantic version like \"1.0.0\", got \"", sdk_version, "\""));
  }
  if (major != sdk_major) {
    return absl::FailedPreconditionError(absl::StrCat("sdk_version ", sdk_version,
                                                      " is not supported: this server speaks "
                                                      "major version ",
                                                      sdk_major));
  }
  return absl::OkStatus();
}

}  // namespace cohort::server
