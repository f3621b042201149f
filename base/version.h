#ifndef COHORT_BASE_VERSION_H_
#define COHORT_BASE_VERSION_H_

namespace cohort {

// The project's version ("0.1.0"), from CMake's project(VERSION): what --version and the
// cohort_build_info metric report.
const char* Version();

}  // namespace cohort

#endif  // COHORT_BASE_VERSION_H_
