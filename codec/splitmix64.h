#ifndef COHORT_CODEC_SPLITMIX64_H_
#define COHORT_CODEC_SPLITMIX64_H_

// The codec's deterministic randomness: Steele, Lea and Flood's SplitMix64 (OOPSLA 2014), a
// small, fast, statistically good (not cryptographic) generator. Output k of the stream from
// state s is Mix(s + k * gamma), so any element of a stream can be computed directly
// (`SplitMix64::At`), which lets the encoder quantize an update block by block and still draw
// exactly the numbers a whole-vector encoding draws.
//
// We use our own generator and our own conversion to doubles, not <random>'s distributions,
// whose output is implementation-defined: a seed must give the same model and the same encoded
// update with every standard library. The SDK trainer and the simulator use the same
// generator for shuffles and partitions.
//
//   SplitMix64 rng(MixSeed(seed, kStream));
//   double u = rng.NextDouble();                 // uniform in [0, 1), 53 random bits
//   double v = ToUnitDouble(SplitMix64::At(MixSeed(seed, kStream), 41));  // the 42nd draw
//
// This class is not thread-safe; the free functions are pure.

#include <cstdint>
#include <utility>

namespace cohort::codec {

inline constexpr uint64_t kSplitMix64Gamma = 0x9E3779B97F4A7C15ULL;

// The SplitMix64 output function (a variant of MurmurHash3's 64-bit finaliser).
constexpr uint64_t SplitMix64Mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Uniform in [0, 1) from the top 53 bits of `bits`; exact, so P(value < p) = p up to 2^-53.
constexpr double ToUnitDouble(uint64_t bits) { return static_cast<double>(bits >> 11) * 0x1.0p-53; }

class SplitMix64 {
 public:
  explicit constexpr SplitMix64(uint64_t seed) : state_(seed) {}

  constexpr uint64_t Next() { return SplitMix64Mix(state_ += kSplitMix64Gamma); }
  constexpr double NextDouble() { return ToUnitDouble(Next()); }

  // Uniform in (0, 1]: safe to take the logarithm of.
  constexpr double NextDoubleOpenZero() {
    return static_cast<double>((Next() >> 11) + 1) * 0x1.0p-53;
  }

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

  // Output `index` (0-based) of the stream a generator seeded with `seed` produces, i.e. the
  // value of the (index + 1)-th Next() call, without producing the ones before it.
  static constexpr uint64_t At(uint64_t seed, uint64_t index) {
    return SplitMix64Mix(seed + (index + 1) * kSplitMix64Gamma);
  }

 private:
  uint64_t state_;
};

// Derives an independent-looking seed for stream `stream` of `seed`, so that, e.g., the
// initial model and the quantization noise drawn from the same user seed do not overlap.
constexpr uint64_t MixSeed(uint64_t seed, uint64_t stream) {
  SplitMix64 g(seed ^ (stream * 0xD1B54A32D192ED03ULL + 0x8BB84B93962EACC9ULL));
  g.Next();
  return g.Next();
}

}  // namespace cohort::codec

#endif  // COHORT_CODEC_SPLITMIX64_H_
