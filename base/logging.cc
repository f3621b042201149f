#include "base/logging.h"

#include <memory>
#include "absl/strings/string_view.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/log_format.h"
#include "spdlog/sinks/stdout_sinks.h"

namespace cohort {
namespace {

absl::string_view LevelName(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace: return "trace";
    case spdlog::level::debug: return "debug";
    case spdlog::level::info: return "info";
    case spdlog::level::warn: return "warn";
    case spdlog::level::err: return "error";
    case spdlog::level::critical: return "critical";
    default: return "off";
  }
}

// Adapts spdlog's record to the pure formatter of base/log_format.h.
class LineFormatter : public spdlog::formatter {
 public:
  explicit LineFormatter(LogFormat format) : format_(format) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string source;
    if (!msg.source.empty()) {
      absl::string_view file = msg.source.filename;
      // The base name only: build paths say nothing to an operator.
      if (size_t slash = file.rfind('/'); slash != absl::string_view::npos) file.remove_prefix(slash + 1);
      source = absl::StrCat(file, ":", msg.source.line);
    }
    const absl::string_view logger(msg.logger_name.data(), msg.logger_name.size());
    const LogRecord record{
        .time = absl::FromChrono(msg.time),
        .level = LevelName(msg.level),
        .logger = logger.empty() ? absl::string_view("cohort") : logger,
        .thread = static_cast<long long>(msg.thread_id),
        .source = source,
        .message = absl::string_view(msg.payload.data(), msg.payload.size()),
        .structured = logger.empty(),
    };
    const std::string line =
        format_ == LogFormat::kJson ? JsonLogLine(record) : TextLogLine(record);
    dest.append(line.data(), line.data() + line.size());
    dest.push_back('\n');
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<LineFormatter>(format_);
  }

 private:
  LogFormat format_;
};

}  // namespace

absl::StatusOr<LogFormat> ParseLogFormat(const std::string& name) {
  if (name.empty() || name == "text") return LogFormat::kText;
  if (name == "json") return LogFormat::kJson;
  return absl::InvalidArgumentError(
      absl::StrCat("--log_format: '", name, "' is not one of text, json"));
}

absl::Status InitLogging(const std::string& level, LogFormat format,
                         std::shared_ptr<spdlog::sinks::sink> sink) {
  const spdlog::level::level_enum parsed = spdlog::level::from_str(level);
  // spdlog maps unknown names to `off`; only "off" itself may mean that.
  if (parsed == spdlog::level::off && level != "off") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown log level '", level,
                     "': expected one of trace, debug, info, warn, error, off"));
  }
  if (sink == nullptr) sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  sink->set_formatter(std::make_unique<LineFormatter>(format));
  auto logger = std::make_shared<spdlog::logger>("", std::move(sink));
  logger->set_level(parsed);
  spdlog::set_default_logger(std::move(logger));
  return absl::OkStatus();
}

std::shared_ptr<spdlog::logger> LibraryLogger(const std::string& library) {
  const std::shared_ptr<spdlog::logger> project = spdlog::default_logger();
  auto logger =
      std::make_shared<spdlog::logger>(library, project->sinks().begin(), project->sinks().end());
  // Shared sinks already carry the line format; the level follows the project's.
  logger->set_level(project->level());
  return logger;
}

}  // namespace cohort
