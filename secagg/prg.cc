#include "secagg/prg.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace cohort::secagg {
namespace {

// Elements per EVP call: large enough to amortise the call, small enough that the keystream
// buffer stays in L1 next to the values it is added to.
constexpr size_t kElementsPerBlock = 2048;
constexpr size_t kMaxBufferBytes = kElementsPerBlock * 8;
alignas(64) const uint8_t kZeros[kMaxBufferBytes] = {};
// The add pass runs in groups of a fixed size so that compilers vectorise it without a
// cost model that allows epilogues (GCC's -O2 default does not); the tail is scalar.
constexpr size_t kGroup = 64;

EVP_CIPHER_CTX* Ctx(void* p) { return static_cast<EVP_CIPHER_CTX*>(p); }

enum class Mode { kSet, kAdd, kSubtract };

template <typename K, typename T, Mode kMode>
inline void CombineOne(const uint8_t* keystream, T* value, T mask) {
  K k;
  std::memcpy(&k, keystream, sizeof(K));  // little-endian hosts only; see the static_assert
  const T e = static_cast<T>(k);
  if constexpr (kMode == Mode::kSet) {
    *value = e & mask;
  } else if constexpr (kMode == Mode::kAdd) {
    *value = static_cast<T>(*value + e) & mask;
  } else {
    *value = static_cast<T>(*value - e) & mask;
  }
}

template <typename K, typename T, Mode kMode>
void Combine(const uint8_t* keystream, T* values, size_t n, T mask) {
  size_t j = 0;
  for (; j + kGroup <= n; j += kGroup) {
    const uint8_t* ks = keystream + j * sizeof(K);
    T* v = values + j;
    for (size_t i = 0; i < kGroup; ++i) CombineOne<K, T, kMode>(ks + i * sizeof(K), v + i, mask);
  }
  for (; j < n; ++j) CombineOne<K, T, kMode>(keystream + j * sizeof(K), values + j, mask);
}

template <Mode kMode, typename T>
void CombineAny(int lane_bytes, const uint8_t* ks, T* values, size_t n, T mask) {
  switch (lane_bytes) {
    case 1: return Combine<uint8_t, T, kMode>(ks, values, n, mask);
    case 2: return Combine<uint16_t, T, kMode>(ks, values, n, mask);
    case 4: return Combine<uint32_t, T, kMode>(ks, values, n, mask);
    default:
      if constexpr (sizeof(T) == 8) return Combine<uint64_t, T, kMode>(ks, values, n, mask);
  }
}

// Fetched once: OpenSSL 3 otherwise looks the implementation up by name at every init, which
// costs as much as a few thousand elements of keystream (and servers make thousands of streams).
const EVP_CIPHER* Aes128Ctr() {
  static const EVP_CIPHER* const cipher = EVP_CIPHER_fetch(nullptr, "AES-128-CTR", nullptr);
  return cipher;
}

EVP_CIPHER_CTX* NewCtx(const SecretKey& seed) {
  if (Aes128Ctr() == nullptr) return nullptr;
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  if (ctx == nullptr) return nullptr;
  uint8_t iv[16] = {0};
  // AES-128: the seed's first 16 bytes are the key (prg.h says why 128 bits).
  if (EVP_EncryptInit_ex(ctx, Aes128Ctr(), nullptr, seed.data(), iv) != 1) {
    EVP_CIPHER_CTX_free(ctx);
    return nullptr;
  }
  return ctx;
}

}  // namespace

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "MaskPrg assumes a little-endian host");

int PrgLaneBytes(int modulus_bits) {
  if (modulus_bits <= 8) return 1;
  if (modulus_bits <= 16) return 2;
  if (modulus_bits <= 32) return 4;
  return 8;
}

absl::StatusOr<MaskPrg> MaskPrg::Create(const SecretKey& seed, int modulus_bits) {
  if (modulus_bits < kMinModulusBits || modulus_bits > kMaxModulusBits) {
    return absl::InvalidArgumentError(absl::StrCat("modulus bits must be in [", kMinModulusBits,
                                                   ", ", kMaxModulusBits, "], got ",
                                                   modulus_bits));
  }
  EVP_CIPHER_CTX* ctx = NewCtx(seed);
  if (ctx == nullptr) return absl::InternalError("OpenSSL AES-128-CTR init failed");
  return MaskPrg(ctx, modulus_bits);
}

MaskPrg::MaskPrg(void* ctx, int modulus_bits)
    : ctx_(ctx),
      modulus_bits_(modulus_bits),
      bytes_per_element_(PrgLaneBytes(modulus_bits)),
      position_(0) {}

MaskPrg::MaskPrg(MaskPrg&& other) noexcept
    : ctx_(std::exchange(other.ctx_, nullptr)),
      modulus_bits_(other.modulus_bits_),
      bytes_per_element_(other.bytes_per_element_),
      position_(std::exchange(other.position_, -1)) {}

MaskPrg& MaskPrg::operator=(MaskPrg&& other) noexcept {
  if (this != &other) {
    if (ctx_ != nullptr) EVP_CIPHER_CTX_free(Ctx(ctx_));  // frees and wipes the key schedule
    ctx_ = std::exchange(other.ctx_, nullptr);
    modulus_bits_ = other.modulus_bits_;
    bytes_per_element_ = other.bytes_per_element_;
    position_ = std::exchange(other.position_, -1);
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
absl::Status MaskPrg::AddTo(int64_t offset, absl::Span<uint32_t> values) {
  return Apply(Op::kAdd, offset, values);
}
absl::Status MaskPrg::SubtractFrom(int64_t offset, absl::Span<uint64_t> values) {
  return Apply(Op::kSubtract, offset, values);
}
absl::Status MaskPrg::SubtractFrom(int64_t offset, absl::Span<uint32_t> values) {
  return Apply(Op::kSubtract, offset, values);
}

// Positions the CTR stream at keystream byte `byte`: the counter block byte / 16, then
// byte % 16 bytes discarded. OpenSSL's CTR mode keeps a partly used block between calls, so
// after this the stream simply continues.
bool MaskPrg::SeekTo(uint64_t byte) {
  EVP_CIPHER_CTX* ctx = Ctx(ctx_);
  uint8_t iv[16] = {0};
  const uint64_t block = byte / 16;
  for (int i = 0; i < 8; ++i) iv[15 - i] = static_cast<uint8_t>(block >> (8 * i));
  position_ = -1;
  if (EVP_EncryptInit_ex(ctx, nullptr, nullptr, nullptr, iv) != 1) return false;
  const int skip = static_cast<int>(byte % 16);
  if (skip != 0) {
    uint8_t discard[16];
    int len = 0;
    if (EVP_EncryptUpdate(ctx, discard, &len, kZeros, skip) != 1) return false;
  }
  position_ = static_cast<int64_t>(byte);
  return true;
}

template <typename T>
absl::Status MaskPrg::Apply(Op op, int64_t offset, absl::Span<T> values) {
  if (offset < 0) {
    return absl::InvalidArgumentError(absl::StrCat("negative PRG offset ", offset));
  }
  if (sizeof(T) == 4 && modulus_bits_ > 32) {
    return absl::InvalidArgumentError(
        absl::StrCat("32-bit values cannot hold elements of ", modulus_bits_, " bits"));
  }
  if (ctx_ == nullptr) return absl::FailedPreconditionError("MaskPrg was moved from");
  if (values.empty()) return absl::OkStatus();
  EVP_CIPHER_CTX* ctx = Ctx(ctx_);
  const uint64_t bpe = static_cast<uint64_t>(bytes_per_element_);
  const uint64_t start = static_cast<uint64_t>(offset) * bpe;
  if (position_ != static_cast<int64_t>(start) && !SeekTo(start)) {
    return absl::InternalError("OpenSSL AES-128-CTR seek failed");
  }
  const T mask = modulus_bits_ >= static_cast<int>(8 * sizeof(T))
                     ? static_cast<T>(~T{0})
                     : static_cast<T>((T{1} << modulus_bits_) - 1);
  alignas(64) uint8_t buffer[kMaxBufferBytes];
  size_t done = 0;
  while (done < values.size()) {
    const size_t n = std::min(kElementsPerBlock, values.size() - done);
    int len = 0;
    if (EVP_EncryptUpdate(ctx, buffer, &len, kZeros, static_cast<int>(n * bpe)) != 1) {
      position_ = -1;
      return absl::InternalError("OpenSSL AES-128-CTR failed");
    }
    T* v = values.data() + done;
    switch (op) {
      case Op::kSet: CombineAny<Mode::kSet>(bytes_per_element_, buffer, v, n, mask); break;
      case Op::kAdd: CombineAny<Mode::kAdd>(bytes_per_element_, buffer, v, n, mask); break;
      case Op::kSubtract:
        CombineAny<Mode::kSubtract>(bytes_per_element_, buffer, v, n, mask);
        break;
    }
    done += n;
  }
  position_ = static_cast<int64_t>(start + values.size() * bpe);
  return absl::OkStatus();
}

absl::Status RawKeystream(const SecretKey& seed, absl::Span<uint8_t> out) {
  EVP_CIPHER_CTX* ctx = NewCtx(seed);
  if (ctx == nullptr) return absl::InternalError("OpenSSL AES-128-CTR init failed");
  size_t done = 0;
  bool ok = true;
  while (ok && done < out.size()) {
    const size_t n = std::min(kMaxBufferBytes, out.size() - done);
    int len = 0;
    ok = EVP_EncryptUpdate(ctx, out.data() + done, &len, kZeros, static_cast<int>(n)) == 1;
    done += n;
  }
  EVP_CIPHER_CTX_free(ctx);
  return ok ? absl::OkStatus() : absl::InternalError("OpenSSL AES-128-CTR failed");
}

}  // namespace cohort::secagg
