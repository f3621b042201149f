#ifndef COHORT_CLIENT_SDK_TRAINER_SPLITMIX64_H_
#define COHORT_CLIENT_SDK_TRAINER_SPLITMIX64_H_

#include <cstdint>
#include <utility>

namespace cohort::client {

// Steele, Lea and Flood's SplitMix64: a tiny, fast, statistically good (not cryptographic) PRNG.
// We use our own generator, not <random>'s distributions or std::shuffle, because those are
// implementation-defined: the same seed must give the same shuffle on every standard library.
// This class is not thread-safe.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}

  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }

  // Uniform in [0, 1) with 53 random bits.
  double NextDouble() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

  // Uniform in (0, 1]: safe to take the logarithm of.
  double NextDoubleOpenZero() { return static_cast<double>((Next() >> 11) + 1) * 0x1.0p-53; }

  // Uniform in [0, n) without modulo bias (Lemire's multiply-and-reject). Requires n > 0.
  uint64_t NextBelow(uint64_t n) {
    unsigned __int128 m = static_cast<unsigned __int128>(Next()) * n;
    auto low = static_cast<uint64_t>(m);
    if (low < n) {
      const uint64_t threshold = -n % n;
      while (low < threshold) {
        m = static_cast<unsigned __int128>(Next()) * n;
        low = static_cast<uint64_t>(m);
      }
    }
    return static_cast<uint64_t>(m >> 64);
  }

  // Fisher-Yates shuffle of [first, last).
  template <typename RandomIt>
  void Shuffle(RandomIt first, RandomIt last) {
    const auto n = static_cast<uint64_t>(last - first);
    for (uint64_t i = n; i > 1; --i) {
      const uint64_t j = NextBelow(i);
      using std::swap;
      swap(first[i - 1], first[j]);
    }
  }

 private:
  uint64_t state_;
};

// Mixes a seed with a stream number into an independent-looking seed, so that e.g. device 7's
// generator and round 3's generator do not overlap with their neighbours'.
inline uint64_t MixSeed(uint64_t seed, uint64_t stream) {
  SplitMix64 g(seed ^ (stream * 0xD1B54A32D192ED03ULL + 0x8BB84B93962EACC9ULL));
  g.Next();
  return g.Next();
}

}  // namespace cohort::client

#endif  // COHORT_CLIENT_SDK_TRAINER_SPLITMIX64_H_
