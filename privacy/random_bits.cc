#include "privacy/random_bits.h"

#include <bit>
#include <cstring>

namespace cohort::privacy {

uint64_t RandomBits::NextWord() {
  if (next_word_ == words_.size()) {
    uint8_t bytes[sizeof(words_)];
    source_.Fill(absl::MakeSpan(bytes, sizeof(bytes)));
    std::memcpy(words_.data(), bytes, sizeof(bytes));
    next_word_ = 0;
  }
  return words_[next_word_++];
}

uint64_t RandomBits::Bits(int count) {
  if (count <= 0) return 0;
  bits_used_ += static_cast<uint64_t>(count);
  if (count == 64) {
    // Keep the pending bits for later draws; a whole word comes straight from the buffer.
    return NextWord();
  }
  uint64_t result = 0;
  int have = 0;
  while (have < count) {
    if (pending_count_ == 0) {
      pending_ = NextWord();
      pending_count_ = 64;
    }
    const int take = std::min(count - have, pending_count_);
    const uint64_t mask = take == 64 ? ~uint64_t{0} : (uint64_t{1} << take) - 1;
    result |= (pending_ & mask) << have;
    pending_ = take == 64 ? 0 : pending_ >> take;
    pending_count_ -= take;
    have += take;
  }
  return result;
}

uint64_t RandomBits::UniformBelow(uint64_t n) {
  if (n <= 1) return 0;
  const int width = std::bit_width(n - 1);
  while (true) {
    const uint64_t candidate = Bits(width);
    if (candidate < n) return candidate;
  }
}

absl::uint128 RandomBits::UniformBelow(absl::uint128 n) {
  if (absl::Uint128High64(n) == 0) return UniformBelow(absl::Uint128Low64(n));
  const int width = 64 + std::bit_width(absl::Uint128High64(n - 1));
  while (true) {
    const uint64_t low = Bits(64);
    const uint64_t high = Bits(width - 64);
    const absl::uint128 candidate = absl::MakeUint128(high, low);
    if (candidate < n) return candidate;
  }
}

bool RandomBits::Bernoulli(uint64_t num, uint64_t den) {
  if (num >= den) return true;
  if (num == 0) return false;
  return UniformBelow(den) < num;
}

bool RandomBits::Bernoulli(absl::uint128 num, absl::uint128 den) {
  if (num >= den) return true;
  if (num == 0) return false;
  return UniformBelow(den) < num;
}

double RandomBits::UnitDouble() { return static_cast<double>(Bits(53)) * 0x1.0p-53; }

}  // namespace cohort::privacy
