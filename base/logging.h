#ifndef COHORT_BASE_LOGGING_H_
#define COHORT_BASE_LOGGING_H_

// The one logging header of the project: everything logs through these macros, which map onto
// spdlog, so the backend can change in one place.
//
//   COHORT_LOG_INFO("round committed task={} round={} survivors={}", task, round, n);
//
// Messages are `key=value` pairs after a short sentence, so logs stay greppable and parseable;
// nothing but pairs follows the first pair (scripts/check-log-messages.py checks it).

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "spdlog/sinks/sink.h"
#include "spdlog/spdlog.h"

namespace cohort {

enum class LogFormat { kText, kJson };

// "text" (or empty) and "json"; INVALID_ARGUMENT naming the value otherwise.
absl::StatusOr<LogFormat> ParseLogFormat(const std::string& name);

// Configures the process-wide logger. `level` is one of trace, debug, info, warn, error, off.
// Every line is written by base/log_format.h: times in UTC with their zone, and with kJson one
// object per line whose fields are the message's key=value pairs.
// Lines go to `sink`, by default stderr (stdout is a binary's output: cohort-sim's results,
// cohortctl's tables). Returns INVALID_ARGUMENT for an unknown level. Call once, from main,
// before threads start.
absl::Status InitLogging(const std::string& level, LogFormat format = LogFormat::kText,
                         std::shared_ptr<spdlog::sinks::sink> sink = nullptr);

// A logger for a library's own lines (gRPC's): it writes to the project's sinks in the project's
// format, named `library`, its messages kept verbatim. Call after InitLogging.
std::shared_ptr<spdlog::logger> LibraryLogger(const std::string& library);

}  // namespace cohort

#define COHORT_LOG_TRACE(...) SPDLOG_TRACE(__VA_ARGS__)
#define COHORT_LOG_DEBUG(...) SPDLOG_DEBUG(__VA_ARGS__)
#define COHORT_LOG_INFO(...) SPDLOG_INFO(__VA_ARGS__)
#define COHORT_LOG_WARN(...) SPDLOG_WARN(__VA_ARGS__)
#define COHORT_LOG_ERROR(...) SPDLOG_ERROR(__VA_ARGS__)

#endif  // COHORT_BASE_LOGGING_H_
