#ifndef COHORT_SECAGG_TESTING_FAKE_RANDOM_SOURCE_H_
#define COHORT_SECAGG_TESTING_FAKE_RANDOM_SOURCE_H_

// A deterministic RandomSource for tests and simulations: the same seed gives the same bytes.
// NEVER use it for real keys.
//
//   cohort::secagg::FakeRandomSource rng(42);
//   auto pair = cohort::secagg::KeyPair::Generate(rng);
//
// This class is not thread-safe.

#include <cstdint>

#include "absl/types/span.h"
#include "secagg/random_source.h"

namespace cohort::secagg {

class FakeRandomSource : public RandomSource {
 public:
  explicit FakeRandomSource(uint64_t seed) : state_(seed) {}
  void Fill(absl::Span<uint8_t> out) override;
  // Convenience for tests: the next 64 random bits.
  uint64_t NextU64();

 private:
  uint64_t state_;
};

}  // namespace cohort::secagg

#endif  // COHORT_SECAGG_TESTING_FAKE_RANDOM_SOURCE_H_
