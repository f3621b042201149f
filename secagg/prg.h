#ifndef COHORT_SECAGG_PRG_H_
#define COHORT_SECAGG_PRG_H_

// The mask PRG: expands a 32-byte seed into a stream of elements of Z_R, R = 2^m, 8 <= m <= 62,
// that can be entered at any element offset. Server and client produce identical streams.
//
//   COHORT_ASSIGN_OR_RETURN(MaskPrg prg, MaskPrg::Create(seed, /*modulus_bits=*/32));
//   prg.AddTo(/*offset=*/chunk_index * chunk, absl::MakeSpan(chunk_values));   // x += PRG
//   prg.SubtractFrom(0, absl::MakeSpan(sum));                                  // sum -= PRG
//
// Construction (docs/secagg.md, "PRG"): AES-128-CTR keyed with the seed's first 16 bytes,
// 128-bit big-endian counter starting at 0, over an all-zero plaintext, i.e. the raw keystream.
// Element i is the little-endian integer formed by keystream bytes [i*L, (i+1)*L), reduced mod
// 2^m by masking (exactly uniform, since R is a power of two), where L, the lane width, is the
// smallest of 1, 2, 4, 8 bytes that holds m bits. Seeking to element i starts the counter at
// floor(i*L/16).
// Why power-of-two lanes: the add pass is then a plain vector add over the keystream buffer (no
// 3-, 5-, 6- or 7-byte unpacking), which keeps masking at the cipher's speed; it costs up to a
// third more keystream for m in 17..24 and 33..56. Why AES-128-CTR: the stated security level of
// the protocol is 128 bits (X25519), and with AES-NI/VAES (and the ARMv8 crypto extensions on
// phones) OpenSSL 3 produces AES-128-CTR keystream ~1.3x faster than AES-256-CTR and ~1.6x faster
// than ChaCha20; masking is keystream-bound. Each seed keys one stream only (self-mask seeds are
// fresh, pairwise seeds are bound to the round by HKDF), so the fixed zero IV is safe.
//
// Values come in 64-bit or, when m <= 32, 32-bit lanes (half the memory traffic of the add).
// Consecutive calls that continue where the previous one ended do not re-seek the cipher.
//
// Codes: Create returns INVALID_ARGUMENT for m outside [8, 62]. Generate/AddTo/SubtractFrom
// return INVALID_ARGUMENT for a negative offset or 32-bit values with m > 32, and INTERNAL if
// OpenSSL fails. This class is not thread-safe (it keeps an OpenSSL cipher context); use one per
// thread.

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "secagg/secret_key.h"

namespace cohort::secagg {

inline constexpr int kMinModulusBits = 8;
inline constexpr int kMaxModulusBits = 62;

// Keystream bytes per element for modulus bits m: 1, 2, 4 or 8.
int PrgLaneBytes(int modulus_bits);

class MaskPrg {
 public:
  static absl::StatusOr<MaskPrg> Create(const SecretKey& seed, int modulus_bits);
  MaskPrg(MaskPrg&&) noexcept;
  MaskPrg& operator=(MaskPrg&&) noexcept;
  ~MaskPrg();

  int modulus_bits() const { return modulus_bits_; }
  // Bytes of keystream consumed per element (PrgLaneBytes(m)).
  int bytes_per_element() const { return bytes_per_element_; }

  // out[j] = element (offset + j).
  absl::Status Generate(int64_t offset, absl::Span<uint64_t> out);
  // values[j] = (values[j] + element(offset + j)) mod 2^m. values must already be < 2^m for the
  // result to be reduced; inputs >= 2^m are reduced as well (the sum is taken mod 2^m).
  absl::Status AddTo(int64_t offset, absl::Span<uint64_t> values);
  absl::Status AddTo(int64_t offset, absl::Span<uint32_t> values);
  // values[j] = (values[j] - element(offset + j)) mod 2^m.
  absl::Status SubtractFrom(int64_t offset, absl::Span<uint64_t> values);
  absl::Status SubtractFrom(int64_t offset, absl::Span<uint32_t> values);

 private:
  enum class Op { kSet, kAdd, kSubtract };
  MaskPrg(void* ctx, int modulus_bits);
  template <typename T>
  absl::Status Apply(Op op, int64_t offset, absl::Span<T> values);
  bool SeekTo(uint64_t byte);

  void* ctx_;  // EVP_CIPHER_CTX*, owned; holds the key schedule.
  int modulus_bits_;
  int bytes_per_element_;
  int64_t position_ = -1;  // keystream byte the context produces next; -1 when unknown
};

// Expands the raw keystream (for the benchmark's floor and for known-answer tests):
// AES-128-CTR(first 16 bytes of seed, counter = 0) over zeros, `out.size()` bytes.
absl::Status RawKeystream(const SecretKey& seed, absl::Span<uint8_t> out);

}  // namespace cohort::secagg

#endif  // COHORT_SECAGG_PRG_H_
