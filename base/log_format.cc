#include "base/log_format.h"

#include <cstdint>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace cohort {
namespace {

bool IsKeyStart(char c) { return absl::ascii_isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IsKeyChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.';
}

// If a key followed by '=' starts at `pos` (which is 0 or follows a space), returns the
// position of the '='; otherwise npos.
size_t KeyEndAt(absl::string_view text, size_t pos) {
  if (pos >= text.size() || !IsKeyStart(text[pos])) return absl::string_view::npos;
  size_t i = pos + 1;
  while (i < text.size() && IsKeyChar(text[i])) ++i;
  return i < text.size() && text[i] == '=' ? i : absl::string_view::npos;
}

// The next position at or after `from` where a key begins: 0 or just after a space.
size_t NextKey(absl::string_view text, size_t from) {
  for (size_t i = from; i < text.size(); ++i) {
    if ((i == 0 || text[i - 1] == ' ') && KeyEndAt(text, i) != absl::string_view::npos) return i;
  }
  return absl::string_view::npos;
}

absl::string_view Trimmed(absl::string_view text) { return absl::StripAsciiWhitespace(text); }

// Length of the well-formed UTF-8 sequence at `i` (RFC 3629: no overlongs, no surrogates,
// nothing above U+10FFFF), or 0 if the bytes there are not one.
size_t Utf8SequenceLength(absl::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t lead = byte(i);
  if (lead < 0x80) return 1;
  size_t length;
  uint8_t second_min = 0x80, second_max = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) second_min = 0xA0;
    if (lead == 0xED) second_max = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) second_min = 0x90;
    if (lead == 0xF4) second_max = 0x8F;
  } else {
    return 0;
  }
  if (i + length > s.size()) return 0;
  if (byte(i + 1) < second_min || byte(i + 1) > second_max) return 0;
  for (size_t k = 2; k < length; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return length;
}

void AppendJsonField(absl::string_view name, absl::string_view value, std::string& out) {
  out += ",\"";
  AppendJsonEscaped(name, out);
  out += "\":\"";
  AppendJsonEscaped(value, out);
  out += '"';
}

std::string Rfc3339Utc(absl::Time time, const char* fraction) {
  return absl::FormatTime(absl::StrCat("%Y-%m-%dT%H:%M:%", fraction, "SZ"), time,
                          absl::UTCTimeZone());
}

}  // namespace

LogMessageParts SplitLogMessage(absl::string_view message) {
  LogMessageParts parts;
  size_t key = NextKey(message, 0);
  parts.sentence = std::string(Trimmed(message.substr(0, key)));
  while (key != absl::string_view::npos) {
    const size_t equals = KeyEndAt(message, key);
    const size_t next = NextKey(message, equals + 1);
    const absl::string_view value =
        message.substr(equals + 1, next == absl::string_view::npos ? next : next - equals - 1);
    parts.fields.emplace_back(std::string(message.substr(key, equals - key)),
                              std::string(Trimmed(value)));
    key = next;
  }
  return parts;
}

void AppendJsonEscaped(absl::string_view text, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      const size_t length = Utf8SequenceLength(text, i);
      if (length == 0) {
        out += "\\ufffd";
        ++i;
      } else {
        out.append(text.data() + i, length);
        i += length;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xf];
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
}

std::string JsonLogLine(const LogRecord& record) {
  std::string out = "{\"ts\":\"";
  out += Rfc3339Utc(record.time, "E6");
  out += '"';
  AppendJsonField("level", record.level, out);
  AppendJsonField("logger", record.logger, out);
  absl::StrAppend(&out, ",\"thread\":", record.thread);
  absl::flat_hash_set<std::string> taken = {"ts", "level", "logger", "thread", "msg"};
  if (!record.source.empty()) {
    AppendJsonField("source", record.source, out);
    taken.insert("source");
  }
  if (!record.structured) {
    AppendJsonField("msg", record.message, out);
    out += '}';
    return out;
  }
  const LogMessageParts parts = SplitLogMessage(record.message);
  AppendJsonField("msg", parts.sentence, out);
  for (const auto& [name, value] : parts.fields) {
    std::string unique = name;
    for (int suffix = 2; taken.contains(unique); ++suffix) unique = absl::StrCat(name, "_", suffix);
    taken.insert(unique);
    AppendJsonField(unique, value, out);
  }
  out += '}';
  return out;
}

std::string TextLogLine(const LogRecord& record) {
  const char initial =
      record.level.empty() ? '?' : absl::ascii_toupper(static_cast<unsigned char>(record.level[0]));
  std::string out = absl::StrCat(Rfc3339Utc(record.time, "E3"), " ", std::string(1, initial), " ",
                                 record.thread, " ");
  if (!record.structured) absl::StrAppend(&out, record.logger, ": ");
  out.append(record.message.data(), record.message.size());
  return out;
}

}  // namespace cohort
