#include "server/core/upload_budget.h"

#include <catch2/catch.hpp>

namespace cohort::server {
namespace {

TEST_CASE("UploadBudget_RefusesWhatDoesNotFitBesideTheReservations") {
  UploadBudget budget(100);
  CHECK(budget.TryReserve(60));
  CHECK(budget.TryReserve(40));
  CHECK_FALSE(budget.TryReserve(1));
  CHECK(budget.refusals() == 1);
  budget.Release(40);
  CHECK(budget.reserved() == 60);
  CHECK_FALSE(budget.TryReserve(41));
  CHECK(budget.TryReserve(40));
  CHECK(budget.reserved() == 100);
}

TEST_CASE("UploadBudget_AnInputLargerThanTheBudgetGoesThroughAlone") {
  UploadBudget budget(100);
  CHECK(budget.TryReserve(500));  // nothing reserved: one device can always make progress
  CHECK_FALSE(budget.TryReserve(1));
  budget.Release(500);
  CHECK(budget.TryReserve(1));
}

TEST_CASE("UploadBudget_ZeroCapacityMeansNoLimit") {
  UploadBudget budget(0);
  for (int i = 0; i < 1000; ++i) REQUIRE(budget.TryReserve(1 << 20));
  CHECK(budget.refusals() == 0);
}

}  // namespace
}  // namespace cohort::server
