#include "privacy/hadamard.h"

#include <bit>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "secagg/prg.h"
#include "secagg/secret_key.h"

namespace cohort::privacy {

int64_t PaddedDimension(int64_t dimension) {
  if (dimension <= 1) return 1;
  return static_cast<int64_t>(std::bit_ceil(static_cast<uint64_t>(dimension)));
}

bool FastWalshHadamard(absl::Span<double> values) {
  const size_t n = values.size();
  if (n == 0 || !std::has_single_bit(n)) return false;
  for (size_t half = 1; half < n; half <<= 1) {
    for (size_t block = 0; block < n; block += 2 * half) {
      double* a = values.data() + block;
      double* b = a + half;
      for (size_t i = 0; i < half; ++i) {
        const double x = a[i];
        const double y = b[i];
        a[i] = x + y;
        b[i] = x - y;
      }
    }
  }
  return true;
}

absl::StatusOr<RandomizedHadamard> RandomizedHadamard::Create(int64_t dimension,
                                                              absl::string_view seed) {
  if (dimension < 1 || dimension > kMaxRotationDimension) {
    return absl::InvalidArgumentError(absl::StrCat("the rotation dimension must be in [1, ",
                                                   kMaxRotationDimension, "], got ", dimension));
  }
  absl::StatusOr<secagg::SecretKey> key = secagg::SecretKey::FromBytes(seed);
  if (!key.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the rotation seed must be 32 bytes, got ", seed.size()));
  }
  RandomizedHadamard r;
  r.dimension_ = dimension;
  const int64_t padded = PaddedDimension(dimension);
  std::vector<uint8_t> stream(static_cast<size_t>((padded + 7) / 8));
  if (absl::Status s = secagg::RawKeystream(*key, absl::MakeSpan(stream)); !s.ok()) return s;
  r.signs_.resize(static_cast<size_t>(padded));
  for (int64_t i = 0; i < padded; ++i) {
    const bool bit = (stream[static_cast<size_t>(i / 8)] >> (i % 8)) & 1;
    r.signs_[static_cast<size_t>(i)] = bit ? -1 : 1;
  }
  return r;
}

absl::Status RandomizedHadamard::RotateInPlace(absl::Span<double> out) const {
  const double norm = 1.0 / std::sqrt(static_cast<double>(signs_.size()));
  for (size_t i = 0; i < out.size(); ++i) out[i] *= signs_[i] * norm;
  FastWalshHadamard(out);
  return absl::OkStatus();
}

absl::Status RandomizedHadamard::Rotate(absl::Span<const float> x, absl::Span<double> out) const {
  if (static_cast<int64_t>(x.size()) != dimension_ ||
      static_cast<int64_t>(out.size()) != padded_dimension()) {
    return absl::InvalidArgumentError(absl::StrCat("Rotate needs ", dimension_, " inputs and ",
                                                   padded_dimension(), " outputs, got ", x.size(),
                                                   " and ", out.size()));
  }
  for (size_t i = 0; i < x.size(); ++i) out[i] = x[i];
  for (size_t i = x.size(); i < out.size(); ++i) out[i] = 0;
  return RotateInPlace(out);
}

absl::Status RandomizedHadamard::Rotate(absl::Span<const double> x, absl::Span<double> out) const {
  if (static_cast<int64_t>(x.size()) != dimension_ ||
      static_cast<int64_t>(out.size()) != padded_dimension()) {
    return absl::InvalidArgumentError(absl::StrCat("Rotate needs ", dimension_, " inputs and ",
                                                   padded_dimension(), " outputs, got ", x.size(),
                                                   " and ", out.size()));
  }
  for (size_t i = 0; i < x.size(); ++i) out[i] = x[i];
  for (size_t i = x.size(); i < out.size(); ++i) out[i] = 0;
  return RotateInPlace(out);
}

absl::Status RandomizedHadamard::Unrotate(absl::Span<double> values) const {
  if (static_cast<int64_t>(values.size()) != padded_dimension()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Unrotate needs ", padded_dimension(), " values, got ", values.size()));
  }
  FastWalshHadamard(values);
  const double norm = 1.0 / std::sqrt(static_cast<double>(signs_.size()));
  for (size_t i = 0; i < values.size(); ++i) values[i] *= signs_[i] * norm;
  return absl::OkStatus();
}

}  // namespace cohort::privacy
