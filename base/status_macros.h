#ifndef COHORT_BASE_STATUS_MACROS_H_
#define COHORT_BASE_STATUS_MACROS_H_

// Abseil 20220623 (Debian 12) has no status_macros.h; these are the two we use everywhere.
//
//   COHORT_RETURN_IF_ERROR(DoThing());
//   COHORT_ASSIGN_OR_RETURN(auto value, ComputeValue());
//   COHORT_ASSIGN_OR_RETURN(existing_variable, ComputeValue());

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define COHORT_RETURN_IF_ERROR(expr)                  \
  do {                                                \
    ::absl::Status cohort_status_ = (expr);           \
    if (!cohort_status_.ok()) return cohort_status_;  \
  } while (false)

#define COHORT_STATUS_CONCAT_INNER_(a, b) a##b
#define COHORT_STATUS_CONCAT_(a, b) COHORT_STATUS_CONCAT_INNER_(a, b)

#define COHORT_ASSIGN_OR_RETURN(lhs, expr) \
  COHORT_ASSIGN_OR_RETURN_IMPL_(COHORT_STATUS_CONCAT_(cohort_statusor_, __LINE__), lhs, expr)

#define COHORT_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                  \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()

#endif  // COHORT_BASE_STATUS_MACROS_H_
