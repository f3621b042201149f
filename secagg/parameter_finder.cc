#include "secagg/parameter_finder.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "secagg/neighbour_graph.h"

namespace cohort::secagg {
namespace {

// Probabilities are natural logarithms; kNegInf is log(0).
constexpr double kNegInf = -std::numeric_limits<double>::infinity();
constexpr double kLn2 = 0.69314718055994530942;
// Degrees tried before the complete graph (and the largest complete graph offered). SecAgg+
// needs k = O(log n); past a few thousand a sparse graph saves nothing worth its analysis.
constexpr int64_t kMaxDegree = 4000;
constexpr int32_t kMaxParticipants = kMaxGraphParticipants;
// Rates times n are rounded down after adding this, so 0.33 * 100 counts 33 devices, not 32
// (binary floating point stores 0.33 a hair low); fcp's finder does the same.
constexpr double kRateSlack = 1e-12;
// Bounds are compared with this much relative room so rounding in the tail sums can never tip
// a parameter set over its budget in the insecure direction.
constexpr double kBudgetSlack = 1e-9;

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

// Upper tails of X ~ Hypergeometric(population, marked, draws): LogAtLeast(x) = log P[X >= x].
// Built without lgamma: the pmf is scaled to 1 at the mode, extended outwards by the ratio of
// consecutive terms until they fall below `cut` (a factor 10^20 below the smallest probability
// the caller compares with, so what is left out cannot matter), and normalized by its sum, so a
// tail is exact in relative terms. The window is O(sqrt(draws)) wide, so building is cheap even
// for a degree in the thousands.
class HypergeometricTail {
 public:
  HypergeometricTail(int64_t population, int64_t marked, int64_t draws, double cut)
      : cut_(cut) {
    lo_ = std::max<int64_t>(0, draws - (population - marked));
    hi_ = std::min(marked, draws);
    int64_t mode = static_cast<int64_t>(
        std::floor(static_cast<double>(draws + 1) * static_cast<double>(marked + 1) /
                   static_cast<double>(population + 2)));
    mode = std::clamp(mode, lo_, hi_);
    const double other = static_cast<double>(population - marked - draws);
    const double m = static_cast<double>(marked);
    const double d = static_cast<double>(draws);
    std::vector<double> up{1.0};  // p(mode + i) / p(mode)
    for (int64_t x = mode; x < hi_ && up.back() >= cut_; ++x) {
      const double xd = static_cast<double>(x);
      up.push_back(up.back() * (m - xd) * (d - xd) / ((xd + 1) * (other + xd + 1)));
    }
    std::vector<double> down;  // p(mode - 1 - i) / p(mode)
    double q = 1.0;
    for (int64_t x = mode; x > lo_ && q >= cut_; --x) {
      const double xd = static_cast<double>(x);
      q *= xd * (other + xd) / ((m - xd + 1) * (d - xd + 1));
      down.push_back(q);
    }
    first_ = mode - static_cast<int64_t>(down.size());
    // Suffix sums over [first_, last], smallest terms first so small tails keep their precision.
    const size_t size = down.size() + up.size();
    suffix_.assign(size + 1, 0.0);
    for (size_t i = size; i-- > 0;) {
      const double term = i < down.size() ? down[down.size() - 1 - i] : up[i - down.size()];
      suffix_[i] = suffix_[i + 1] + term;
    }
    last_ = first_ + static_cast<int64_t>(size) - 1;
    total_ = suffix_[0];
  }

  double LogAtLeast(int64_t x) const {
    if (x <= lo_) return 0.0;
    if (x > hi_) return kNegInf;
    if (x <= first_) return 0.0;  // 1 minus mass below the cut: bounded by 1
    if (x > last_) {
      // Every term past the window is below the cut (the pmf falls past the mode): bound them.
      return std::log(cut_ * static_cast<double>(hi_ - last_) / total_);
    }
    return std::log(suffix_[static_cast<size_t>(x - first_)] / total_);
  }
  // The smallest x with log P[X >= x] <= bound (hi + 1 at most).
  int64_t SmallestWithTailAtMost(double bound) const {
    int64_t x = std::min(hi_, last_) + 1;
    if (LogAtLeast(x) > bound) return hi_ + 1;
    while (x > lo_ && LogAtLeast(x - 1) <= bound) --x;
    return x;
  }

 private:
  double cut_;
  int64_t lo_ = 0;
  int64_t hi_ = 0;
  int64_t first_ = 0;
  int64_t last_ = 0;
  double total_ = 1;
  std::vector<double> suffix_;
};

struct Model {
  int64_t n = 0;
  int64_t corrupt = 0;  // C
  int64_t dropped = 0;  // D
  bool semi_malicious = false;
  double ln_n = 0;
  double ln_security_event = 0;  // per event: 2^-(security_bits + 1)
  double ln_correctness = 0;
  // Terms of a tail below this are dropped (relative to the pmf's mode).
  double tail_cut = 0;
};

absl::Status Validate(const ParameterOptions& o) {
  if (o.num_participants < 3 || o.num_participants > kMaxParticipants) {
    return absl::InvalidArgumentError(
        absl::StrFormat("secure aggregation needs 3 to %d participants, got %d", kMaxParticipants,
                        o.num_participants));
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
  return absl::OkStatus();
}

Model MakeModel(const ParameterOptions& o) {
  Model m;
  m.n = o.num_participants;
  const double n = static_cast<double>(m.n);
  m.corrupt = static_cast<int64_t>(std::floor((o.corrupted_fraction + kRateSlack) * n));
  m.dropped = static_cast<int64_t>(std::floor((o.dropout_rate + kRateSlack) * n));
  m.semi_malicious = o.threat_model == ThreatModel::kSemiMalicious;
  m.ln_n = std::log(n);
  m.ln_security_event = -(o.security_bits + 1) * kLn2 + std::log1p(-kBudgetSlack);
  m.ln_correctness = -o.correctness_bits * kLn2 + std::log1p(-kBudgetSlack);
  // The smallest per-device probability compared with, 10^20 smaller.
  m.tail_cut = std::exp(std::min(m.ln_security_event, m.ln_correctness) - m.ln_n - 20 * std::log(10.0));
  return m;
}

// log of the bound on the honest survivors' graph H(k, n) coming apart: it needs two runs of
// k/2 consecutive ring positions, not adjacent, all corrupt or dropped. There are
// n (n - k - 1) / 2 such pairs of runs, and with the B = C + D bad devices placed uniformly by
// the relabelling, k given positions are all bad with probability C(B, k) / C(n, k).
double LogDisconnect(const Model& m, int64_t k) {
  const int64_t bad = std::min(m.n, m.corrupt + m.dropped);
  if (k > bad) return kNegInf;
  return m.ln_n + std::log(static_cast<double>(m.n - k - 1)) - kLn2 +
         LogChoose(static_cast<double>(bad), static_cast<double>(k)) -
         LogChoose(static_cast<double>(m.n), static_cast<double>(k));
}

// The threshold event's breaking point for t: t corrupt neighbours rebuild a survivor's mask key
// (honest-but-curious); 2t - k let a server that lies about who dropped split the k - c honest
// neighbours between the two requests and still reach t for both secrets (semi-malicious).
int64_t BreakingPoint(const Model& m, int64_t k, int64_t t) {
  return m.semi_malicious ? 2 * t - k : t;
}

double ToLog2(double ln) { return ln / kLn2; }

absl::StatusOr<SecAggParameters> CompleteGraph(const ParameterOptions& o, const Model& m) {
  // Every honest device sees all C corrupt ones: t > C, or 2t > (n - 1) + C.
  const int64_t k = m.n - 1;
  const int64_t c = std::min(m.corrupt, k);
  const int64_t t = std::max<int64_t>(2, m.semi_malicious ? (k + c) / 2 + 1 : c + 1);
  // At most D of the others drop, so every device keeps n - 1 - D answering neighbours.
  const int64_t answering = k - std::min(m.dropped, k);
  if (t > answering) {
    return absl::NotFoundError(absl::StrFormat(
        "the complete graph needs a threshold of %d (%d corrupted devices, %s) but only %d of "
        "the %d neighbours are sure to answer with %d dropouts",
        t, c, m.semi_malicious ? "semi-malicious" : "honest-but-curious", answering, k,
        m.dropped));
  }
  SecAggParameters p;
  p.num_participants = o.num_participants;
  p.neighbour_degree = static_cast<int32_t>(k);
  p.threshold = static_cast<int32_t>(t);
  p.complete_graph = true;
  p.log2_security_failure = kNegInf;
  p.log2_correctness_failure = kNegInf;
  return p;
}

// How far degree k is from fitting: `margin` = (largest threshold correctness allows) - (smallest
// threshold security needs), before t >= 2 is applied. Feasible when margin >= 0 and the
// clamped threshold still fits.
struct Fit {
  absl::StatusOr<SecAggParameters> params = absl::NotFoundError("");
  int64_t margin = 0;
};

// Degree k < n - 1, connectivity already within budget.
Fit EvaluateSparse(const ParameterOptions& o, const Model& m, int64_t k, double ln_disconnect) {
  Fit fit;
  // Corrupt neighbours of an honest device: the k neighbours among the n - 1 others, C of them
  // corrupt. Smallest breaking point x with n P[c >= x] within the event's budget.
  const HypergeometricTail corrupt(m.n - 1, std::min(m.corrupt, m.n - 1), k, m.tail_cut);
  const int64_t x = corrupt.SmallestWithTailAtMost(m.ln_security_event - m.ln_n);
  const int64_t t_secure = m.semi_malicious ? (x + k + 1) / 2 : x;
  // Neighbours that dropped: at most D of the n - 1 others. A device needs t answering ones, so
  // threshold t fails with P[dropped >= k - t + 1]; union bound over the n devices.
  const HypergeometricTail dropped(m.n - 1, std::min(m.dropped, m.n - 1), k, m.tail_cut);
  const int64_t t_correct =
      k + 1 - dropped.SmallestWithTailAtMost(m.ln_correctness - m.ln_n);
  fit.margin = t_correct - t_secure;
  const int64_t t = std::max<int64_t>(2, t_secure);
  if (t > k || t > t_correct) {
    fit.params = absl::NotFoundError(absl::StrFormat(
        "degree %d: security needs a threshold of %d, correctness allows at most %d", k, t,
        std::min(k, t_correct)));
    return fit;
  }
  SecAggParameters p;
  p.num_participants = o.num_participants;
  p.neighbour_degree = static_cast<int32_t>(k);
  p.threshold = static_cast<int32_t>(t);
  p.complete_graph = false;
  p.log2_security_failure =
      ToLog2(LogAdd(ln_disconnect, m.ln_n + corrupt.LogAtLeast(BreakingPoint(m, k, t))));
  p.log2_correctness_failure = ToLog2(m.ln_n + dropped.LogAtLeast(k - t + 1));
  fit.params = p;
  return fit;
}

absl::StatusOr<SecAggParameters> Evaluate(const ParameterOptions& o, const Model& m, int64_t k) {
  if (k >= m.n - 1) return CompleteGraph(o, m);
  const double ln_disconnect = LogDisconnect(m, k);
  if (ln_disconnect > m.ln_security_event) {
    return absl::NotFoundError(absl::StrFormat(
        "degree %d: the survivors' graph comes apart with probability up to 2^%.1f", k,
        ToLog2(ln_disconnect)));
  }
  return EvaluateSparse(o, m, k, ln_disconnect).params;
}

// The smallest even k >= 2 whose connectivity bound fits (the bound falls as k grows).
int64_t SmallestConnectedDegree(const Model& m, int64_t max_k) {
  int64_t lo = 1;
  int64_t hi = max_k / 2;  // in units of 2
  if (hi < 1 || LogDisconnect(m, 2 * hi) > m.ln_security_event) return max_k + 2;
  while (lo < hi) {
    const int64_t mid = (lo + hi) / 2;
    if (LogDisconnect(m, 2 * mid) <= m.ln_security_event) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return 2 * lo;
}

}  // namespace

absl::StatusOr<SecAggParameters> EvaluateDegree(const ParameterOptions& options, int32_t k) {
  if (absl::Status s = Validate(options); !s.ok()) return s;
  if (k < 2) return absl::NotFoundError(absl::StrFormat("degree %d is below 2", k));
  return Evaluate(options, MakeModel(options), k);
}

absl::StatusOr<SecAggParameters> FindParameters(const ParameterOptions& options) {
  if (absl::Status s = Validate(options); !s.ok()) return s;
  const Model m = MakeModel(options);
  const int64_t max_sparse = std::min<int64_t>(m.n - 2, kMaxDegree);
  for (int64_t k = SmallestConnectedDegree(m, max_sparse); k <= max_sparse;) {
    Fit fit = EvaluateSparse(options, m, k, LogDisconnect(m, k));
    if (fit.params.ok()) return fit.params;
    // Two more neighbours raise the margin by at most 2 (honest-but-curious) or 1
    // (semi-malicious): coupling the two samples, the corrupt and the dropped counts grow by at
    // most 2, so the secure threshold grows by 0..2 (1..2) and the correct one by 0..2. A
    // deficit of d therefore rules out the next ceil(d / 2) (d) degrees; skip one fewer.
    const int64_t per_step = m.semi_malicious ? 1 : 2;
    const int64_t steps = fit.margin < 0 ? std::max<int64_t>(1, -fit.margin / per_step - 1) : 1;
    k += 2 * steps;
  }
  absl::Status complete = absl::FailedPreconditionError(
      absl::StrFormat("it would need more than %d neighbours", kMaxDegree));
  if (m.n - 1 <= kMaxDegree) {
    absl::StatusOr<SecAggParameters> p = CompleteGraph(options, m);
    if (p.ok()) return p;
    complete = p.status();
  }
  return absl::InvalidArgumentError(absl::StrFormat(
      "no parameters exist for n = %d, dropout %g, corrupted %g (%s) at 2^-%d / 2^-%d: no sparse "
      "degree up to %d fits, and %s",
      options.num_participants, options.dropout_rate, options.corrupted_fraction,
      m.semi_malicious ? "semi-malicious" : "honest-but-curious", options.security_bits,
      options.correctness_bits, max_sparse, complete.message()));
}

absl::Status CheckSecurity(const ParameterOptions& options, int32_t k, int32_t t) {
  if (absl::Status s = Validate(options); !s.ok()) return s;
  const Model m = MakeModel(options);
  if (t < 2) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "threshold %d is below 2: a single holder could rebuild a device's secrets", t));
  }
  if (k < t) {
    return absl::FailedPreconditionError(
        absl::StrFormat("threshold %d exceeds the degree %d", t, k));
  }
  if (k > m.n - 1) {
    // Not a graph of these n devices at all (found by fuzzing the plan check).
    return absl::InvalidArgumentError(absl::StrFormat(
        "degree %d exceeds the %d other devices of a round of %d", k, m.n - 1, m.n));
  }
  if (k == m.n - 1) {
    const int64_t c = std::min(m.corrupt, m.n - 1);
    const bool secure = m.semi_malicious ? 2 * int64_t{t} > (m.n - 1) + c : int64_t{t} > c;
    if (!secure) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "threshold %d on the complete graph of %d devices is not above %s with %d corrupted",
          t, m.n, m.semi_malicious ? "(n - 1 + C) / 2" : "C", c));
    }
    return absl::OkStatus();
  }
  if (k % 2 != 0) {
    return absl::FailedPreconditionError(
        absl::StrFormat("degree %d of a sparse graph is odd; parameters use even degrees", k));
  }
  const double ln_disconnect = LogDisconnect(m, k);
  if (ln_disconnect > m.ln_security_event) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "degree %d is too small: the survivors' graph comes apart with probability up to 2^%.1f "
        "> 2^-%d",
        k, ToLog2(ln_disconnect), options.security_bits + 1));
  }
  const HypergeometricTail corrupt(m.n - 1, std::min(m.corrupt, m.n - 1), k, m.tail_cut);
  const double ln_break = m.ln_n + corrupt.LogAtLeast(BreakingPoint(m, k, t));
  if (ln_break > m.ln_security_event) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "threshold %d of degree %d is too small: %s with probability up to 2^%.1f > 2^-%d", t, k,
        m.semi_malicious ? "the corrupt neighbours reach 2t - k" : "t neighbours are corrupt",
        ToLog2(ln_break), options.security_bits + 1));
  }
  return absl::OkStatus();
}

absl::StatusOr<ParameterTable> ParameterTable::Build(const ParameterOptions& options,
                                                     int32_t min_n, int32_t max_n) {
  if (min_n > max_n) {
    return absl::InvalidArgumentError(
        absl::StrFormat("cohort sizes [%d, %d] are empty", min_n, max_n));
  }
  ParameterTable table;
  table.options_ = options;
  table.min_n_ = min_n;
  table.max_n_ = max_n;
  for (int64_t n = min_n;;) {
    ParameterOptions at = options;
    at.num_participants = static_cast<int32_t>(n);
    absl::StatusOr<SecAggParameters> p = FindParameters(at);
    if (!p.ok()) return p.status();
    table.grid_.push_back(*p);
    if (n == max_n) break;
    n = std::min<int64_t>(max_n, std::max<int64_t>(n + 1, static_cast<int64_t>(n * 1.02)));
  }
  return table;
}

absl::StatusOr<SecAggParameters> ParameterTable::For(int32_t n) const {
  if (n < min_n_ || n > max_n_) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "cohort size %d is outside the task's range [%d, %d]", n, min_n_, max_n_));
  }
  auto it = std::lower_bound(
      grid_.begin(), grid_.end(), n,
      [](const SecAggParameters& p, int32_t value) { return p.num_participants < value; });
  ParameterOptions at = options_;
  at.num_participants = n;
  const Model m = MakeModel(at);
  absl::Status last = absl::NotFoundError("no grid point");
  // The grid point's degree (capped at the complete graph of n), then a few larger ones.
  int64_t k = std::min<int64_t>(it->neighbour_degree, n - 1);
  if (k < n - 1 && k % 2 != 0) ++k;
  for (int step = 0; step < 16; ++step, k += 2) {
    if (k >= n - 1) k = n - 1;
    absl::StatusOr<SecAggParameters> p = Evaluate(at, m, k);
    if (p.ok()) return p;
    last = p.status();
    if (k == n - 1) break;
  }
  return absl::InvalidArgumentError(absl::StrFormat(
      "no parameters near degree %d hold for cohort size %d: %s", it->neighbour_degree, n,
      last.message()));
}

}  // namespace cohort::secagg
