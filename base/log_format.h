#ifndef COHORT_BASE_LOG_FORMAT_H_
#define COHORT_BASE_LOG_FORMAT_H_

// How one log line is written, as plain functions over a record so that the format is tested
// without a logger. The project's messages are a short sentence followed by `key=value` pairs
// (base/logging.h); the JSON form turns those pairs into fields of their own, so a collector
// indexes `task` and `round` without parsing `msg`.

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace cohort {

struct LogMessageParts {
  std::string sentence;  // the text before the first `key=`, trimmed
  std::vector<std::pair<std::string, std::string>> fields;  // in the order written
};

// Splits "round committed task=t1 round=3" into {"round committed", {{task,t1},{round,3}}}.
// A key is [A-Za-z_][A-Za-z0-9_.]* at the start or after a space, followed by '='; a value runs
// to the next key, so it may hold spaces ("status=INVALID_ARGUMENT: bad chunk"). A message with
// no key is all sentence.
LogMessageParts SplitLogMessage(absl::string_view message);

struct LogRecord {
  absl::Time time;
  absl::string_view level;   // trace, debug, info, warn, error, critical
  absl::string_view logger;  // "cohort" for the project's own lines, "grpc" for gRPC's
  long long thread = 0;
  absl::string_view source;  // "file.cc:123", or empty
  absl::string_view message;
  // Whether `message` follows the key=value convention; a library's lines are kept verbatim.
  bool structured = true;
};

// One JSON object, no trailing newline: ts (RFC 3339, UTC, microseconds, "Z"), level, logger,
// thread, source (when known), msg, then the message's fields as strings. A field whose name is
// taken (by ts, msg, ... or an earlier field) gets a numeric suffix. Invalid UTF-8 becomes
// U+FFFD, so every line is valid JSON.
std::string JsonLogLine(const LogRecord& record);

// "2026-12-02T15:51:36.123Z I 4242 msg": the same time in UTC with its zone, the level's
// initial, the thread; a library's lines are prefixed with its name ("grpc: ...").
std::string TextLogLine(const LogRecord& record);

// Appends `text` to `out` as the inside of a JSON string.
void AppendJsonEscaped(absl::string_view text, std::string& out);

}  // namespace cohort

#endif  // COHORT_BASE_LOG_FORMAT_H_
