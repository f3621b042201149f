#include "tools/output_format.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"

namespace cohort::ctl {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Enum names without their type's prefix: TASK_STATE_RUNNING -> RUNNING.
std::string Short(const std::string& name, std::string_view prefix) {
  return name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
}
std::string StateName(cohort::v1::TaskState state) {
  return Short(cohort::v1::TaskState_Name(state), "TASK_STATE_");
}
std::string PhaseName(cohort::v1::RoundPhase phase) {
  return Short(cohort::v1::RoundPhase_Name(phase), "ROUND_PHASE_");
}

// Columns padded to their widest cell, two spaces apart, the header in capitals.
std::string Table(const std::vector<std::string>& header,
                  const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size());
  for (size_t c = 0; c < header.size(); ++c) width[c] = header[c].size();
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    std::string text;
    for (size_t c = 0; c < cells.size(); ++c) {
      absl::StrAppend(&text, cells[c]);
      if (c + 1 < cells.size()) text.append(width[c] - cells[c].size() + 2, ' ');
    }
    text.erase(text.find_last_not_of(' ') + 1);  // an empty last cell leaves no trailing blanks
    absl::StrAppend(&out, text, "\n");
  };
  line(header);
  for (const auto& row : rows) line(row);
  return out;
}

std::string RoundCell(const cohort::v1::Task& task) {
  if (!task.has_current_round()) return "-";
  return absl::StrCat(task.current_round().round_number(), " ",
                      PhaseName(task.current_round().phase()));
}

// A YAML double-quoted scalar: its own escapes for quotes, backslashes and control bytes;
// UTF-8 passes through (CEscape's octal and \' escapes are not YAML).
std::string Quoted(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    const auto byte = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (byte < 0x20 || byte == 0x7f) {
          absl::StrAppend(&out, absl::StrFormat("\\x%02x", byte));
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

// The shortest decimal that reads back as the same double; YAML's names for the rest.
template <typename Float>
std::string Number(Float value) {
  if (std::isnan(value)) return ".nan";
  if (std::isinf(value)) return value > 0 ? ".inf" : "-.inf";
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

void AppendYaml(const Message& message, int indent, std::string* out);

std::string ScalarYaml(const Message& message, const FieldDescriptor* field, int index) {
  const Reflection* r = message.GetReflection();
  const bool repeated = field->is_repeated();
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return absl::StrCat(repeated ? r->GetRepeatedInt32(message, field, index)
                                   : r->GetInt32(message, field));
    case FieldDescriptor::CPPTYPE_INT64:
      return absl::StrCat(repeated ? r->GetRepeatedInt64(message, field, index)
                                   : r->GetInt64(message, field));
    case FieldDescriptor::CPPTYPE_UINT32:
      return absl::StrCat(repeated ? r->GetRepeatedUInt32(message, field, index)
                                   : r->GetUInt32(message, field));
    case FieldDescriptor::CPPTYPE_UINT64:
      return absl::StrCat(repeated ? r->GetRepeatedUInt64(message, field, index)
                                   : r->GetUInt64(message, field));
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return Number(repeated ? r->GetRepeatedDouble(message, field, index)
                             : r->GetDouble(message, field));
    case FieldDescriptor::CPPTYPE_FLOAT:
      return Number(repeated ? r->GetRepeatedFloat(message, field, index)
                             : r->GetFloat(message, field));  // float's shortest, not double's
    case FieldDescriptor::CPPTYPE_BOOL:
      return (repeated ? r->GetRepeatedBool(message, field, index) : r->GetBool(message, field))
                 ? "true"
                 : "false";
    case FieldDescriptor::CPPTYPE_ENUM:
      return (repeated ? r->GetRepeatedEnum(message, field, index) : r->GetEnum(message, field))
          ->name();
    case FieldDescriptor::CPPTYPE_STRING: {
      const std::string value = repeated ? r->GetRepeatedString(message, field, index)
                                         : r->GetString(message, field);
      return field->type() == FieldDescriptor::TYPE_BYTES ? Quoted(absl::Base64Escape(value))
                                                          : Quoted(value);
    }
    case FieldDescriptor::CPPTYPE_MESSAGE: break;
  }
  return "";
}

bool IsTimestamp(const FieldDescriptor* field) {
  return field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
         field->message_type()->full_name() == "google.protobuf.Timestamp";
}

std::string TimestampOf(const Message& m) {
  google::protobuf::Timestamp t;
  t.CopyFrom(m);
  return Quoted(IsoTime(t));
}

void AppendYaml(const Message& message, int indent, std::string* out) {
  const Reflection* r = message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(message, &fields);
  const std::string pad(indent, ' ');
  for (const FieldDescriptor* field : fields) {
    const bool is_message = field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE;
    if (!field->is_repeated()) {
      if (IsTimestamp(field)) {
        absl::StrAppend(out, pad, field->name(), ": ", TimestampOf(r->GetMessage(message, field)),
                        "\n");
      } else if (is_message) {
        absl::StrAppend(out, pad, field->name(), ":\n");
        AppendYaml(r->GetMessage(message, field), indent + 2, out);
      } else {
        absl::StrAppend(out, pad, field->name(), ": ", ScalarYaml(message, field, 0), "\n");
      }
      continue;
    }
    absl::StrAppend(out, pad, field->name(), ":\n");
    for (int i = 0; i < r->FieldSize(message, field); ++i) {
      if (IsTimestamp(field)) {
        absl::StrAppend(out, pad, "- ", TimestampOf(r->GetRepeatedMessage(message, field, i)),
                        "\n");
      } else if (is_message) {
        // "- " then the first field on the same line, the rest under it.
        std::string item;
        AppendYaml(r->GetRepeatedMessage(message, field, i), indent + 2, &item);
        if (item.empty()) {
          absl::StrAppend(out, pad, "- {}\n");
        } else {
          item.replace(indent, 2, "- ");
          absl::StrAppend(out, item);
        }
      } else {
        absl::StrAppend(out, pad, "- ", ScalarYaml(message, field, i), "\n");
      }
    }
  }
}

}  // namespace

absl::StatusOr<OutputFormat> ParseOutputFormat(std::string_view name) {
  if (name == "table") return OutputFormat::kTable;
  if (name == "json") return OutputFormat::kJson;
  if (name == "yaml") return OutputFormat::kYaml;
  if (name == "text") return OutputFormat::kText;
  return absl::InvalidArgumentError(
      absl::StrCat("-o '", std::string(name), "': expected table, json, yaml or text"));
}

std::string IsoTime(const google::protobuf::Timestamp& time) {
  if (time.seconds() == 0 && time.nanos() == 0) return "-";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(time.seconds()),
                          absl::UTCTimeZone());
}

std::string TasksTable(const cohort::v1::ListTasksResponse& tasks) {
  if (tasks.tasks().empty()) return "No tasks.\n";
  std::vector<std::vector<std::string>> rows;
  for (const cohort::v1::Task& t : tasks.tasks()) {
    rows.push_back({t.task_id(), t.config().population(), StateName(t.state()), RoundCell(t),
                    absl::StrCat(t.rounds_committed()), absl::StrCat(t.rounds_failed()),
                    t.continuous() ? "continuous" : absl::StrCat(t.rounds_remaining()),
                    absl::StrCat(t.latest_model_version()), IsoTime(t.created_at())});
  }
  return Table({"TASK", "POPULATION", "STATE", "ROUND", "COMMITTED", "FAILED", "REMAINING",
                "MODEL", "CREATED"},
               rows);
}

std::string TaskDetail(const cohort::v1::Task& t) {
  std::string out = absl::StrFormat(
      "task:       %s\npopulation: %s\nstate:      %s\ncreated:    %s\n"
      "rounds:     %d committed, %d failed, %s\nmodel:      version %d\n",
      t.task_id(), t.config().population(), StateName(t.state()), IsoTime(t.created_at()),
      t.rounds_committed(), t.rounds_failed(),
      t.continuous() ? std::string("continuous")
                     : absl::StrCat(t.rounds_remaining(), " remaining"),
      t.latest_model_version());
  if (t.evaluation_rounds_remaining() > 0) {
    absl::StrAppend(&out, "evaluation: ", t.evaluation_rounds_remaining(), " rounds remaining\n");
  }
  if (t.has_current_round()) {
    const cohort::v1::RoundSummary& r = t.current_round();
    absl::StrAppend(&out, "round:      ", r.round_number(), " ", PhaseName(r.phase()),
                    " since ", IsoTime(r.started_at()), ", ", r.selected(), " selected\n");
  } else {
    absl::StrAppend(&out, "round:      none in flight\n");
  }
  if (t.has_privacy()) {
    absl::StrAppend(&out, absl::StrFormat("privacy:    epsilon %.4f of %.4f spent (delta %.3g)\n",
                                          t.privacy().epsilon_spent(),
                                          t.privacy().epsilon_budget(), t.privacy().delta()));
  }
  return out;
}

std::string RoundsTable(const cohort::v1::ListRoundsResponse& rounds) {
  if (rounds.rounds().empty()) return "No rounds.\n";
  std::vector<std::vector<std::string>> rows;
  for (const cohort::v1::RoundSummary& r : rounds.rounds()) {
    std::string seconds = "-";
    if (r.has_started_at() && r.has_ended_at()) {
      const double s = (r.ended_at().seconds() - r.started_at().seconds()) +
                       (r.ended_at().nanos() - r.started_at().nanos()) * 1e-9;
      seconds = absl::StrFormat("%.1f", s);
    }
    rows.push_back({absl::StrCat(r.round_number()), PhaseName(r.phase()),
                    absl::StrCat(r.selected()), absl::StrCat(r.contributors()),
                    absl::StrCat(r.dropouts()),
                    r.new_model_version() > 0 ? absl::StrCat(r.new_model_version()) : "-",
                    IsoTime(r.started_at()), seconds,
                    r.has_evaluation() ? absl::StrFormat("%.4f", r.evaluation().accuracy()) : "-",
                    r.failure_reason().empty() ? "" : r.failure_reason()});
  }
  return Table({"ROUND", "PHASE", "SELECTED", "CONTRIBUTORS", "DROPOUTS", "MODEL", "STARTED",
                "SECONDS", "FED_ACCURACY", "FAILURE"},
               rows);
}

std::string EventLine(const cohort::v1::RoundEvent& e) {
  std::string line = absl::StrCat(IsoTime(e.time()), "  ", e.task_id(), "  ",
                                  Short(cohort::v1::RoundEvent::Kind_Name(e.kind()), "KIND_"));
  if (e.round_number() > 0) {
    absl::StrAppend(&line, "  round ", e.round_number(), " ", PhaseName(e.phase()));
  }
  if (!e.message().empty()) absl::StrAppend(&line, "  ", e.message());
  return line + "\n";
}

std::string ToYaml(const Message& message) {
  std::string out;
  AppendYaml(message, 0, &out);
  return out.empty() ? "{}\n" : out;
}

std::string Render(const Message& message, OutputFormat format) {
  switch (format) {
    case OutputFormat::kJson: {
      std::string out;
      google::protobuf::util::JsonPrintOptions options;
      options.add_whitespace = false;  // one object per line, as --json always printed
      (void)google::protobuf::util::MessageToJsonString(message, &out, options);
      return out;
    }
    case OutputFormat::kYaml: return ToYaml(message);
    case OutputFormat::kText: {
      std::string out;
      google::protobuf::TextFormat::PrintToString(message, &out);
      return out;
    }
    case OutputFormat::kTable: break;
  }
  if (const auto* tasks = dynamic_cast<const cohort::v1::ListTasksResponse*>(&message)) {
    return TasksTable(*tasks);
  }
  if (const auto* task = dynamic_cast<const cohort::v1::Task*>(&message)) return TaskDetail(*task);
  if (const auto* rounds = dynamic_cast<const cohort::v1::ListRoundsResponse*>(&message)) {
    return RoundsTable(*rounds);
  }
  if (const auto* event = dynamic_cast<const cohort::v1::RoundEvent*>(&message)) {
    return EventLine(*event);
  }
  return ToYaml(message);
}

}  // namespace cohort::ctl
