#ifndef COHORT_TOOLS_OUTPUT_FORMAT_H_
#define COHORT_TOOLS_OUTPUT_FORMAT_H_

// How cohortctl prints admin API answers: aligned tables for people (the default, as kubectl
// does), JSON and YAML for scripts, protobuf text for debugging. Pure functions of the
// messages; times are ISO 8601 in UTC.

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "cohort/v1/admin.pb.h"
#include "google/protobuf/message.h"
#include "google/protobuf/timestamp.pb.h"

namespace cohort::ctl {

enum class OutputFormat { kTable, kJson, kYaml, kText };

// "table", "json", "yaml" or "text"; anything else is INVALID_ARGUMENT naming the choices.
absl::StatusOr<OutputFormat> ParseOutputFormat(std::string_view name);

// "2026-12-02T02:20:03Z" (fractions of a second dropped); "-" when unset.
std::string IsoTime(const google::protobuf::Timestamp& time);

// One row per task; "No tasks." when there are none.
std::string TasksTable(const cohort::v1::ListTasksResponse& tasks);
// One task as "field: value" lines, its round in flight included.
std::string TaskDetail(const cohort::v1::Task& task);
// One row per round, newest first as the server sends them; "No rounds." when there are none.
std::string RoundsTable(const cohort::v1::ListRoundsResponse& rounds);
// One line per event, for `watch`.
std::string EventLine(const cohort::v1::RoundEvent& event);

// Every set field, nested messages indented, enums by name, Timestamps as IsoTime, bytes in
// base64. Strings are always quoted, so a value never changes type on the way into YAML.
std::string ToYaml(const google::protobuf::Message& message);

// `message` in `format`; kTable uses the table or detail view of its type when it has one and
// YAML otherwise.
std::string Render(const google::protobuf::Message& message, OutputFormat format);

}  // namespace cohort::ctl

#endif  // COHORT_TOOLS_OUTPUT_FORMAT_H_
