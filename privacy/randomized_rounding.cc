#include "privacy/randomized_rounding.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"

namespace cohort::privacy {

absl::StatusOr<uint64_t> NormBoundSquared(double norm, double beta, int64_t dim) {
  if (!(beta >= 0 && beta < 1)) {
    return absl::InvalidArgumentError(absl::StrCat("beta must be in [0, 1), got ", beta));
  }
  if (!std::isfinite(norm) || norm < 0) {
    return absl::InvalidArgumentError(absl::StrCat("the norm must be finite and >= 0, got ", norm));
  }
  if (dim < 1) return absl::InvalidArgumentError(absl::StrCat("dim must be >= 1, got ", dim));
  const double d = static_cast<double>(dim);
  const double always = (norm + std::sqrt(d)) * (norm + std::sqrt(d));
  double bound = always;
  if (beta > 0) {
    const double likely =
        norm * norm + d / 4 + std::sqrt(2 * std::log(1 / beta)) * (norm + std::sqrt(d) / 2);
    bound = std::min(always, likely);
  }
  if (!(bound < 0x1.0p62)) {
    return absl::InvalidArgumentError(absl::StrCat("the rounded norm bound ", std::sqrt(bound),
                                                   " is too large (more than 2^31); lower the "
                                                   "scale"));
  }
  return static_cast<uint64_t>(std::floor(bound));
}

double NormBoundFromSquared(uint64_t bound_squared) {
  double root = std::sqrt(static_cast<double>(bound_squared));
  // sqrt of the (exactly representable up to 2^53, else rounded) integer may round down; step up
  // until the square certainly covers the integer.
  while (root * root < static_cast<double>(bound_squared)) {
    root = std::nextafter(root, std::numeric_limits<double>::infinity());
  }
  return std::nextafter(root, std::numeric_limits<double>::infinity());
}

double IntegerL1Bound(double l2, int64_t dim) {
  return l2 * std::min(l2, std::sqrt(static_cast<double>(dim)));
}

absl::StatusOr<RoundingResult> ConditionalRandomizedRound(absl::Span<const double> z,
                                                          uint64_t bound_squared, RandomBits& bits,
                                                          absl::Span<int64_t> out,
                                                          int max_attempts) {
  if (z.size() != out.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("rounding ", z.size(), " values into ", out.size()));
  }
  double real_norm_squared = 0;
  for (size_t j = 0; j < z.size(); ++j) {
    if (!std::isfinite(z[j]) || std::abs(z[j]) > 0x1.0p40) {
      return absl::InvalidArgumentError(
          absl::StrCat("value ", j, " is ", z[j], "; rounding needs finite values below 2^40"));
    }
    real_norm_squared += z[j] * z[j];
  }
  if (real_norm_squared > static_cast<double>(bound_squared)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the vector's norm ", std::sqrt(real_norm_squared), " is already above the bound ",
        std::sqrt(static_cast<double>(bound_squared)), "; clip before rounding"));
  }
  RoundingResult result;
  for (int attempt = 1; attempt <= max_attempts; ++attempt) {
    absl::uint128 norm_squared = 0;
    for (size_t j = 0; j < z.size(); ++j) {
      const double floor = std::floor(z[j]);
      int64_t v = static_cast<int64_t>(floor);
      if (bits.UnitDouble() < z[j] - floor) ++v;
      out[j] = v;
      const uint64_t magnitude = static_cast<uint64_t>(v < 0 ? -v : v);
      norm_squared += absl::uint128(magnitude) * magnitude;
    }
    if (norm_squared <= bound_squared) {
      result.attempts = attempt;
      result.norm_squared = norm_squared;
      return result;
    }
  }
  return absl::ResourceExhaustedError(
      absl::StrCat("conditional rounding failed ", max_attempts, " times in a row; the norm bound ",
                   std::sqrt(static_cast<double>(bound_squared)), " is too tight for this vector"));
}

}  // namespace cohort::privacy
