#include "base/status_macros.h"

#include <catch2/catch.hpp>

namespace cohort {
namespace {

absl::StatusOr<int> Half(int x) {
  if (x % 2 != 0) return absl::InvalidArgumentError("odd");
  return x / 2;
}

absl::StatusOr<int> Quarter(int x) {
  COHORT_ASSIGN_OR_RETURN(const int half, Half(x));
  COHORT_ASSIGN_OR_RETURN(int quarter, Half(half));
  return quarter;
}

absl::Status CheckEven(int x) {
  COHORT_RETURN_IF_ERROR(Half(x).status());
  return absl::OkStatus();
}

TEST_CASE("AssignOrReturn_PropagatesFirstError") {
  CHECK(*Quarter(8) == 2);
  CHECK(Quarter(6).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Quarter(3).status().message() == "odd");
}

TEST_CASE("ReturnIfError_ReturnsOkOnlyWhenInnerIsOk") {
  CHECK(CheckEven(4).ok());
  CHECK(CheckEven(5).code() == absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cohort
