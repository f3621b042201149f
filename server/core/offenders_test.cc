#include "server/core/offenders.h"

#include <catch2/catch.hpp>

namespace cohort::server {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);

TEST_CASE("OffenderRegistry_SecondExclusionInTheWindowStartsACoolOff") {
  OffenderRegistry r({.strikes = 2, .window = absl::Hours(24), .cooloff = absl::Hours(6)});
  r.Record("bad", kStart);
  CHECK_FALSE(r.CoolingOffUntil("bad", kStart + absl::Minutes(1)).has_value());
  r.Record("bad", kStart + absl::Hours(1));
  auto until = r.CoolingOffUntil("bad", kStart + absl::Hours(2));
  REQUIRE(until.has_value());
  CHECK(*until == kStart + absl::Hours(7));
  CHECK_FALSE(r.CoolingOffUntil("bad", kStart + absl::Hours(7)).has_value());
  CHECK_FALSE(r.CoolingOffUntil("good", kStart + absl::Hours(2)).has_value());
}

TEST_CASE("OffenderRegistry_StrikesOutsideTheWindowDoNotAddUp") {
  OffenderRegistry r({.strikes = 2, .window = absl::Hours(24), .cooloff = absl::Hours(6)});
  r.Record("unlucky", kStart);
  r.Record("unlucky", kStart + absl::Hours(25));
  CHECK_FALSE(r.CoolingOffUntil("unlucky", kStart + absl::Hours(25)).has_value());
}

TEST_CASE("OffenderRegistry_ZeroStrikesTurnsItOffAndOldEntriesArePruned") {
  OffenderRegistry off({.strikes = 0});
  off.Record("x", kStart);
  off.Record("x", kStart);
  CHECK_FALSE(off.CoolingOffUntil("x", kStart).has_value());
  OffenderRegistry r({.strikes = 3, .window = absl::Hours(1), .cooloff = absl::Hours(1)});
  for (int i = 0; i < 50; ++i) r.Record("d" + std::to_string(i), kStart);
  CHECK(r.size() == 50);
  r.Record("late", kStart + absl::Hours(3));
  CHECK(r.size() == 1);
}

}  // namespace
}  // namespace cohort::server
