#include "base/logging.h"

#include "absl/strings/str_cat.h"

namespace cohort {

absl::Status InitLogging(const std::string& level, LogFormat format) {
  const spdlog::level::level_enum parsed = spdlog::level::from_str(level);
  // spdlog maps unknown names to `off`; only "off" itself may mean that.
  if (parsed == spdlog::level::off && level != "off") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown log level '", level,
                     "': expected one of trace, debug, info, warn, error, off"));
  }
  spdlog::set_level(parsed);
  if (format == LogFormat::kJson) {
    spdlog::set_pattern(
        R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","thread":%t,"msg":"%v"})",
        spdlog::pattern_time_type::utc);
  } else {
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%L%$ %t %v");
  }
  return absl::OkStatus();
}

}  // namespace cohort
