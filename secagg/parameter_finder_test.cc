#include "secagg/parameter_finder.h"

#include <catch2/catch.hpp>

namespace cohort::secagg {
namespace {

ParameterOptions Options(int32_t n, double dropout, double corrupt,
                         ThreatModel model = ThreatModel::kHonestButCurious) {
  ParameterOptions o;
  o.num_participants = n;
  o.dropout_rate = dropout;
  o.corrupted_fraction = corrupt;
  o.threat_model = model;
  return o;
}

TEST_CASE("FindParameters_PicksSparseGraphForLargeRounds") {
  auto p = FindParameters(Options(1000, 0.1, 0.05));
  REQUIRE(p.ok());
  CHECK_FALSE(p->complete_graph);
  CHECK(p->neighbour_degree % 2 == 0);
  CHECK(p->neighbour_degree < 200);
  CHECK(p->threshold >= 1);
  CHECK(p->threshold <= p->neighbour_degree);
  CHECK(p->log2_security_failure <= -40);
  CHECK(p->log2_correctness_failure <= -20);
}

TEST_CASE("FindParameters_SemiMaliciousThresholdExceedsHalfTheDegree") {
  auto hbc = *FindParameters(Options(1000, 0.1, 0.05));
  auto sm = FindParameters(Options(1000, 0.1, 0.05, ThreatModel::kSemiMalicious));
  REQUIRE(sm.ok());
  CHECK(2 * sm->threshold > sm->neighbour_degree);
  CHECK(sm->neighbour_degree >= hbc.neighbour_degree);
}

TEST_CASE("FindParameters_DegreeGrowsWithRiskAndSecurity") {
  auto low = *FindParameters(Options(10000, 0.05, 0.01));
  auto high = *FindParameters(Options(10000, 0.3, 0.1));
  CHECK(high.neighbour_degree > low.neighbour_degree);
  ParameterOptions strict = Options(10000, 0.05, 0.01);
  strict.security_bits = 80;
  CHECK(FindParameters(strict)->neighbour_degree > low.neighbour_degree);
}

TEST_CASE("FindParameters_FallsBackToCompleteGraphForSmallRounds") {
  auto p = FindParameters(Options(10, 0.1, 0.1));
  REQUIRE(p.ok());
  CHECK(p->complete_graph);
  CHECK(p->neighbour_degree == 9);
  CHECK(p->threshold == 2);  // one corrupted device: t > 1
}

TEST_CASE("FindParameters_RefusesImpossibleSettingsNamingTheNumbers") {
  auto p = FindParameters(Options(20, 0.6, 0.4, ThreatModel::kSemiMalicious));
  CHECK(p.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(p.status().message().find("n = 20") != absl::string_view::npos);
  CHECK(FindParameters(Options(2, 0.1, 0.1)).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(FindParameters(Options(100, 1.0, 0.1)).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(FindParameters(Options(100, 0.1, -0.1)).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cohort::secagg
