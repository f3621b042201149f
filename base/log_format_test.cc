#include "base/log_format.h"

#include <string>

#include "catch2/catch.hpp"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace cohort {
namespace {

using google::protobuf::Struct;

// Parses with protobuf's JSON parser: an independent, strict reader of what we write.
Struct ParseJson(const std::string& line) {
  Struct parsed;
  const auto status = google::protobuf::util::JsonStringToMessage(line, &parsed);
  INFO(line);
  REQUIRE(status.ok());
  return parsed;
}

std::string StringField(const Struct& s, const std::string& name) {
  INFO(name);
  REQUIRE(s.fields().contains(name));
  return s.fields().at(name).string_value();
}

LogRecord Record(absl::string_view message) {
  return LogRecord{.time = absl::FromUnixMicros(1796227896123456),  // 2026-12-02T16:11:36.123456Z
                   .level = "info",
                   .logger = "cohort",
                   .thread = 4242,
                   .source = "round.cc:17",
                   .message = message};
}

TEST_CASE("SplitLogMessage_SentenceThenKeyValuePairsInOrder") {
  const LogMessageParts parts = SplitLogMessage("round committed task=mnist round=3 survivors=97");
  CHECK(parts.sentence == "round committed");
  using Field = std::pair<std::string, std::string>;
  CHECK(parts.fields == std::vector<Field>{{"task", "mnist"}, {"round", "3"}, {"survivors", "97"}});
}

TEST_CASE("SplitLogMessage_ValueRunsToTheNextKeySoItMayHoldSpaces") {
  const LogMessageParts parts =
      SplitLogMessage("device refused status=INVALID_ARGUMENT: chunk 3 of 2 phase=UPLOAD");
  REQUIRE(parts.fields.size() == 2);
  CHECK(parts.fields[0].second == "INVALID_ARGUMENT: chunk 3 of 2");
  CHECK(parts.fields[1] == std::pair<std::string, std::string>{"phase", "UPLOAD"});
}

TEST_CASE("SplitLogMessage_WithoutKeysIsAllSentence_AndEqualsInsideAWordIsNoKey") {
  CHECK(SplitLogMessage("stopped").fields.empty());
  CHECK(SplitLogMessage("stopped").sentence == "stopped");
  const LogMessageParts parts = SplitLogMessage("expected a == b, 1=x -k=v x+y=z");
  CHECK(parts.fields.empty());
  CHECK(parts.sentence == "expected a == b, 1=x -k=v x+y=z");
  const LogMessageParts first = SplitLogMessage("key=value at start");
  CHECK(first.sentence.empty());
  CHECK(first.fields[0] == std::pair<std::string, std::string>{"key", "value at start"});
}

TEST_CASE("JsonLogLine_FieldsAreTopLevelStringsBesideTimeLevelAndSource") {
  const Struct line = ParseJson(JsonLogLine(Record("round committed task=mnist round=3")));
  CHECK(StringField(line, "ts") == "2026-12-02T16:11:36.123456Z");
  CHECK(StringField(line, "level") == "info");
  CHECK(StringField(line, "logger") == "cohort");
  CHECK(line.fields().at("thread").number_value() == 4242);
  CHECK(StringField(line, "source") == "round.cc:17");
  CHECK(StringField(line, "msg") == "round committed");
  CHECK(StringField(line, "task") == "mnist");
  CHECK(StringField(line, "round") == "3");
  CHECK(line.fields().size() == 8);
}

TEST_CASE("JsonLogLine_ReservedOrRepeatedNamesGetASuffixInsteadOfADuplicateKey") {
  const std::string text = JsonLogLine(Record("odd msg=hello level=x level=y"));
  const Struct line = ParseJson(text);
  CHECK(StringField(line, "msg") == "odd");
  CHECK(StringField(line, "msg_2") == "hello");
  CHECK(StringField(line, "level") == "info");
  CHECK(StringField(line, "level_2") == "x");
  CHECK(StringField(line, "level_3") == "y");
}

TEST_CASE("JsonLogLine_QuotesControlBytesAndInvalidUtf8StayValidJson") {
  const std::string nasty = "say \"hi\"\\ \n\t\x01 caf\xc3\xa9 bad=\xff\xc0\xaf\xed\xa0\x80 ok";
  const Struct line = ParseJson(JsonLogLine(Record(nasty)));
  CHECK(StringField(line, "msg") == "say \"hi\"\\ \n\t\x01 caf\xc3\xa9");
  // Each byte of a non-character (0xff), an overlong (c0 af) and a surrogate (ed a0 80) is one
  // replacement character; nothing of them passes through.
  CHECK(StringField(line, "bad") ==
        "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd ok");
}

TEST_CASE("JsonLogLine_ALibrarysLineIsKeptVerbatim") {
  LogRecord record = Record("connect failed: status=14 peer=ipv4:127.0.0.1:1");
  record.logger = "grpc";
  record.structured = false;
  const Struct line = ParseJson(JsonLogLine(record));
  CHECK(StringField(line, "logger") == "grpc");
  CHECK(StringField(line, "msg") == "connect failed: status=14 peer=ipv4:127.0.0.1:1");
  CHECK_FALSE(line.fields().contains("status"));
}

TEST_CASE("TextLogLine_UtcTimeWithZoneLevelInitialThreadMessage") {
  CHECK(TextLogLine(Record("round committed task=t")) ==
        "2026-12-02T16:11:36.123Z I 4242 round committed task=t");
  LogRecord record = Record("socket closed");
  record.logger = "grpc";
  record.level = "error";
  record.structured = false;
  CHECK(TextLogLine(record) == "2026-12-02T16:11:36.123Z E 4242 grpc: socket closed");
}

}  // namespace
}  // namespace cohort
