#ifndef COHORT_SECAGG_PARAMETER_FINDER_H_
#define COHORT_SECAGG_PARAMETER_FINDER_H_

// Picks the neighbour degree k and the Shamir threshold t of a round so that operators never
// guess them, and checks a given (k, t) against the same bounds. The bounds are those of Bell et
// al., CCS 2020 (SecAgg+), Sec. 3-4, for the Harary graph with random relabelling, computed with
// exact hypergeometric tails; the derivation and a comparison with fcp's finder are in
// docs/secagg.md#parameters-how-findparameters-picks-k-and-t.
//
//   ParameterOptions options;
//   options.num_participants = 1000;
//   options.dropout_rate = 0.1;
//   options.corrupted_fraction = 0.05;
//   COHORT_ASSIGN_OR_RETURN(SecAggParameters p, FindParameters(options));
//   // p.neighbour_degree, p.threshold, p.complete_graph
//   COHORT_RETURN_IF_ERROR(CheckSecurity(options, p.neighbour_degree, p.threshold));
//
// Model: of the n devices, C = floor(gamma * n) are corrupt and at most D = floor(delta * n)
// drop out, placed on the ring by the round's uniformly random relabelling; a device's k
// neighbours are a uniform k-subset of the n - 1 others. For each even k (ascending) the finder
// takes the smallest t >= 2 meeting security, checks connectivity and correctness, and returns
// the first k that fits; where no sparse k fits, the complete graph (k = n - 1).
//
// Cost: tails are computed incrementally, O(k) per candidate degree after a binary search for
// the smallest degree the connectivity bound allows; docs/benchmarks.md has the timings.
//
// Codes: INVALID_ARGUMENT for n < 3 or n > 10^7, rates outside [0, 1), bits outside [1, 128], or
// settings no (k, t) satisfies; CheckSecurity: FAILED_PRECONDITION naming the bound (k, t)
// misses. Messages name the numbers.
// Thread-safe (pure functions; ParameterTable is immutable after Build).

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cohort::secagg {

enum class ThreatModel {
  // The server follows the protocol but tries to learn inputs; corrupted clients collude with it.
  kHonestButCurious,
  // The server may in addition lie about who dropped (ask for both kinds of shares of one device
  // through different neighbours): the threshold must satisfy 2t > k + (corrupt neighbours).
  kSemiMalicious,
};

struct ParameterOptions {
  int32_t num_participants = 0;      // n, devices that start the round (advertise keys)
  double dropout_rate = 0.1;         // fraction that may drop before unmasking (delta)
  double corrupted_fraction = 0.05;  // fraction of devices the adversary controls (gamma)
  ThreatModel threat_model = ThreatModel::kHonestButCurious;
  int security_bits = 40;     // privacy fails with probability <= 2^-security_bits
  int correctness_bits = 20;  // a round fails with probability <= 2^-correctness_bits
};

struct SecAggParameters {
  int32_t num_participants = 0;  // n
  int32_t neighbour_degree = 0;  // k; n - 1 for the complete graph
  int32_t threshold = 0;         // t >= 2
  bool complete_graph = false;
  // log2 of the bounds proved for (k, t): security = connectivity + threshold event (each
  // <= -(security_bits + 1)), correctness = some device short of t answering neighbours.
  double log2_security_failure = 0;
  double log2_correctness_failure = 0;
};

absl::StatusOr<SecAggParameters> FindParameters(const ParameterOptions& options);

// The smallest threshold for degree k that meets security, with the bounds; NOT_FOUND when k
// fails connectivity, security or correctness. k >= n - 1 means the complete graph. O(k).
absl::StatusOr<SecAggParameters> EvaluateDegree(const ParameterOptions& options, int32_t k);

// The device's check of parameters a server sent: OK when (k, t) keeps every security bound of
// `options` (t >= 2, t <= k, connectivity, the threshold event of the threat model); correctness
// is the server's concern and not checked. FAILED_PRECONDITION naming the bound otherwise,
// INVALID_ARGUMENT for bad options. O(k).
absl::Status CheckSecurity(const ParameterOptions& options, int32_t k, int32_t t);

// Parameters for every cohort size a task may start a round with, computed once (at task
// validation) so that opening a round costs O(k), not a search: FindParameters at grid points
// n_0 = min_n < n_1 < ... = max_n spaced at most 2% apart; For(n) takes the degree of the
// smallest grid point >= n and re-derives t and the bounds at n exactly (EvaluateDegree),
// stepping the degree up if the bounds at n need it. A degree found for a larger n almost always
// holds for a smaller one (every bound grows with n), so For(n) is at most a few O(k) checks.
class ParameterTable {
 public:
  // INVALID_ARGUMENT when some cohort size in [min_n, max_n] admits no parameters at a grid
  // point (the message names it), or min_n > max_n.
  static absl::StatusOr<ParameterTable> Build(const ParameterOptions& options, int32_t min_n,
                                              int32_t max_n);
  // INVALID_ARGUMENT for n outside [min_n, max_n] or when no degree near the grid's fits.
  absl::StatusOr<SecAggParameters> For(int32_t n) const;

  int32_t min_n() const { return min_n_; }
  int32_t max_n() const { return max_n_; }
  size_t grid_size() const { return grid_.size(); }

 private:
  ParameterOptions options_;
  int32_t min_n_ = 0;
  int32_t max_n_ = 0;
  std::vector<SecAggParameters> grid_;  // ascending n
};

}  // namespace cohort::secagg

#endif  // COHORT_SECAGG_PARAMETER_FINDER_H_
