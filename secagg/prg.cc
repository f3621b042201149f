#include "secagg/prg.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace cohort::secagg {
namespace {

// Elements per EVP call: large enough to amortise the call, small enough that the keystream
// buffer stays in L1/L2 next to the values it is added to.
constexpr size_t kElementsPerBlock = 2048;
constexpr size_t kMaxBufferBytes = kElementsPerBlock * 8;
alignas(64) const uint8_t kZeros[kMaxBufferBytes] = {};

EVP_CIPHER_CTX* Ctx(void* p) { return static_cast<EVP_CIPHER_CTX*>(p); }

template <int B>
inline uint64_t Load(const uint8_t* p) {
  uint64_t v = 0;
  std::memcpy(&v, p, B);  // little-endian hosts only (x86-64, arm64); see static_assert below
  return v;
}

enum class Mode { kSet, kAdd, kSubtract };

template <int B, Mode kMode>
void Combine(const uint8_t* keystream, uint64_t* values, size_t n, uint64_t mask) {
  for (size_t j = 0; j < n; ++j) {
    const uint64_t e = Load<B>(keystream + j * B);
    if constexpr (kMode == Mode::kSet) {
      values[j] = e & mask;
    } else if constexpr (kMode == Mode::kAdd) {
      values[j] = (values[j] + e) & mask;
    } else {
      values[j] = (values[j] - e) & mask;
    }
  }
}

template <Mode kMode>
void CombineAny(int bytes_per_element, const uint8_t* ks, uint64_t* values, size_t n,
                uint64_t mask) {
  switch (bytes_per_element) {
    case 1: return Combine<1, kMode>(ks, values, n, mask);
    case 2: return Combine<2, kMode>(ks, values, n, mask);
    case 3: return Combine<3, kMode>(ks, values, n, mask);
    case 4: return Combine<4, kMode>(ks, values, n, mask);
    case 5: return Combine<5, kMode>(ks, values, n, mask);
    case 6: return Combine<6, kMode>(ks, values, n, mask);
    case 7: return Combine<7, kMode>(ks, values, n, mask);
    default: return Combine<8, kMode>(ks, values, n, mask);
  }
}

// Positions the CTR stream at byte `start`: the counter block start / 16, then start % 16
// bytes discarded.
bool Seek(EVP_CIPHER_CTX* ctx, uint64_t start) {
  uint8_t iv[16] = {0};
  const uint64_t block = start / 16;
  for (int i = 0; i < 8; ++i) iv[15 - i] = static_cast<uint8_t>(block >> (8 * i));
  if (EVP_EncryptInit_ex(ctx, nullptr, nullptr, nullptr, iv) != 1) return false;
  const int skip = static_cast<int>(start % 16);
  if (skip != 0) {
    uint8_t discard[16];
    int len = 0;
    if (EVP_EncryptUpdate(ctx, discard, &len, kZeros, skip) != 1) return false;
  }
  return true;
}

EVP_CIPHER_CTX* NewCtx(const SecretKey& seed) {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  if (ctx == nullptr) return nullptr;
  uint8_t iv[16] = {0};
  if (EVP_EncryptInit_ex(ctx, EVP_aes_256_ctr(), nullptr, seed.data(), iv) != 1) {
    EVP_CIPHER_CTX_free(ctx);
    return nullptr;
  }
  return ctx;
}

}  // namespace

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "MaskPrg assumes a little-endian host");

absl::StatusOr<MaskPrg> MaskPrg::Create(const SecretKey& seed, int modulus_bits) {
  if (modulus_bits < kMinModulusBits || modulus_bits > kMaxModulusBits) {
    return absl::InvalidArgumentError(absl::StrCat("modulus bits must be in [", kMinModulusBits,
                                                   ", ", kMaxModulusBits, "], got ",
                                                   modulus_bits));
  }
  EVP_CIPHER_CTX* ctx = NewCtx(seed);
  if (ctx == nullptr) return absl::InternalError("OpenSSL AES-256-CTR init failed");
  return MaskPrg(ctx, modulus_bits);
}

MaskPrg::MaskPrg(void* ctx, int modulus_bits)
    : ctx_(ctx), modulus_bits_(modulus_bits), bytes_per_element_((modulus_bits + 7) / 8) {}

MaskPrg::MaskPrg(MaskPrg&& other) noexcept
    : ctx_(std::exchange(other.ctx_, nullptr)),
      modulus_bits_(other.modulus_bits_),
      bytes_per_element_(other.bytes_per_element_) {}

MaskPrg& MaskPrg::operator=(MaskPrg&& other) noexcept {
  if (this != &other) {
    if (ctx_ != nullptr) EVP_CIPHER_CTX_free(Ctx(ctx_));  // frees and wipes the key schedule
    ctx_ = std::exchange(other.ctx_, nullptr);
    modulus_bits_ = other.modulus_bits_;
    bytes_per_element_ = other.bytes_per_element_;
  }
  return *this;
}

MaskPrg::~MaskPrg() {
  if (ctx_ != nullptr) EVP_CIPHER_CTX_free(Ctx(ctx_));
}

absl::Status MaskPrg::Generate(int64_t offset, absl::Span<uint64_t> out) {
  return Apply(Op::kSet, offset, out);
}
absl::Status MaskPrg::AddTo(int64_t offset, absl::Span<uint64_t> values) {
  return Apply(Op::kAdd, offset, values);
}
absl::Status MaskPrg::SubtractFrom(int64_t offset, absl::Span<uint64_t> values) {
  return Apply(Op::kSubtract, offset, values);
}

absl::Status MaskPrg::Apply(Op op, int64_t offset, absl::Span<uint64_t> values) {
  if (offset < 0) {
    return absl::InvalidArgumentError(absl::StrCat("negative PRG offset ", offset));
  }
  if (ctx_ == nullptr) return absl::FailedPreconditionError("MaskPrg was moved from");
  if (values.empty()) return absl::OkStatus();
  EVP_CIPHER_CTX* ctx = Ctx(ctx_);
  const uint64_t bpe = static_cast<uint64_t>(bytes_per_element_);
  if (!Seek(ctx, static_cast<uint64_t>(offset) * bpe)) {
    return absl::InternalError("OpenSSL AES-256-CTR seek failed");
  }
  const uint64_t mask = (uint64_t{1} << modulus_bits_) - 1;
  alignas(64) uint8_t buffer[kMaxBufferBytes];
  size_t done = 0;
  while (done < values.size()) {
    const size_t n = std::min(kElementsPerBlock, values.size() - done);
    int len = 0;
    if (EVP_EncryptUpdate(ctx, buffer, &len, kZeros, static_cast<int>(n * bpe)) != 1) {
      return absl::InternalError("OpenSSL AES-256-CTR failed");
    }
    uint64_t* v = values.data() + done;
    switch (op) {
      case Op::kSet: CombineAny<Mode::kSet>(bytes_per_element_, buffer, v, n, mask); break;
      case Op::kAdd: CombineAny<Mode::kAdd>(bytes_per_element_, buffer, v, n, mask); break;
      case Op::kSubtract:
        CombineAny<Mode::kSubtract>(bytes_per_element_, buffer, v, n, mask);
        break;
    }
    done += n;
  }
  return absl::OkStatus();
}

absl::Status RawKeystream(const SecretKey& seed, absl::Span<uint8_t> out) {
  EVP_CIPHER_CTX* ctx = NewCtx(seed);
  if (ctx == nullptr) return absl::InternalError("OpenSSL AES-256-CTR init failed");
  size_t done = 0;
  bool ok = true;
  while (ok && done < out.size()) {
    const size_t n = std::min(kMaxBufferBytes, out.size() - done);
    int len = 0;
    ok = EVP_EncryptUpdate(ctx, out.data() + done, &len, kZeros, static_cast<int>(n)) == 1;
    done += n;
  }
  EVP_CIPHER_CTX_free(ctx);
  return ok ? absl::OkStatus() : absl::InternalError("OpenSSL AES-256-CTR failed");
}

}  // namespace cohort::secagg
