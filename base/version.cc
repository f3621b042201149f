#include "base/version.h"

namespace cohort {

// Defined for this file only, so a version bump recompiles one file.
const char* Version() { return COHORT_VERSION; }

}  // namespace cohort
