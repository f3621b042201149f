#ifndef COHORT_SECAGG_PARAMETER_FINDER_H_
#define COHORT_SECAGG_PARAMETER_FINDER_H_

// Picks the neighbour degree k and the Shamir threshold t of a round so that operators never
// guess them. Bounds follow Bell et al., CCS 2020 (SecAgg+), Sec. 3-4, with exact binomial and
// hypergeometric tails computed in log space; the derivation is in docs/secagg.md#parameters.
//
//   ParameterOptions options;
//   options.num_participants = 1000;
//   options.dropout_rate = 0.1;
//   options.corrupted_fraction = 0.05;
//   COHORT_ASSIGN_OR_RETURN(SecAggParameters p, FindParameters(options));
//   // p.neighbour_degree, p.threshold, p.complete_graph
//
// For each candidate even k (ascending) the finder takes the smallest t meeting security, then
// checks correctness, and returns the first k that fits. Where no sparse k fits, it tries the
// complete graph (k = n - 1). Settings no parameters can satisfy are refused.
//
// Codes: INVALID_ARGUMENT for n < 3, rates outside [0, 1), bits outside [1, 128], or settings no
// (k, t) satisfies — the message names the numbers.
// Thread-safe (pure function).

#include <cstdint>

#include "absl/status/statusor.h"

namespace cohort::secagg {

enum class ThreatModel {
  // The server follows the protocol but tries to learn inputs; corrupted clients collude with it.
  kHonestButCurious,
  // The server may lie about who dropped out (ask for both kinds of shares of one device through
  // different neighbours); the threshold must exceed half of the honest-plus-corrupt share mass.
  kSemiMalicious,
};

struct ParameterOptions {
  int32_t num_participants = 0;   // n, devices that start the round (advertise keys)
  double dropout_rate = 0.1;      // expected fraction that drops before unmasking (delta)
  double corrupted_fraction = 0.05;  // fraction of devices the adversary controls (gamma)
  ThreatModel threat_model = ThreatModel::kHonestButCurious;
  int security_bits = 40;      // privacy fails with probability <= 2^-security_bits
  int correctness_bits = 20;   // a round fails with probability <= 2^-correctness_bits
};

struct SecAggParameters {
  int32_t num_participants = 0;  // n
  int32_t neighbour_degree = 0;  // k; n - 1 for the complete graph
  int32_t threshold = 0;         // t
  bool complete_graph = false;
  // log2 of the bounds the finder proved for the chosen (k, t) (<= -security_bits etc.).
  double log2_security_failure = 0;
  double log2_correctness_failure = 0;
};

absl::StatusOr<SecAggParameters> FindParameters(const ParameterOptions& options);

}  // namespace cohort::secagg

#endif  // COHORT_SECAGG_PARAMETER_FINDER_H_
