#ifndef COHORT_PRIVACY_RANDOMIZED_ROUNDING_H_
#define COHORT_PRIVACY_RANDOMIZED_ROUNDING_H_

// Conditional randomized rounding (Kairouz, Liu, Steinke 2021, Sec. 4.1 and Thm. 1's rounding
// lemma): every coordinate of a real vector z is rounded up with probability equal to its
// fractional part and down otherwise (unbiased), and the whole draw is repeated until the
// rounded vector's L2 norm is at most a bound. The bound is what makes the discrete mechanism's
// sensitivity hold after rounding: unconditioned rounding can add up to sqrt(d) to the norm.
//
// For ||z||_2 <= c, each rounding error lies in (-1, 1) with mean 0 and variance <= 1/4, so
//   ||round(z)||^2 <= c^2 + d/4 + sqrt(2 ln(1/beta)) (c + sqrt(d)/2)
// with probability >= 1 - beta (Kairouz et al., Prop. 22; a Hoeffding bound on the sum of the
// squared errors' deviations), and always ||round(z)|| < c + sqrt(d). The bound used is the
// smaller of the two, so a draw is accepted with probability >= 1 - beta and the expected number
// of draws is <= 1 / (1 - beta). beta = 0 means no conditioning (the deterministic bound).
//
// The norm is checked exactly: the rounded vector is an integer vector, its squared norm is
// summed in 128-bit integers and compared with the integer NormBoundSquared(...), and the
// accountant uses sqrt of that same integer as the L2 sensitivity. So a rounded vector that
// passes can never exceed the sensitivity the accountant assumes, whatever floating point does.
//
// The rounding draws come from RandomBits (53-bit uniforms): the rounding probability is the
// fractional part to within 2^-53, which affects only unbiasedness, never privacy.
//
// Codes: INVALID_ARGUMENT for beta outside [0, 1), a non-finite or negative norm, dim < 1, a
// vector with a non-finite value or one whose squared norm exceeds the bound before rounding
// could even help (||z||^2 > bound: the caller did not clip); RESOURCE_EXHAUSTED if
// max_attempts draws all failed (probability <= beta^max_attempts). Thread-safe (pure
// functions; the RandomBits passed in is not shared).

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "privacy/random_bits.h"

namespace cohort::privacy {

// The integer floor of the squared norm bound above, for a scaled vector of L2 norm <= `norm`
// in `dim` coordinates. INVALID_ARGUMENT as above, and for a bound above 2^62.
absl::StatusOr<uint64_t> NormBoundSquared(double norm, double beta, int64_t dim);

// The L2 sensitivity the accountant assumes for vectors that pass a bound_squared check: a
// double at or just above sqrt(bound_squared), never below it.
double NormBoundFromSquared(uint64_t bound_squared);

// For an integer vector of L2 norm <= l2 in dim coordinates: L1 <= min(l2^2, sqrt(dim) l2)
// (integer coordinates have |v| <= v^2; Cauchy-Schwarz).
double IntegerL1Bound(double l2, int64_t dim);

struct RoundingResult {
  int attempts = 0;            // draws made, >= 1
  absl::uint128 norm_squared;  // of the accepted vector
};

// out[j] = randomized rounding of z[j], conditioned on sum(out^2) <= bound_squared.
absl::StatusOr<RoundingResult> ConditionalRandomizedRound(absl::Span<const double> z,
                                                          uint64_t bound_squared, RandomBits& bits,
                                                          absl::Span<int64_t> out,
                                                          int max_attempts = 1000);

}  // namespace cohort::privacy

#endif  // COHORT_PRIVACY_RANDOMIZED_ROUNDING_H_
