#ifndef COHORT_SECAGG_PACKING_H_
#define COHORT_SECAGG_PACKING_H_

// Bit-packing of elements of Z_(2^m) for the wire: masked values are uniform, so m bits each is
// the best any encoding can do.
//
//   COHORT_ASSIGN_OR_RETURN(std::string wire, Pack(masked_chunk, /*modulus_bits=*/20));
//   // server side, chunk c of `chunk_elements`:
//   COHORT_RETURN_IF_ERROR(UnpackAndAccumulate(wire, 20, c * chunk_elements, absl::MakeSpan(sum)));
//
// Format: a little-endian bit stream. Element i occupies stream bits [i*m, (i+1)*m), least
// significant bit first; stream bit b is bit (b mod 8) of byte floor(b / 8). The last byte is
// padded with zero bits. PackedSize(count, m) = ceil(count * m / 8). Because m >= 8 > padding,
// the element count of a packed buffer is exactly floor(8 * bytes / m).
//
// Codes: INVALID_ARGUMENT for m outside [8, 62], an element >= 2^m (Pack), non-zero padding,
// a count mismatch, or a chunk that does not fit in the sum at `offset`.
// Thread-safe (stateless functions).

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "secagg/prg.h"  // kMinModulusBits, kMaxModulusBits

namespace cohort::secagg {

size_t PackedSize(size_t count, int modulus_bits);

absl::StatusOr<std::string> Pack(absl::Span<const uint64_t> values, int modulus_bits);

// OK when `bytes` is a packing of exactly `count` elements: the right size and zero padding.
absl::Status CheckPacked(absl::string_view bytes, int modulus_bits, size_t count);

// Unpacks exactly `count` elements; INVALID_ARGUMENT if bytes.size() != PackedSize(count, m).
absl::StatusOr<std::vector<uint64_t>> Unpack(absl::string_view bytes, int modulus_bits,
                                             size_t count);

// sum[offset + j] = (sum[offset + j] + element j of `bytes`) mod 2^m for every packed element,
// without an intermediate vector. The element count is floor(8 * bytes.size() / m); a buffer
// with 8 or more padding bits (bytes.size() != PackedSize(count, m)) is refused.
absl::Status UnpackAndAccumulate(absl::string_view bytes, int modulus_bits, int64_t offset,
                                 absl::Span<uint64_t> sum);

}  // namespace cohort::secagg

#endif  // COHORT_SECAGG_PACKING_H_
