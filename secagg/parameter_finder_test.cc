#include "secagg/parameter_finder.h"

#include <cmath>
#include <limits>

#include <catch2/catch.hpp>

namespace cohort::secagg {
namespace {

constexpr ThreatModel kHbC = ThreatModel::kHonestButCurious;
constexpr ThreatModel kSM = ThreatModel::kSemiMalicious;

ParameterOptions Options(int32_t n, double dropout, double corrupt, ThreatModel model = kHbC) {
  ParameterOptions o;
  o.num_participants = n;
  o.dropout_rate = dropout;
  o.corrupted_fraction = corrupt;
  o.threat_model = model;
  return o;
}

// An independent evaluation of the finder's bounds: every hypergeometric term from lgamma,
// summed in log space, without the finder's incremental windows.
double LogChoose(double n, double k) {
  if (k < 0 || k > n) return -std::numeric_limits<double>::infinity();
  return std::lgamma(n + 1) - std::lgamma(k + 1) - std::lgamma(n - k + 1);
}

double Log2HypergeometricAtLeast(int64_t population, int64_t marked, int64_t draws, int64_t x) {
  double max = -std::numeric_limits<double>::infinity();
  std::vector<double> terms;
  for (int64_t y = std::max<int64_t>(x, 0); y <= std::min(marked, draws); ++y) {
    const double t = LogChoose(static_cast<double>(marked), static_cast<double>(y)) +
                     LogChoose(static_cast<double>(population - marked),
                               static_cast<double>(draws - y)) -
                     LogChoose(static_cast<double>(population), static_cast<double>(draws));
    terms.push_back(t);
    max = std::max(max, t);
  }
  if (terms.empty() || max == -std::numeric_limits<double>::infinity()) {
    return -std::numeric_limits<double>::infinity();
  }
  double sum = 0;
  for (double t : terms) sum += std::exp(t - max);
  return (max + std::log(sum)) / std::log(2.0);
}

struct Bounds {
  double log2_disconnect;
  double log2_threshold_event;
  double log2_round_fails;
};

Bounds IndependentBounds(const ParameterOptions& o, int64_t k, int64_t t) {
  const int64_t n = o.num_participants;
  const int64_t c = static_cast<int64_t>(std::floor(o.corrupted_fraction * n + 1e-9));
  const int64_t d = static_cast<int64_t>(std::floor(o.dropout_rate * n + 1e-9));
  const double log2n = std::log2(static_cast<double>(n));
  Bounds b;
  const int64_t bad = c + d;
  b.log2_disconnect = k > bad ? -std::numeric_limits<double>::infinity()
                              : log2n + std::log2(static_cast<double>(n - k - 1)) - 1 +
                                    (LogChoose(bad, k) - LogChoose(n, k)) / std::log(2.0);
  const int64_t breaking = o.threat_model == kSM ? 2 * t - k : t;
  b.log2_threshold_event = log2n + Log2HypergeometricAtLeast(n - 1, c, k, breaking);
  b.log2_round_fails = log2n + Log2HypergeometricAtLeast(n - 1, d, k, k - t + 1);
  return b;
}

// fcp's graph_parameter_finder (google-parfait/federated-compute, fcp/secagg/server) on the grid
// of issue 16, security 2^-40 and correctness 2^-20; its degree, or kRefused where it returns
// an error. Produced by building that finder outside this repository.
constexpr int32_t kRefused = -1;
struct FcpRow {
  ThreatModel model;
  int32_t n;
  double dropout;
  double corrupt;
  int32_t fcp_k;
};
constexpr FcpRow kFcpGrid[] = {
    {kHbC, 100, 0, 0, 2},
    {kHbC, 100, 0, 0.05, 6},
    {kHbC, 100, 0, 0.1, 12},
    {kHbC, 100, 0, 0.33, 26},
    {kHbC, 100, 0.05, 0, 6},
    {kHbC, 100, 0.05, 0.05, 12},
    {kHbC, 100, 0.05, 0.1, 16},
    {kHbC, 100, 0.05, 0.33, 34},
    {kHbC, 100, 0.1, 0, 12},
    {kHbC, 100, 0.1, 0.05, 16},
    {kHbC, 100, 0.1, 0.1, 22},
    {kHbC, 100, 0.1, 0.33, 42},
    {kHbC, 100, 0.33, 0, 26},
    {kHbC, 100, 0.33, 0.05, 28},
    {kHbC, 100, 0.33, 0.1, 36},
    {kHbC, 100, 0.33, 0.33, 68},
    {kHbC, 500, 0, 0, 2},
    {kHbC, 500, 0, 0.05, 14},
    {kHbC, 500, 0, 0.1, 18},
    {kHbC, 500, 0, 0.33, 34},
    {kHbC, 500, 0.05, 0, 14},
    {kHbC, 500, 0.05, 0.05, 28},
    {kHbC, 500, 0.05, 0.1, 32},
    {kHbC, 500, 0.05, 0.33, 70},
    {kHbC, 500, 0.1, 0, 18},
    {kHbC, 500, 0.1, 0.05, 32},
    {kHbC, 500, 0.1, 0.1, 42},
    {kHbC, 500, 0.1, 0.33, 90},
    {kHbC, 500, 0.33, 0, 34},
    {kHbC, 500, 0.33, 0.05, 64},
    {kHbC, 500, 0.33, 0.1, 86},
    {kHbC, 500, 0.33, 0.33, 214},
    {kHbC, 1000, 0, 0, 2},
    {kHbC, 1000, 0, 0.05, 14},
    {kHbC, 1000, 0, 0.1, 18},
    {kHbC, 1000, 0, 0.33, 38},
    {kHbC, 1000, 0.05, 0, 14},
    {kHbC, 1000, 0.05, 0.05, 30},
    {kHbC, 1000, 0.05, 0.1, 38},
    {kHbC, 1000, 0.05, 0.33, 78},
    {kHbC, 1000, 0.1, 0, 18},
    {kHbC, 1000, 0.1, 0.05, 36},
    {kHbC, 1000, 0.1, 0.1, 48},
    {kHbC, 1000, 0.1, 0.33, 102},
    {kHbC, 1000, 0.33, 0, 38},
    {kHbC, 1000, 0.33, 0.05, 72},
    {kHbC, 1000, 0.33, 0.1, 98},
    {kHbC, 1000, 0.33, 0.33, 286},
    {kHbC, 10000, 0, 0, 2},
    {kHbC, 10000, 0, 0.05, 16},
    {kHbC, 10000, 0, 0.1, 20},
    {kHbC, 10000, 0, 0.33, 42},
    {kHbC, 10000, 0.05, 0, 16},
    {kHbC, 10000, 0.05, 0.05, 34},
    {kHbC, 10000, 0.05, 0.1, 42},
    {kHbC, 10000, 0.05, 0.33, 92},
    {kHbC, 10000, 0.1, 0, 20},
    {kHbC, 10000, 0.1, 0.05, 42},
    {kHbC, 10000, 0.1, 0.1, 54},
    {kHbC, 10000, 0.1, 0.33, 126},
    {kHbC, 10000, 0.33, 0, 42},
    {kHbC, 10000, 0.33, 0.05, 86},
    {kHbC, 10000, 0.33, 0.1, 120},
    {kHbC, 10000, 0.33, 0.33, 422},
    {kHbC, 100000, 0, 0, 2},
    {kHbC, 100000, 0, 0.05, 18},
    {kHbC, 100000, 0, 0.1, 24},
    {kHbC, 100000, 0, 0.33, 46},
    {kHbC, 100000, 0.05, 0, 18},
    {kHbC, 100000, 0.05, 0.05, 36},
    {kHbC, 100000, 0.05, 0.1, 46},
    {kHbC, 100000, 0.05, 0.33, 102},
    {kHbC, 100000, 0.1, 0, 24},
    {kHbC, 100000, 0.1, 0.05, 46},
    {kHbC, 100000, 0.1, 0.1, 58},
    {kHbC, 100000, 0.1, 0.33, 138},
    {kHbC, 100000, 0.33, 0, 46},
    {kHbC, 100000, 0.33, 0.05, 96},
    {kHbC, 100000, 0.33, 0.1, 132},
    {kHbC, 100000, 0.33, 0.33, 480},
    {kHbC, 1000000, 0, 0, 2},
    {kHbC, 1000000, 0, 0.05, 20},
    {kHbC, 1000000, 0, 0.1, 26},
    {kHbC, 1000000, 0, 0.33, 50},
    {kHbC, 1000000, 0.05, 0, 20},
    {kHbC, 1000000, 0.05, 0.05, 38},
    {kHbC, 1000000, 0.05, 0.1, 50},
    {kHbC, 1000000, 0.05, 0.33, 110},
    {kHbC, 1000000, 0.1, 0, 26},
    {kHbC, 1000000, 0.1, 0.05, 50},
    {kHbC, 1000000, 0.1, 0.1, 64},
    {kHbC, 1000000, 0.1, 0.33, 150},
    {kHbC, 1000000, 0.33, 0, 50},
    {kHbC, 1000000, 0.33, 0.05, 102},
    {kHbC, 1000000, 0.33, 0.1, 144},
    {kHbC, 1000000, 0.33, 0.33, 518},
    {kSM, 100, 0, 0, 2},
    {kSM, 100, 0, 0.05, 6},
    {kSM, 100, 0, 0.1, 12},
    {kSM, 100, 0, 0.33, 26},
    {kSM, 100, 0.05, 0, 12},
    {kSM, 100, 0.05, 0.05, 16},
    {kSM, 100, 0.05, 0.1, 22},
    {kSM, 100, 0.05, 0.33, 42},
    {kSM, 100, 0.1, 0, 22},
    {kSM, 100, 0.1, 0.05, 26},
    {kSM, 100, 0.1, 0.1, 32},
    {kSM, 100, 0.1, 0.33, 54},
    {kSM, 100, 0.33, 0, 68},
    {kSM, 100, 0.33, 0.05, 72},
    {kSM, 100, 0.33, 0.1, 78},
    {kSM, 100, 0.33, 0.33, kRefused},
    {kSM, 500, 0, 0, 2},
    {kSM, 500, 0, 0.05, 14},
    {kSM, 500, 0, 0.1, 18},
    {kSM, 500, 0, 0.33, 34},
    {kSM, 500, 0.05, 0, 20},
    {kSM, 500, 0.05, 0.05, 44},
    {kSM, 500, 0.05, 0.1, 56},
    {kSM, 500, 0.05, 0.33, 112},
    {kSM, 500, 0.1, 0, 32},
    {kSM, 500, 0.1, 0.05, 66},
    {kSM, 500, 0.1, 0.1, 82},
    {kSM, 500, 0.1, 0.33, 168},
    {kSM, 500, 0.33, 0, 180},
    {kSM, 500, 0.33, 0.05, 254},
    {kSM, 500, 0.33, 0.1, 320},
    {kSM, 500, 0.33, 0.33, kRefused},
    {kSM, 1000, 0, 0, 2},
    {kSM, 1000, 0, 0.05, 14},
    {kSM, 1000, 0, 0.1, 18},
    {kSM, 1000, 0, 0.33, 38},
    {kSM, 1000, 0.05, 0, 22},
    {kSM, 1000, 0.05, 0.05, 52},
    {kSM, 1000, 0.05, 0.1, 66},
    {kSM, 1000, 0.05, 0.33, 132},
    {kSM, 1000, 0.1, 0, 36},
    {kSM, 1000, 0.1, 0.05, 78},
    {kSM, 1000, 0.1, 0.1, 96},
    {kSM, 1000, 0.1, 0.33, 218},
    {kSM, 1000, 0.33, 0, 228},
    {kSM, 1000, 0.33, 0.05, 398},
    {kSM, 1000, 0.33, 0.1, 524},
    {kSM, 1000, 0.33, 0.33, kRefused},
    {kSM, 10000, 0, 0, 2},
    {kSM, 10000, 0, 0.05, 16},
    {kSM, 10000, 0, 0.1, 20},
    {kSM, 10000, 0, 0.33, 42},
    {kSM, 10000, 0.05, 0, 26},
    {kSM, 10000, 0.05, 0.05, 62},
    {kSM, 10000, 0.05, 0.1, 80},
    {kSM, 10000, 0.05, 0.33, 178},
    {kSM, 10000, 0.1, 0, 42},
    {kSM, 10000, 0.1, 0.05, 96},
    {kSM, 10000, 0.1, 0.1, 122},
    {kSM, 10000, 0.1, 0.33, 310},
    {kSM, 10000, 0.33, 0, 326},
    {kSM, 10000, 0.33, 0.05, 746},
    {kSM, 10000, 0.33, 0.1, 1180},
    {kSM, 10000, 0.33, 0.33, kRefused},
    {kSM, 100000, 0, 0, 2},
    {kSM, 100000, 0, 0.05, 18},
    {kSM, 100000, 0, 0.1, 24},
    {kSM, 100000, 0, 0.33, 46},
    {kSM, 100000, 0.05, 0, 30},
    {kSM, 100000, 0.05, 0.05, 68},
    {kSM, 100000, 0.05, 0.1, 88},
    {kSM, 100000, 0.05, 0.33, 196},
    {kSM, 100000, 0.1, 0, 46},
    {kSM, 100000, 0.1, 0.05, 106},
    {kSM, 100000, 0.1, 0.1, 134},
    {kSM, 100000, 0.1, 0.33, 348},
    {kSM, 100000, 0.33, 0, 372},
    {kSM, 100000, 0.33, 0.05, 882},
    {kSM, 100000, 0.33, 0.1, 1454},
    {kSM, 100000, 0.33, 0.33, kRefused},
    {kSM, 1000000, 0, 0, 2},
    {kSM, 1000000, 0, 0.05, 20},
    {kSM, 1000000, 0, 0.1, 26},
    {kSM, 1000000, 0, 0.33, 50},
    {kSM, 1000000, 0.05, 0, 32},
    {kSM, 1000000, 0.05, 0.05, 74},
    {kSM, 1000000, 0.05, 0.1, 94},
    {kSM, 1000000, 0.05, 0.33, 212},
    {kSM, 1000000, 0.1, 0, 52},
    {kSM, 1000000, 0.1, 0.05, 114},
    {kSM, 1000000, 0.1, 0.1, 146},
    {kSM, 1000000, 0.1, 0.33, 380},
    {kSM, 1000000, 0.33, 0, 410},
    {kSM, 1000000, 0.33, 0.05, 970},
    {kSM, 1000000, 0.33, 0.1, 1610},
    {kSM, 1000000, 0.33, 0.33, kRefused},
};

// Where our degree is 2 above fcp's; docs/secagg.md#against-fcps-finder gives the reason for each:
// fcp draws a device's neighbours from a population of n that includes the device itself (one
// honest survivor too many), and at (100, 0.05, 0) it checks correctness before raising t to 2.
bool LargerThanFcpForAReason(const FcpRow& r) {
  return (r.model == kHbC && r.n == 100 && r.dropout == 0.05 && r.corrupt == 0) ||
         (r.model == kSM && r.n == 500 && r.dropout == 0.33 &&
          (r.corrupt == 0.05 || r.corrupt == 0.1)) ||
         (r.model == kSM && r.n == 1000 && r.dropout == 0.33 && r.corrupt == 0) ||
         (r.model == kSM && r.n == 10000 && r.dropout == 0.33 && r.corrupt == 0.1);
}

TEST_CASE("FindParameters_DegreeAtMostFcpsOnTheIssueGrid") {
  for (const FcpRow& r : kFcpGrid) {
    INFO("model " << (r.model == kSM ? "SM" : "HbC") << " n " << r.n << " dropout " << r.dropout
                  << " corrupt " << r.corrupt << " fcp k " << r.fcp_k);
    absl::StatusOr<SecAggParameters> p = FindParameters(Options(r.n, r.dropout, r.corrupt, r.model));
    if (r.fcp_k == kRefused) continue;  // ours may serve it (docs) or refuse too
    REQUIRE(p.ok());
    if (LargerThanFcpForAReason(r)) {
      CHECK(p->neighbour_degree == r.fcp_k + 2);
    } else {
      CHECK(p->neighbour_degree <= r.fcp_k);
    }
  }
}

TEST_CASE("FindParameters_EveryAnswerOnTheGridPassesAnIndependentCheckOfItsBounds") {
  for (const FcpRow& r : kFcpGrid) {
    const ParameterOptions o = Options(r.n, r.dropout, r.corrupt, r.model);
    absl::StatusOr<SecAggParameters> p = FindParameters(o);
    if (!p.ok()) continue;
    INFO("model " << (r.model == kSM ? "SM" : "HbC") << " n " << r.n << " dropout " << r.dropout
                  << " corrupt " << r.corrupt << " k " << p->neighbour_degree << " t "
                  << p->threshold);
    CHECK(p->threshold >= 2);
    CHECK(p->threshold <= p->neighbour_degree);
    if (p->complete_graph) continue;
    CHECK(p->neighbour_degree % 2 == 0);
    const Bounds b = IndependentBounds(o, p->neighbour_degree, p->threshold);
    CHECK(b.log2_disconnect <= -41.0);
    CHECK(b.log2_threshold_event <= -41.0);
    CHECK(b.log2_round_fails <= -20.0);
    CHECK(CheckSecurity(o, p->neighbour_degree, p->threshold).ok());
    // The finder's own report agrees with the independent one.
    CHECK(p->log2_correctness_failure == Approx(b.log2_round_fails).margin(1e-3));
  }
}

TEST_CASE("FindParameters_NoSmallerThresholdIsSecureForTheChosenDegree") {
  for (const ParameterOptions& o :
       {Options(1000, 0.1, 0.05), Options(10000, 0.05, 0.1, kSM), Options(500, 0.33, 0.05)}) {
    auto p = FindParameters(o);
    REQUIRE(p.ok());
    if (p->threshold > 2) {
      CHECK(CheckSecurity(o, p->neighbour_degree, p->threshold - 1).code() ==
            absl::StatusCode::kFailedPrecondition);
      const Bounds b = IndependentBounds(o, p->neighbour_degree, p->threshold - 1);
      CHECK(b.log2_threshold_event > -41.0);
    }
  }
}

TEST_CASE("FindParameters_ThresholdIsAtLeastTwoWithoutCorruption") {
  auto p = FindParameters(Options(1000, 0.1, 0.0));
  REQUIRE(p.ok());
  CHECK(p->threshold >= 2);
  auto none = FindParameters(Options(100, 0.0, 0.0));
  REQUIRE(none.ok());
  CHECK(none->threshold == 2);
}

TEST_CASE("FindParameters_SemiMaliciousThresholdExceedsHalfTheDegree") {
  auto hbc = *FindParameters(Options(1000, 0.1, 0.05));
  auto sm = FindParameters(Options(1000, 0.1, 0.05, kSM));
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
  // n = 5: no sparse degree exists below n - 2 = 3 that tolerates a dropout.
  auto p = FindParameters(Options(5, 0.3, 0.1));
  REQUIRE(p.ok());
  CHECK(p->complete_graph);
  CHECK(p->neighbour_degree == 4);
  CHECK(p->threshold == 2);
  auto corrupt = FindParameters(Options(5, 0.2, 0.2));
  REQUIRE(corrupt.ok());
  CHECK(corrupt->threshold == 2);  // one corrupted device: t > 1
}

TEST_CASE("FindParameters_RefusesImpossibleSettingsNamingTheNumbers") {
  auto p = FindParameters(Options(20, 0.6, 0.4, kSM));
  CHECK(p.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(p.status().message().find("n = 20") != absl::string_view::npos);
  CHECK(FindParameters(Options(2, 0.1, 0.1)).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(FindParameters(Options(100, 1.0, 0.1)).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(FindParameters(Options(100, 0.1, -0.1)).status().code() ==
        absl::StatusCode::kInvalidArgument);
  // Semi-malicious at a third dropped and a third corrupt: no degree up to the cap fits.
  CHECK(FindParameters(Options(100000, 0.33, 0.33, kSM)).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("CheckSecurity_RefusesThresholdOne") {
  const ParameterOptions o = Options(1000, 0.1, 0.0);
  auto s = CheckSecurity(o, 20, 1);
  CHECK(s.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(s.message().find("below 2") != absl::string_view::npos);
}

TEST_CASE("CheckSecurity_RefusesADegreeTooSmallToStayConnected") {
  const ParameterOptions o = Options(1000, 0.1, 0.05);
  auto p = *FindParameters(o);
  auto s = CheckSecurity(o, 4, 3);
  CHECK(s.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(s.message().find("comes apart") != absl::string_view::npos);
  CHECK(CheckSecurity(o, p.neighbour_degree, p.threshold).ok());
  // A larger degree with a secure threshold is fine: the server may round n up to its grid.
  auto bigger = *EvaluateDegree(o, p.neighbour_degree + 10);
  CHECK(CheckSecurity(o, bigger.neighbour_degree, bigger.threshold).ok());
}

TEST_CASE("CheckSecurity_SemiMaliciousNeedsMoreThanHalfTheDegree") {
  const ParameterOptions o = Options(1000, 0.1, 0.05, kSM);
  auto p = *FindParameters(o);
  CHECK(CheckSecurity(o, p.neighbour_degree, p.threshold).ok());
  auto hbc = *EvaluateDegree(Options(1000, 0.1, 0.05), p.neighbour_degree);
  CHECK(CheckSecurity(o, p.neighbour_degree, hbc.threshold).code() ==
        absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("CheckSecurity_RefusesADegreeAboveTheOtherDevices") {
  // Found by fuzzing the plan check: k > n - 1 was taken for the complete graph.
  const ParameterOptions o = Options(100, 0.0, 0.0);
  auto s = CheckSecurity(o, 5120, 5);
  CHECK(s.code() == absl::StatusCode::kInvalidArgument);
  CHECK(s.message().find("exceeds the 99 other devices") != absl::string_view::npos);
  CHECK(CheckSecurity(o, 100, 5).code() == absl::StatusCode::kInvalidArgument);
  CHECK(CheckSecurity(o, 99, 5).ok());
}

TEST_CASE("CheckSecurity_CompleteGraphNeedsMoreThanTheCorruptCount") {
  const ParameterOptions o = Options(10, 0.1, 0.2);
  CHECK(CheckSecurity(o, 9, 2).code() == absl::StatusCode::kFailedPrecondition);
  CHECK(CheckSecurity(o, 9, 3).ok());
}

TEST_CASE("ParameterTable_EveryCohortSizeGetsParametersThatPassTheBoundCheck") {
  const ParameterOptions o = Options(0, 0.1, 0.05);
  auto table = ParameterTable::Build(o, 60, 400);
  REQUIRE(table.ok());
  CHECK(table->grid_size() < 341);  // a grid, not every size
  for (int32_t n = 60; n <= 400; ++n) {
    INFO("n " << n);
    auto p = table->For(n);
    REQUIRE(p.ok());
    ParameterOptions at = o;
    at.num_participants = n;
    CHECK(CheckSecurity(at, p->neighbour_degree, p->threshold).ok());
    CHECK(p->log2_correctness_failure <= -20.0);
    CHECK(p->neighbour_degree >= FindParameters(at)->neighbour_degree);
  }
  CHECK(table->For(59).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(table->For(401).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("ParameterTable_RefusesARangeWithAnImpossibleSize") {
  // Three devices, one of which may drop: the other two cannot both be needed.
  auto table = ParameterTable::Build(Options(0, 0.34, 0.0), 3, 50);
  CHECK(table.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(table.status().message().find("n = 3") != absl::string_view::npos);
}

}  // namespace
}  // namespace cohort::secagg
