#include "base/logging.h"

#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "catch2/catch.hpp"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "spdlog/sinks/ostream_sink.h"

namespace cohort {
namespace {

// Points the process-wide logger at a string for the test's duration.
class CapturedLog {
 public:
  CapturedLog()
      : previous_(spdlog::default_logger()),
        sink_(std::make_shared<spdlog::sinks::ostream_sink_mt>(stream_)) {}
  ~CapturedLog() { spdlog::set_default_logger(previous_); }

  std::shared_ptr<spdlog::sinks::sink> sink() const { return sink_; }

  std::vector<std::string> Lines() const {
    return absl::StrSplit(stream_.str(), '\n', absl::SkipEmpty());
  }

 private:
  std::shared_ptr<spdlog::logger> previous_;
  std::ostringstream stream_;
  std::shared_ptr<spdlog::sinks::sink> sink_;
};

google::protobuf::Struct ParseJson(const std::string& line) {
  google::protobuf::Struct parsed;
  INFO(line);
  REQUIRE(google::protobuf::util::JsonStringToMessage(line, &parsed).ok());
  return parsed;
}

TEST_CASE("InitLogging_Json_TheProjectsLinesAreObjectsWithTheirFields") {
  CapturedLog log;
  REQUIRE(InitLogging("info", LogFormat::kJson, log.sink()).ok());
  COHORT_LOG_INFO("round committed task={} round={}", "mnist", 3);
  COHORT_LOG_DEBUG("not shown at info level={}", 1);
  const std::vector<std::string> lines = log.Lines();
  REQUIRE(lines.size() == 1);
  const auto fields = ParseJson(lines[0]).fields();
  CHECK(fields.at("msg").string_value() == "round committed");
  CHECK(fields.at("task").string_value() == "mnist");
  CHECK(fields.at("round").string_value() == "3");
  CHECK(fields.at("logger").string_value() == "cohort");
  CHECK(fields.at("source").string_value().starts_with("logging_test.cc:"));
  CHECK(fields.at("ts").string_value().ends_with("Z"));
}

TEST_CASE("InitLogging_Debug_DebugAndTraceLinesAreCompiledInAndFilteredAtRunTime") {
  CapturedLog log;
  REQUIRE(InitLogging("debug", LogFormat::kText, log.sink()).ok());
  COHORT_LOG_DEBUG("device failed device={}", 3);
  COHORT_LOG_TRACE("below the level n={}", 1);
  const std::vector<std::string> lines = log.Lines();
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].ends_with(" device failed device=3"));
}

TEST_CASE("LibraryLogger_WritesVerbatimLinesInTheSameFormatUnderItsName") {
  CapturedLog log;
  REQUIRE(InitLogging("info", LogFormat::kJson, log.sink()).ok());
  LibraryLogger("grpc")->error("connect failed status=14");
  const std::vector<std::string> lines = log.Lines();
  REQUIRE(lines.size() == 1);
  const auto fields = ParseJson(lines[0]).fields();
  CHECK(fields.at("logger").string_value() == "grpc");
  CHECK(fields.at("level").string_value() == "error");
  CHECK(fields.at("msg").string_value() == "connect failed status=14");
}

TEST_CASE("InitLogging_Text_LinesCarryTheZone") {
  CapturedLog log;
  REQUIRE(InitLogging("info", LogFormat::kText, log.sink()).ok());
  COHORT_LOG_WARN("store slow ms={}", 250);
  const std::vector<std::string> lines = log.Lines();
  REQUIRE(lines.size() == 1);
  // 2026-12-02T16:11:36.123Z W <thread> store slow ms=250
  const std::vector<std::string> words = absl::StrSplit(lines[0], ' ');
  REQUIRE(words.size() == 6);
  CHECK(words[0].size() == 24);
  CHECK(words[0].back() == 'Z');
  CHECK(words[1] == "W");
  CHECK(lines[0].ends_with(" store slow ms=250"));
}

TEST_CASE("InitLogging_UnknownLevelIsRefusedByName") {
  const absl::Status status = InitLogging("loud");
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(status.message()).find("'loud'") != std::string::npos);
}

}  // namespace
}  // namespace cohort
