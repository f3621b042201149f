#ifndef COHORT_SERVER_STORE_CONNECTION_STRING_H_
#define COHORT_SERVER_STORE_CONNECTION_STRING_H_

#include <string>

#include "absl/strings/string_view.h"

namespace cohort::server {

// `conninfo` (a postgresql:// URI or a libpq key=value string, or anything else) with every
// password replaced by "***": the password of a URI's user-info, a `password=` query parameter
// and a `password=` key=value entry. For messages and logs, which must never carry one.
std::string RedactConnectionString(absl::string_view conninfo);

}  // namespace cohort::server

#endif  // COHORT_SERVER_STORE_CONNECTION_STRING_H_
