#ifndef COHORT_BASE_LOGGING_H_
#define COHORT_BASE_LOGGING_H_

// The one logging header of the project: everything logs through these macros, which map onto
// spdlog, so the backend can change in one place.
//
//   COHORT_LOG_INFO("round committed task={} round={} survivors={}", task, round, n);
//
// Messages are `key=value` pairs after a short sentence, so logs stay greppable and parseable.

#include <string>

#include "absl/status/status.h"
#include "spdlog/spdlog.h"

namespace cohort {

enum class LogFormat { kText, kJson };

// Configures the process-wide logger. `level` is one of trace, debug, info, warn, error, off.
// Returns INVALID_ARGUMENT for an unknown level. Call once, from main, before threads start.
absl::Status InitLogging(const std::string& level, LogFormat format = LogFormat::kText);

}  // namespace cohort

#define COHORT_LOG_TRACE(...) SPDLOG_TRACE(__VA_ARGS__)
#define COHORT_LOG_DEBUG(...) SPDLOG_DEBUG(__VA_ARGS__)
#define COHORT_LOG_INFO(...) SPDLOG_INFO(__VA_ARGS__)
#define COHORT_LOG_WARN(...) SPDLOG_WARN(__VA_ARGS__)
#define COHORT_LOG_ERROR(...) SPDLOG_ERROR(__VA_ARGS__)

#endif  // COHORT_BASE_LOGGING_H_
