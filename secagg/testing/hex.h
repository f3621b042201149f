#ifndef COHORT_SECAGG_TESTING_HEX_H_
#define COHORT_SECAGG_TESTING_HEX_H_

// Hex helpers for known-answer tests.

#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"

namespace cohort::secagg {

inline std::string FromHex(absl::string_view hex) { return absl::HexStringToBytes(hex); }
inline std::string ToHex(absl::string_view bytes) { return absl::BytesToHexString(bytes); }

}  // namespace cohort::secagg

#endif  // COHORT_SECAGG_TESTING_HEX_H_
