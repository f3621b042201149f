#include "secagg/packing.h"

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "secagg/prg.h"

namespace cohort::secagg {
namespace {

absl::Status CheckBits(int m) {
  if (m < kMinModulusBits || m > kMaxModulusBits) {
    return absl::InvalidArgumentError(absl::StrCat("modulus bits must be in [", kMinModulusBits,
                                                   ", ", kMaxModulusBits, "], got ", m));
  }
  return absl::OkStatus();
}

// Reads up to 8 bytes little-endian without running past the end.
inline uint64_t LoadTail(const uint8_t* p, size_t available) {
  uint64_t v = 0;
  std::memcpy(&v, p, available < 8 ? available : 8);
  return v;
}

// Every stream bit past the `count` elements must be zero. Callers pass buffers of exactly
// PackedSize(count, m) bytes, so fewer than 8 bits are left, but the check holds for any length:
// a shift by 8 or more is never taken.
absl::Status CheckPadding(absl::string_view bytes, size_t count, int m) {
  const size_t used_bits = count * static_cast<size_t>(m);
  const size_t total_bits = bytes.size() * 8;
  if (used_bits >= total_bits) return absl::OkStatus();
  size_t byte = used_bits / 8;
  const unsigned used_in_byte = static_cast<unsigned>(used_bits % 8);
  bool nonzero = (static_cast<uint8_t>(bytes[byte]) >> used_in_byte) != 0;
  for (++byte; byte < bytes.size(); ++byte) nonzero |= bytes[byte] != 0;
  if (nonzero) return absl::InvalidArgumentError("packed elements carry non-zero padding bits");
  return absl::OkStatus();
}

// Calls sink(j, element j) for the first `count` elements.
template <typename Sink>
void ForEachElement(absl::string_view bytes, int m, size_t count, Sink sink) {
  const uint8_t* p = reinterpret_cast<const uint8_t*>(bytes.data());
  const size_t size = bytes.size();
  size_t pos = 0;
  unsigned __int128 acc = 0;
  int nbits = 0;
  const uint64_t mask = (uint64_t{1} << m) - 1;
  for (size_t j = 0; j < count; ++j) {
    if (nbits < m) {
      acc |= static_cast<unsigned __int128>(LoadTail(p + pos, size - pos)) << nbits;
      const size_t taken = size - pos < 8 ? size - pos : 8;
      pos += taken;
      nbits += static_cast<int>(8 * taken);
    }
    sink(j, static_cast<uint64_t>(acc) & mask);
    acc >>= m;
    nbits -= m;
  }
}

}  // namespace

size_t PackedSize(size_t count, int modulus_bits) {
  return (count * static_cast<size_t>(modulus_bits) + 7) / 8;
}

absl::StatusOr<std::string> Pack(absl::Span<const uint64_t> values, int modulus_bits) {
  if (absl::Status s = CheckBits(modulus_bits); !s.ok()) return s;
  const int m = modulus_bits;
  std::string out(PackedSize(values.size(), m), '\0');
  uint8_t* p = reinterpret_cast<uint8_t*>(out.data());
  size_t pos = 0;
  unsigned __int128 acc = 0;
  int nbits = 0;
  uint64_t overflow = 0;
  for (uint64_t v : values) {
    overflow |= v >> m;
    acc |= static_cast<unsigned __int128>(v) << nbits;
    nbits += m;
    if (nbits >= 64) {
      const uint64_t word = static_cast<uint64_t>(acc);
      std::memcpy(p + pos, &word, 8);
      pos += 8;
      acc >>= 64;
      nbits -= 64;
    }
  }
  while (nbits > 0) {
    p[pos++] = static_cast<uint8_t>(acc);
    acc >>= 8;
    nbits -= 8;
  }
  if (overflow != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("an element does not fit in ", m, " bits"));
  }
  return out;
}

absl::Status CheckPacked(absl::string_view bytes, int modulus_bits, size_t count) {
  if (absl::Status s = CheckBits(modulus_bits); !s.ok()) return s;
  if (bytes.size() != PackedSize(count, modulus_bits)) {
    return absl::InvalidArgumentError(absl::StrCat(count, " elements of ", modulus_bits,
                                                   " bits take ", PackedSize(count, modulus_bits),
                                                   " bytes, got ", bytes.size()));
  }
  return CheckPadding(bytes, count, modulus_bits);
}

absl::StatusOr<std::vector<uint64_t>> Unpack(absl::string_view bytes, int modulus_bits,
                                             size_t count) {
  if (absl::Status s = CheckPacked(bytes, modulus_bits, count); !s.ok()) return s;
  std::vector<uint64_t> out(count);
  ForEachElement(bytes, modulus_bits, count, [&](size_t j, uint64_t v) { out[j] = v; });
  return out;
}

absl::Status UnpackAndAccumulate(absl::string_view bytes, int modulus_bits, int64_t offset,
                                 absl::Span<uint64_t> sum) {
  if (absl::Status s = CheckBits(modulus_bits); !s.ok()) return s;
  const size_t count = bytes.size() * 8 / static_cast<size_t>(modulus_bits);
  if (bytes.size() != PackedSize(count, modulus_bits)) {
    // A whole byte (or more) of padding: not what Pack produces for any element count.
    return absl::InvalidArgumentError(absl::StrCat(
        bytes.size(), " bytes are not a packing of whole ", modulus_bits, "-bit elements"));
  }
  if (offset < 0 || static_cast<uint64_t>(offset) > sum.size() ||
      count > sum.size() - static_cast<size_t>(offset)) {
    return absl::InvalidArgumentError(absl::StrCat("a chunk of ", count, " elements at offset ",
                                                   offset, " does not fit in a sum of ",
                                                   sum.size()));
  }
  if (absl::Status s = CheckPadding(bytes, count, modulus_bits); !s.ok()) return s;
  const uint64_t mask = (uint64_t{1} << modulus_bits) - 1;
  uint64_t* base = sum.data() + offset;
  ForEachElement(bytes, modulus_bits, count,
                 [&](size_t j, uint64_t v) { base[j] = (base[j] + v) & mask; });
  return absl::OkStatus();
}

}  // namespace cohort::secagg
