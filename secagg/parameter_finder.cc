#include "secagg/parameter_finder.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace cohort::secagg {
namespace {

// All probabilities are handled as natural logarithms; kNegInf is log(0).
constexpr double kNegInf = -std::numeric_limits<double>::infinity();
constexpr double kLn2 = 0.69314718055994530942;
// Degrees tried before falling back to the complete graph. SecAgg+ needs k = O(log n); a few
// thousand is far past any useful sparse choice and keeps the search O(k^2) cheap.
constexpr int32_t kMaxSparseDegree = 4000;

double LogChoose(double n, double k) {
  if (k < 0 || k > n) return kNegInf;
  return std::lgamma(n + 1) - std::lgamma(k + 1) - std::lgamma(n - k + 1);
}

double LogAdd(double a, double b) {
  if (a == kNegInf) return b;
  if (b == kNegInf) return a;
  const double hi = std::max(a, b);
  return hi + std::log1p(std::exp(std::min(a, b) - hi));
}

// log P[X >= lo] for X ~ Hypergeometric(population N, successes K, draws k).
double LogHypergeometricUpperTail(int64_t population, int64_t successes, int64_t draws,
                                  int64_t lo) {
  const double denom = LogChoose(static_cast<double>(population), static_cast<double>(draws));
  double acc = kNegInf;
  for (int64_t x = std::max<int64_t>(lo, 0); x <= std::min(successes, draws); ++x) {
    acc = LogAdd(acc, LogChoose(static_cast<double>(successes), static_cast<double>(x)) +
                          LogChoose(static_cast<double>(population - successes),
                                    static_cast<double>(draws - x)) -
                          denom);
  }
  return acc;
}

// log P[X < hi] for X ~ Binomial(trials, p).
double LogBinomialLowerTail(int64_t trials, double p, int64_t hi) {
  if (p >= 1.0) return hi > trials ? 0.0 : kNegInf;
  double acc = kNegInf;
  for (int64_t x = 0; x < std::min(hi, trials + 1); ++x) {
    const double term = LogChoose(static_cast<double>(trials), static_cast<double>(x)) +
                        (x > 0 ? static_cast<double>(x) * std::log(p) : 0.0) +
                        static_cast<double>(trials - x) * std::log1p(-p);
    acc = LogAdd(acc, term);
  }
  return acc;
}

double ToLog2(double ln) { return ln / kLn2; }

struct Inputs {
  int64_t n;
  int64_t corrupt;     // C = ceil(gamma * n): devices the adversary controls
  double p_respond;    // probability a neighbour is there to answer the unmasking
  double p_removed;    // probability a ring position is not an honest survivor
  bool semi_malicious;
  double ln_security;  // budget, natural log
  double ln_correctness;
};

// Smallest threshold t in [1, k] with n * P[corrupt neighbours reach the breaking point] within
// half the security budget, or -1. Breaking point: t corrupt neighbours (honest-but-curious: they
// alone can rebuild the mask key of a survivor), or 2t - k (semi-malicious: the server splits the
// k - c honest neighbours between the two requests; it gets both secrets iff 2(t - c) <= k - c).
int32_t SmallestSecureThreshold(const Inputs& in, int64_t k, int64_t others, double* ln_fail) {
  const double ln_n = std::log(static_cast<double>(in.n));
  for (int64_t t = 1; t <= k; ++t) {
    const int64_t breaking = in.semi_malicious ? 2 * t - k : t;
    const double ln_tail =
        breaking <= 0 ? 0.0 : LogHypergeometricUpperTail(others, std::min(in.corrupt, others), k,
                                                         breaking);
    if (ln_n + ln_tail <= in.ln_security - kLn2) {
      *ln_fail = ln_n + ln_tail;
      return static_cast<int32_t>(t);
    }
  }
  return -1;
}

}  // namespace

absl::StatusOr<SecAggParameters> FindParameters(const ParameterOptions& o) {
  if (o.num_participants < 3) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "secure aggregation needs at least 3 participants, got %d", o.num_participants));
  }
  if (!(o.dropout_rate >= 0 && o.dropout_rate < 1) ||
      !(o.corrupted_fraction >= 0 && o.corrupted_fraction < 1)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("dropout_rate (%g) and corrupted_fraction (%g) must be in [0, 1)",
                        o.dropout_rate, o.corrupted_fraction));
  }
  if (o.security_bits < 1 || o.security_bits > 128 || o.correctness_bits < 1 ||
      o.correctness_bits > 128) {
    return absl::InvalidArgumentError(
        absl::StrFormat("security_bits (%d) and correctness_bits (%d) must be in [1, 128]",
                        o.security_bits, o.correctness_bits));
  }
  const bool semi = o.threat_model == ThreatModel::kSemiMalicious;
  Inputs in;
  in.n = o.num_participants;
  in.corrupt = static_cast<int64_t>(std::ceil(o.corrupted_fraction * static_cast<double>(in.n)));
  // A semi-malicious adversary's clients may also withhold their answers.
  in.p_respond = (1 - o.dropout_rate) * (semi ? 1 - o.corrupted_fraction : 1.0);
  in.p_removed = std::min(1.0, o.dropout_rate + o.corrupted_fraction);
  in.semi_malicious = semi;
  in.ln_security = -o.security_bits * kLn2;
  in.ln_correctness = -o.correctness_bits * kLn2;
  const double ln_n = std::log(static_cast<double>(in.n));

  const int64_t others = in.n - 1;
  const int64_t max_sparse = std::min<int64_t>(in.n - 2, kMaxSparseDegree);
  for (int64_t k = 2; k <= max_sparse; k += 2) {
    // Honest survivors stay connected unless two disjoint runs of k/2 consecutive ring positions
    // are all dropped or corrupt: at most C(n, 2) window pairs, each with probability
    // p_removed^k (docs/secagg.md#connectivity).
    const double ln_disconnect =
        in.p_removed <= 0 ? kNegInf
                          : std::log(static_cast<double>(in.n) * static_cast<double>(in.n - 1) / 2) +
                                static_cast<double>(k) * std::log(in.p_removed);
    if (ln_disconnect > in.ln_security - kLn2) continue;
    double ln_insecure = 0;
    const int32_t t = SmallestSecureThreshold(in, k, others, &ln_insecure);
    if (t < 0) continue;
    // Every device needs t answering neighbours: union bound over the n neighbourhoods.
    const double ln_fail = ln_n + LogBinomialLowerTail(k, in.p_respond, t);
    if (ln_fail > in.ln_correctness) continue;
    SecAggParameters p;
    p.num_participants = o.num_participants;
    p.neighbour_degree = static_cast<int32_t>(k);
    p.threshold = t;
    p.complete_graph = false;
    p.log2_security_failure = ToLog2(LogAdd(ln_insecure, ln_disconnect));
    p.log2_correctness_failure = ToLog2(ln_fail);
    return p;
  }

  // Complete graph (classic SecAgg): every honest device sees all C corrupt ones, so security is
  // deterministic: t > C (honest-but-curious) or 2t > (n - 1) + C (semi-malicious).
  const int64_t k = others;
  const int64_t c = std::min(in.corrupt, others);
  const int64_t t = semi ? (k + c) / 2 + 1 : c + 1;
  if (t > k) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "no parameters exist: with n = %d and %d corrupted devices (%g), even the complete graph "
        "needs a threshold of %d > n - 1",
        o.num_participants, c, o.corrupted_fraction, t));
  }
  const double ln_fail = ln_n + LogBinomialLowerTail(k, in.p_respond, t);
  if (ln_fail > in.ln_correctness) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "no parameters exist: n = %d, dropout %g, corrupted %g (%s) needs threshold %d of %d, "
        "and a round would fail with probability 2^%.1f > 2^-%d",
        o.num_participants, o.dropout_rate, o.corrupted_fraction,
        semi ? "semi-malicious" : "honest-but-curious", t, k, ToLog2(ln_fail),
        o.correctness_bits));
  }
  SecAggParameters p;
  p.num_participants = o.num_participants;
  p.neighbour_degree = static_cast<int32_t>(k);
  p.threshold = static_cast<int32_t>(t);
  p.complete_graph = true;
  p.log2_security_failure = -std::numeric_limits<double>::infinity();
  p.log2_correctness_failure = ToLog2(ln_fail);
  return p;
}

}  // namespace cohort::secagg
