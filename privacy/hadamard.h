#ifndef COHORT_PRIVACY_HADAMARD_H_
#define COHORT_PRIVACY_HADAMARD_H_

// The randomized Hadamard rotation of distributed DP (Kairouz, Liu, Steinke 2021, Sec. 4.2):
// U = H D / sqrt(d'), with d' the dimension padded up to a power of two, D a diagonal of random
// signs from a round-public seed and H the (unnormalized, +-1) Walsh-Hadamard matrix. U is
// orthogonal, so it preserves the L2 norm (the DP sensitivity) exactly, and it spreads a vector's
// energy over all coordinates: each coordinate of U x is a Rademacher sum with variance proxy
// ||x||^2 / d', which is what lets a narrow per-coordinate ring hold the sum (privacy/ring.h).
// The inverse is U^T = D H / sqrt(d') (H is symmetric and H H = d' I).
//
// Signs: bit i of the AES-128-CTR keystream (secagg::RawKeystream) keyed with the 32-byte seed,
// sign = +1 for a 0 bit. The seed is public, so the PRG need not be secret; it must only be the
// same on every device and the server, and independent of the data. Reusing the mask PRG gives a
// construction that is identical on every platform.
//
//   COHORT_ASSIGN_OR_RETURN(RandomizedHadamard rotation, RandomizedHadamard::Create(d, seed));
//   std::vector<double> y(rotation.padded_dimension());
//   COHORT_RETURN_IF_ERROR(rotation.Rotate(x, absl::MakeSpan(y)));      // y = U [x; 0]
//   COHORT_RETURN_IF_ERROR(rotation.Unrotate(absl::MakeSpan(y)));       // y = U^T y, in place
//
// Codes: INVALID_ARGUMENT for a dimension outside [1, kMaxRotationDimension], a seed that is not
// 32 bytes, or spans of the wrong length; INTERNAL if OpenSSL fails. Thread-safe: immutable
// after Create.

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace cohort::privacy {

// 2^28 padded coordinates (2 GiB of doubles) is far beyond any on-device model.
inline constexpr int64_t kMaxRotationDimension = int64_t{1} << 28;

// The smallest power of two >= dimension (dimension >= 1).
int64_t PaddedDimension(int64_t dimension);

// In-place unnormalized fast Walsh-Hadamard transform, O(n log n); values.size() must be a power
// of two (otherwise it does nothing and returns false).
bool FastWalshHadamard(absl::Span<double> values);

class RandomizedHadamard {
 public:
  static absl::StatusOr<RandomizedHadamard> Create(int64_t dimension, absl::string_view seed);

  int64_t dimension() const { return dimension_; }
  int64_t padded_dimension() const { return static_cast<int64_t>(signs_.size()); }

  // out = U [x; 0]: x has dimension() values, out padded_dimension().
  absl::Status Rotate(absl::Span<const float> x, absl::Span<double> out) const;
  absl::Status Rotate(absl::Span<const double> x, absl::Span<double> out) const;
  // values = U^T values, in place (padded_dimension() values); the first dimension() of the
  // result are the original coordinates, the rest are what the padding became (0 without noise).
  absl::Status Unrotate(absl::Span<double> values) const;

 private:
  RandomizedHadamard() = default;
  absl::Status RotateInPlace(absl::Span<double> out) const;

  int64_t dimension_ = 0;
  std::vector<int8_t> signs_;  // +1 / -1, padded_dimension() of them
};

}  // namespace cohort::privacy

#endif  // COHORT_PRIVACY_HADAMARD_H_
