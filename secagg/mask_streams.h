#ifndef COHORT_SECAGG_MASK_STREAMS_H_
#define COHORT_SECAGG_MASK_STREAMS_H_

// The set of PRG streams one party applies to a vector: a device adds its self mask and its
// signed pairwise masks, the server removes what the survivors' sum still holds.
//
//   MaskStreams streams(/*modulus_bits=*/18);
//   streams.Add(std::move(self_prg));
//   streams.Subtract(std::move(pairwise_prg));
//   COHORT_RETURN_IF_ERROR(streams.ApplyTo(/*offset=*/begin, absl::MakeSpan(chunk)));
//
// ApplyTo walks the vector in blocks that stay in L2 and applies every stream to a block before
// the next, so each element is loaded once per block, not once per stream; when m <= 32 a block
// is worked on in 32-bit lanes (half the memory traffic of the add pass). Consecutive calls that
// continue where the last one ended keep every stream's cipher position.
//
// Codes: INVALID_ARGUMENT for a negative offset or a stream of another modulus; INTERNAL if
// OpenSSL fails. Not thread-safe.

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "secagg/prg.h"

namespace cohort::secagg {

class MaskStreams {
 public:
  explicit MaskStreams(int modulus_bits) : modulus_bits_(modulus_bits) {}

  void Add(MaskPrg prg) { add_.push_back(std::move(prg)); }
  void Subtract(MaskPrg prg) { subtract_.push_back(std::move(prg)); }
  size_t size() const { return add_.size() + subtract_.size(); }

  // values[j] = values[j] + Σ add(offset + j) − Σ subtract(offset + j)  mod 2^m.
  absl::Status ApplyTo(int64_t offset, absl::Span<uint64_t> values);

 private:
  template <typename T>
  absl::Status ApplyBlock(int64_t offset, absl::Span<T> block);

  int modulus_bits_;
  std::vector<MaskPrg> add_;
  std::vector<MaskPrg> subtract_;
  std::vector<uint32_t> lanes_;  // the current block in 32-bit lanes (m <= 32)
};

}  // namespace cohort::secagg

#endif  // COHORT_SECAGG_MASK_STREAMS_H_
