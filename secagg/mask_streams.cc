#include "secagg/mask_streams.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace cohort::secagg {
namespace {

// Elements per pass over all streams: 32 KiB of 32-bit lanes, in L1/L2 beside the keystream.
constexpr size_t kBlock = 8192;
// Conversions run in fixed-size groups so that GCC's -O2 cost model vectorises them.
constexpr size_t kGroup = 64;

// The spans never overlap (a block and the lane scratch); saying so lets GCC vectorise.
void Narrow(absl::Span<const uint64_t> in, absl::Span<uint32_t> out) {
  const uint64_t* __restrict from = in.data();
  uint32_t* __restrict to = out.data();
  size_t j = 0;
  for (; j + kGroup <= in.size(); j += kGroup) {
    for (size_t i = j; i < j + kGroup; ++i) to[i] = static_cast<uint32_t>(from[i]);
  }
  for (; j < in.size(); ++j) to[j] = static_cast<uint32_t>(from[j]);
}

void Widen(absl::Span<const uint32_t> in, uint64_t mask, absl::Span<uint64_t> out) {
  const uint32_t* __restrict from = in.data();
  uint64_t* __restrict to = out.data();
  size_t j = 0;
  for (; j + kGroup <= in.size(); j += kGroup) {
    for (size_t i = j; i < j + kGroup; ++i) to[i] = uint64_t{from[i]} & mask;
  }
  for (; j < in.size(); ++j) to[j] = uint64_t{from[j]} & mask;
}

}  // namespace

template <typename T>
absl::Status MaskStreams::ApplyBlock(int64_t offset, absl::Span<T> block) {
  for (MaskPrg& prg : add_) COHORT_RETURN_IF_ERROR(prg.AddTo(offset, block));
  for (MaskPrg& prg : subtract_) COHORT_RETURN_IF_ERROR(prg.SubtractFrom(offset, block));
  return absl::OkStatus();
}

absl::Status MaskStreams::ApplyTo(int64_t offset, absl::Span<uint64_t> values) {
  if (offset < 0) return absl::InvalidArgumentError(absl::StrCat("negative offset ", offset));
  for (const std::vector<MaskPrg>* streams : {&add_, &subtract_}) {
    for (const MaskPrg& prg : *streams) {
      if (prg.modulus_bits() != modulus_bits_) {
        return absl::InvalidArgumentError(absl::StrCat("a stream of ", prg.modulus_bits(),
                                                       " bits among streams of ", modulus_bits_));
      }
    }
  }
  const bool narrow = modulus_bits_ <= 32;
  if (narrow) lanes_.resize(std::min(kBlock, values.size()));
  for (size_t start = 0; start < values.size(); start += kBlock) {
    const size_t len = std::min(kBlock, values.size() - start);
    absl::Span<uint64_t> block = values.subspan(start, len);
    const int64_t at = offset + static_cast<int64_t>(start);
    if (!narrow) {
      COHORT_RETURN_IF_ERROR(ApplyBlock(at, block));
      continue;
    }
    // Values above 2^32 are reduced mod 2^m like the 64-bit path would (2^m divides 2^32).
    absl::Span<uint32_t> lanes = absl::MakeSpan(lanes_).subspan(0, len);
    Narrow(block, lanes);
    COHORT_RETURN_IF_ERROR(ApplyBlock(at, lanes));
    Widen(lanes, (uint64_t{1} << modulus_bits_) - 1, block);
  }
  return absl::OkStatus();
}

}  // namespace cohort::secagg
