#ifndef COHORT_PRIVACY_RANDOM_BITS_H_
#define COHORT_PRIVACY_RANDOM_BITS_H_

// Uniform integers and exact rational Bernoulli trials drawn from an injected
// secagg::RandomSource, the one place the privacy module's samplers get randomness.
//
// Why a buffer of whole words and bit-level draws: the samplers of discrete noise draw several
// small uniform integers per coordinate (CKS 2020 needs Bernoulli(n/d) trials), and a device
// encodes up to millions of coordinates per round. Asking the RandomSource (OpenSSL's RAND_bytes
// in production) for 8 bytes at a time would make that call the cost; taking exactly as many
// bits as each draw needs keeps the CSPRNG output per coordinate small.
//
// Exactness: UniformBelow(n) is exactly uniform (rejection of the k-bit values >= n, with
// k = bit width of n - 1), so Bernoulli(num, den) is exactly num / den. Nothing here uses
// floating point except UnitDouble, which is only for samplers that say they are approximate.
//
//   secagg::RandomSource& source = *secagg::OsRandom();
//   RandomBits bits(source);
//   bool heads = bits.Bernoulli(1, 3);   // P = 1/3 exactly
//
// Does not own the source, which must outlive it. This class is not thread-safe.

#include <array>
#include <cstdint>

#include "absl/numeric/int128.h"
#include "secagg/random_source.h"

namespace cohort::privacy {

class RandomBits {
 public:
  explicit RandomBits(secagg::RandomSource& source) : source_(source) {}
  RandomBits(const RandomBits&) = delete;
  RandomBits& operator=(const RandomBits&) = delete;

  // `count` (0..64) fresh uniform bits, in the low bits of the result.
  uint64_t Bits(int count);
  // Uniform in [0, n); n >= 1 (n == 0 is a programming error and returns 0).
  uint64_t UniformBelow(uint64_t n);
  absl::uint128 UniformBelow(absl::uint128 n);
  // True with probability exactly num / den; requires 0 <= num <= den, den >= 1.
  bool Bernoulli(uint64_t num, uint64_t den);
  bool Bernoulli(absl::uint128 num, absl::uint128 den);
  // Uniform on the grid {0, 2^-53, ..., 1 - 2^-53}.
  double UnitDouble();

  // Total bits handed out so far (for tests and the benchmark).
  uint64_t bits_used() const { return bits_used_; }

 private:
  uint64_t NextWord();

  secagg::RandomSource& source_;
  std::array<uint64_t, 64> words_{};
  size_t next_word_ = words_.size();  // empty: the first draw fills the buffer
  uint64_t pending_ = 0;              // unused bits of the current word, low first
  int pending_count_ = 0;
  uint64_t bits_used_ = 0;
};

}  // namespace cohort::privacy

#endif  // COHORT_PRIVACY_RANDOM_BITS_H_
