#ifndef COHORT_SECAGG_SHAMIR_H_
#define COHORT_SECAGG_SHAMIR_H_

// Shamir t-of-k secret sharing of 32-byte secrets over the prime field F_p, p = 2^61 - 1.
// The secret is cut into five limbs of at most 56 bits (7+7+7+7+4 bytes, little endian), and each
// limb is shared with its own random polynomial of degree t - 1; all five polynomials are
// evaluated at the same x. The x-coordinate of a share is the holder's participant index (>= 1).
//
//   std::vector<int32_t> holders = {2, 5, 9};
//   COHORT_ASSIGN_OR_RETURN(std::vector<std::string> shares,
//       ShamirSplit(secret, /*threshold=*/2, holders, *OsRandom()));
//   std::vector<ShamirShare> some = {{5, shares[1]}, {9, shares[2]}};
//   COHORT_ASSIGN_OR_RETURN(SecretKey back, ShamirReconstruct(some, /*threshold=*/2));
//
// Share wire format (kShamirShareSize = 40 bytes): five u64 little-endian field elements, each
// < p, limb 0 first. The x-coordinate is not part of the bytes: it is the index of the device
// that holds (and returns) the share.
//
// Reconstruction interpolates from the first t shares and, when more are given, checks that
// every extra share lies on the same polynomials; it also checks that the recovered limbs fit
// their widths, which catches many (not all) corruptions when exactly t shares are given.
// Callers that can verify the secret (a private key against its public key) should.
//
// Codes: Split: INVALID_ARGUMENT for t < 1, t > number of holders, an index < 1, duplicates.
//        Reconstruct: FAILED_PRECONDITION for fewer than t shares; INVALID_ARGUMENT for a share
//        of the wrong length, a non-canonical field element, an index < 1, duplicate indices;
//        DATA_LOSS when the shares are inconsistent.
// Thread-safe (stateless functions).

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "secagg/random_source.h"
#include "secagg/secret_key.h"

namespace cohort::secagg {

inline constexpr size_t kShamirShareSize = 40;

struct ShamirShare {
  int32_t x = 0;      // the holder's participant index
  std::string value;  // kShamirShareSize bytes
};

// Returns one share per entry of `xs`, in the same order.
absl::StatusOr<std::vector<std::string>> ShamirSplit(const SecretKey& secret, int threshold,
                                                     absl::Span<const int32_t> xs,
                                                     RandomSource& random);

absl::StatusOr<SecretKey> ShamirReconstruct(absl::Span<const ShamirShare> shares, int threshold);

}  // namespace cohort::secagg

#endif  // COHORT_SECAGG_SHAMIR_H_
