#include "secagg/shamir.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <unordered_set>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace cohort::secagg {
namespace {

// F_p with the Mersenne prime p = 2^61 - 1: products fit in 128 bits and reduce with a shift.
constexpr uint64_t kP = (uint64_t{1} << 61) - 1;
constexpr int kLimbs = 5;
// Limb widths in bytes: 7 * 4 + 4 = 32; each limb < 2^56 < p, so sharing is exactly uniform.
constexpr std::array<int, kLimbs> kLimbBytes = {7, 7, 7, 7, 4};
using Limbs = std::array<uint64_t, kLimbs>;

static_assert(kShamirShareSize == kLimbs * 8);

uint64_t Reduce(uint64_t x) {  // x < 2^62 + p
  x = (x & kP) + (x >> 61);
  return x >= kP ? x - kP : x;
}
uint64_t Add(uint64_t a, uint64_t b) { return Reduce(a + b); }
uint64_t Sub(uint64_t a, uint64_t b) { return a >= b ? a - b : a + kP - b; }
uint64_t Mul(uint64_t a, uint64_t b) {
  const unsigned __int128 prod = static_cast<unsigned __int128>(a) * b;
  const uint64_t lo = static_cast<uint64_t>(prod) & kP;
  const uint64_t hi = static_cast<uint64_t>(prod >> 61);
  return Reduce(lo + hi);
}
uint64_t Pow(uint64_t a, uint64_t e) {
  uint64_t r = 1;
  while (e != 0) {
    if (e & 1) r = Mul(r, a);
    a = Mul(a, a);
    e >>= 1;
  }
  return r;
}
uint64_t Inverse(uint64_t a) { return Pow(a, kP - 2); }
uint64_t FromInt(int64_t v) {
  return v >= 0 ? static_cast<uint64_t>(v) % kP : kP - (static_cast<uint64_t>(-v) % kP);
}

uint64_t RandomElement(RandomSource& random) {
  while (true) {
    uint64_t v = 0;
    random.Fill(absl::MakeSpan(reinterpret_cast<uint8_t*>(&v), sizeof(v)));
    v &= kP;  // 61 uniform bits; reject the single value p itself
    if (v != kP) return v;
  }
}

Limbs SecretToLimbs(const SecretKey& secret) {
  Limbs limbs{};
  int pos = 0;
  for (int l = 0; l < kLimbs; ++l) {
    uint64_t v = 0;
    for (int b = 0; b < kLimbBytes[l]; ++b) {
      v |= static_cast<uint64_t>(secret.data()[pos + b]) << (8 * b);
    }
    limbs[l] = v;
    pos += kLimbBytes[l];
  }
  return limbs;
}

void EncodeLimbs(const Limbs& limbs, std::string& out) {
  out.resize(kShamirShareSize);
  for (int l = 0; l < kLimbs; ++l) {
    for (int b = 0; b < 8; ++b) out[8 * l + b] = static_cast<char>((limbs[l] >> (8 * b)) & 0xff);
  }
}

bool DecodeLimbs(absl::string_view bytes, Limbs& limbs) {
  for (int l = 0; l < kLimbs; ++l) {
    uint64_t v = 0;
    for (int b = 0; b < 8; ++b) v |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[8 * l + b])) << (8 * b);
    if (v >= kP) return false;
    limbs[l] = v;
  }
  return true;
}

// 1/(d) for d = 1..max via inv[i] = -(p / i) * inv[p mod i]: linear time, used when the
// x-coordinates are participant indices of one round (small, dense).
std::vector<uint64_t> InverseTable(int64_t max) {
  std::vector<uint64_t> inv(static_cast<size_t>(max) + 1, 0);
  if (max >= 1) inv[1] = 1;
  for (int64_t i = 2; i <= max; ++i) {
    const uint64_t q = kP / static_cast<uint64_t>(i);
    inv[i] = Mul(kP - q, inv[kP % static_cast<uint64_t>(i)]);
  }
  return inv;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ShamirSplit(const SecretKey& secret, int threshold,
                                                     absl::Span<const int32_t> xs,
                                                     RandomSource& random) {
  if (threshold < 1 || static_cast<size_t>(threshold) > xs.size()) {
    return absl::InvalidArgumentError(absl::StrCat("threshold ", threshold,
                                                   " must be in 1..number of holders (",
                                                   xs.size(), ")"));
  }
  std::unordered_set<int32_t> seen;
  for (int32_t x : xs) {
    if (x < 1) return absl::InvalidArgumentError(absl::StrCat("share index ", x, " is < 1"));
    if (!seen.insert(x).second) {
      return absl::InvalidArgumentError(absl::StrCat("share index ", x, " appears twice"));
    }
  }
  // coefficients[l][j]: coefficient of x^j of limb l's polynomial; [l][0] is the secret limb.
  std::vector<Limbs> coefficients(static_cast<size_t>(threshold));
  coefficients[0] = SecretToLimbs(secret);
  for (int j = 1; j < threshold; ++j) {
    for (int l = 0; l < kLimbs; ++l) coefficients[j][l] = RandomElement(random);
  }
  std::vector<std::string> shares(xs.size());
  for (size_t i = 0; i < xs.size(); ++i) {
    const uint64_t x = FromInt(xs[i]);
    Limbs y{};
    for (int j = threshold - 1; j >= 0; --j) {
      for (int l = 0; l < kLimbs; ++l) y[l] = Add(Mul(y[l], x), coefficients[j][l]);
    }
    EncodeLimbs(y, shares[i]);
  }
  for (Limbs& c : coefficients) OPENSSL_cleanse(c.data(), sizeof(c));
  return shares;
}

absl::StatusOr<SecretKey> ShamirReconstruct(absl::Span<const ShamirShare> shares, int threshold) {
  if (threshold < 1) {
    return absl::InvalidArgumentError(absl::StrCat("threshold ", threshold, " is < 1"));
  }
  if (shares.size() < static_cast<size_t>(threshold)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "reconstruction needs ", threshold, " shares, got ", shares.size()));
  }
  std::unordered_set<int32_t> seen;
  std::vector<Limbs> ys(shares.size());
  int32_t min_x = shares[0].x;
  int32_t max_x = shares[0].x;
  for (size_t i = 0; i < shares.size(); ++i) {
    const ShamirShare& s = shares[i];
    if (s.x < 1) return absl::InvalidArgumentError(absl::StrCat("share index ", s.x, " is < 1"));
    if (!seen.insert(s.x).second) {
      return absl::InvalidArgumentError(absl::StrCat("two shares with index ", s.x));
    }
    if (s.value.size() != kShamirShareSize) {
      return absl::InvalidArgumentError(absl::StrCat("share of holder ", s.x, " is ",
                                                     s.value.size(), " bytes, expected ",
                                                     kShamirShareSize));
    }
    if (!DecodeLimbs(s.value, ys[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("share of holder ", s.x, " holds a value outside the field"));
    }
    min_x = std::min(min_x, s.x);
    max_x = std::max(max_x, s.x);
  }
  const size_t t = static_cast<size_t>(threshold);
  const int64_t span = static_cast<int64_t>(max_x) - min_x;
  const bool use_table = span <= std::max<int64_t>(4096, static_cast<int64_t>(4 * t * t));
  const std::vector<uint64_t> table = use_table ? InverseTable(span) : std::vector<uint64_t>();
  auto inverse_of_difference = [&](int32_t a, int32_t b) -> uint64_t {
    const int64_t d = static_cast<int64_t>(a) - b;
    if (!use_table) return Inverse(FromInt(d));
    return d > 0 ? table[d] : kP - table[-d];
  };

  // Newton divided differences over the first t shares, all limbs at once.
  std::vector<Limbs> coef(ys.begin(), ys.begin() + static_cast<std::ptrdiff_t>(t));
  for (size_t level = 1; level < t; ++level) {
    for (size_t j = t - 1; j >= level; --j) {
      const uint64_t inv = inverse_of_difference(shares[j].x, shares[j - level].x);
      for (int l = 0; l < kLimbs; ++l) coef[j][l] = Mul(Sub(coef[j][l], coef[j - 1][l]), inv);
    }
  }
  auto evaluate = [&](uint64_t z) {
    Limbs r = coef[t - 1];
    for (size_t j = t - 1; j-- > 0;) {
      const uint64_t factor = Sub(z, FromInt(shares[j].x));
      for (int l = 0; l < kLimbs; ++l) r[l] = Add(Mul(r[l], factor), coef[j][l]);
    }
    return r;
  };
  for (size_t e = t; e < shares.size(); ++e) {
    if (evaluate(FromInt(shares[e].x)) != ys[e]) {
      return absl::DataLossError(absl::StrCat("inconsistent shares: the share of holder ",
                                              shares[e].x, " disagrees with the first ",
                                              threshold));
    }
  }
  Limbs secret = evaluate(0);
  SecretKey out;
  int pos = 0;
  bool fits = true;
  for (int l = 0; l < kLimbs; ++l) {
    if ((secret[l] >> (8 * kLimbBytes[l])) != 0) fits = false;
    for (int b = 0; b < kLimbBytes[l]; ++b) {
      out.mutable_data()[pos + b] = static_cast<uint8_t>(secret[l] >> (8 * b));
    }
    pos += kLimbBytes[l];
  }
  OPENSSL_cleanse(secret.data(), sizeof(secret));
  for (Limbs& c : coef) OPENSSL_cleanse(c.data(), sizeof(c));
  if (!fits) {
    return absl::DataLossError("inconsistent shares: the reconstructed value is not a 32-byte secret");
  }
  return out;
}

}  // namespace cohort::secagg
