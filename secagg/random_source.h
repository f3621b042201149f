#ifndef COHORT_SECAGG_RANDOM_SOURCE_H_
#define COHORT_SECAGG_RANDOM_SOURCE_H_

// Where every secret of the secagg library comes from. Randomness is injected so that tests and
// simulations are reproducible (secagg/testing/fake_random_source.h) while production uses the
// operating system's CSPRNG through OpenSSL.
//
//   cohort::secagg::RandomSource& rng = *cohort::secagg::OsRandom();
//   std::array<uint8_t, 32> seed;
//   rng.Fill(absl::MakeSpan(seed));

#include <cstdint>

#include "absl/types/span.h"

namespace cohort::secagg {

// A source of uniformly random bytes. Implementations document their own thread-safety.
class RandomSource {
 public:
  virtual ~RandomSource() = default;
  // Fills `out` completely. Never fails: a CSPRNG that cannot produce bytes aborts the process,
  // because continuing with predictable keys would be worse than crashing.
  virtual void Fill(absl::Span<uint8_t> out) = 0;
};

// OpenSSL's RAND_bytes. The returned object is a process-wide singleton, never null, never to be
// deleted, and thread-safe (OpenSSL 3's default DRBG is per thread).
RandomSource* OsRandom();

}  // namespace cohort::secagg

#endif  // COHORT_SECAGG_RANDOM_SOURCE_H_
