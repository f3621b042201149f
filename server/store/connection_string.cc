#include "server/store/connection_string.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace cohort::server {
namespace {

// scheme://user:password@host... -> scheme://user:***@host...
std::string RedactUserInfo(absl::string_view spec) {
  const size_t scheme = spec.find("://");
  if (scheme == absl::string_view::npos) return std::string(spec);
  const size_t authority = scheme + 3;
  const size_t end = spec.find_first_of("/?#", authority);
  const size_t at = spec.rfind('@', end == absl::string_view::npos ? spec.size() : end);
  if (at == absl::string_view::npos || at < authority) return std::string(spec);
  const size_t colon = spec.find(':', authority);
  if (colon == absl::string_view::npos || colon > at) return std::string(spec);
  return absl::StrCat(spec.substr(0, colon + 1), "***", spec.substr(at));
}

// ...password=secret... (a query parameter or a key=value entry) -> ...password=***...
std::string RedactPasswordEntries(const std::string& spec) {
  std::string out;
  size_t i = 0;
  while (i < spec.size()) {
    const bool at_boundary = i == 0 || spec[i - 1] == '?' || spec[i - 1] == '&' ||
                             absl::ascii_isspace(static_cast<unsigned char>(spec[i - 1]));
    if (!at_boundary ||
        !absl::StartsWithIgnoreCase(absl::string_view(spec).substr(i), "password")) {
      out.push_back(spec[i++]);
      continue;
    }
    size_t j = i + 8;
    while (j < spec.size() && spec[j] == ' ') ++j;
    if (j >= spec.size() || spec[j] != '=') {
      out.push_back(spec[i++]);
      continue;
    }
    ++j;
    while (j < spec.size() && spec[j] == ' ') ++j;
    // The value: a quoted string (libpq's key=value form, with \' escapes) or up to a separator.
    if (j < spec.size() && spec[j] == '\'') {
      ++j;
      while (j < spec.size() && spec[j] != '\'') j += spec[j] == '\\' ? 2 : 1;
      j = std::min(spec.size(), j + 1);
    } else {
      while (j < spec.size() && spec[j] != '&' && spec[j] != '#' &&
             !absl::ascii_isspace(static_cast<unsigned char>(spec[j]))) {
        ++j;
      }
    }
    absl::StrAppend(&out, spec.substr(i, 8), "=***");
    i = j;
  }
  return out;
}

}  // namespace

std::string RedactConnectionString(absl::string_view conninfo) {
  return RedactPasswordEntries(RedactUserInfo(conninfo));
}

}  // namespace cohort::server
