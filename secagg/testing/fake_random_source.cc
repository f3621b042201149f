#include "secagg/testing/fake_random_source.h"

#include <cstring>

namespace cohort::secagg {

// SplitMix64: tiny, fast, and good enough to make test keys look random. Not a CSPRNG.
uint64_t FakeRandomSource::NextU64() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void FakeRandomSource::Fill(absl::Span<uint8_t> out) {
  size_t i = 0;
  while (i < out.size()) {
    const uint64_t word = NextU64();
    const size_t n = std::min<size_t>(8, out.size() - i);
    std::memcpy(out.data() + i, &word, n);
    i += n;
  }
}

}  // namespace cohort::secagg
