#include "client_sdk/src/update_encoding.h"

#include <openssl/sha.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "absl/strings/str_cat.h"
#include "secagg/packing.h"

namespace cohort::client::internal {

namespace {

// Elements encoded per block: a multiple of 8, so every block's packed bits end on a byte.
constexpr size_t kBlock = 1 << 16;

// TEMPORARY until codec/ lands: a stand-in with the codec's shape (clip, weight, stochastic
// quantization into Z_R, the weight as the last element) so the protocol runs end to end.
// Encodes block by block straight into the packed form: no full-width vector.
absl::StatusOr<std::string> EncodeAndPack(const v1::CodecParams& codec,
                                          const std::vector<float>& delta, int64_t num_examples,
                                          uint64_t seed) {
  const int m = InputBits(codec);
  const int64_t cap = std::max<int64_t>(1, codec.max_example_weight());
  const double weight = static_cast<double>(std::clamp<int64_t>(num_examples, 1, cap));
  const bool plain_float = codec.encoding() == v1::UPDATE_ENCODING_FLOAT32;
  double norm2 = 0;
  for (float v : delta) norm2 += static_cast<double>(v) * v;
  const double clip = codec.l2_clip_norm();
  const double scale = clip > 0 && std::sqrt(norm2) > clip ? clip / std::sqrt(norm2) : 1.0;
  const double range = codec.quantization_range() > 0 ? codec.quantization_range() : clip;
  const double levels = std::ldexp(1.0, codec.bits() > 0 ? codec.bits() : 8) - 1;
  const uint64_t mask = (uint64_t{1} << m) - 1;
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  auto float_bits = [](double v) {
    const float f = static_cast<float>(v);
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    return uint64_t{bits};
  };
  const size_t length = delta.size() + 1;
  std::string packed;
  packed.reserve(secagg::PackedSize(length, m));
  std::vector<uint64_t> block;
  for (size_t start = 0; start < length; start += kBlock) {
    const size_t end = std::min(length, start + kBlock);
    block.resize(end - start);
    for (size_t i = start; i < end; ++i) {
      uint64_t v;
      if (i == delta.size()) {
        v = plain_float ? float_bits(weight) : static_cast<uint64_t>(weight) & mask;
      } else if (plain_float) {
        v = float_bits(weight * delta[i]);
      } else {
        const double x = std::clamp(delta[i] * scale, -range, range);
        const double q = (x + range) / (2 * range) * levels;
        const double f = std::floor(q);
        const uint64_t level = static_cast<uint64_t>(f + (u(rng) < q - f ? 1 : 0));
        v = (level * static_cast<uint64_t>(weight)) & mask;
      }
      block[i - start] = v;
    }
    absl::StatusOr<std::string> piece = secagg::Pack(block, m);
    if (!piece.ok()) return piece.status();
    packed += *piece;
  }
  return packed;
}

}  // namespace

int InputBits(const v1::CodecParams& codec) {
  return codec.encoding() == v1::UPDATE_ENCODING_FLOAT32 ? 32 : codec.modulus_bits();
}

absl::StatusOr<std::string> EncodeInput(const v1::CodecParams& codec, std::vector<float> delta,
                                        int64_t num_examples, uint64_t seed) {
  if (codec.vector_length() != static_cast<int64_t>(delta.size()) + 1) {
    return absl::InvalidArgumentError(absl::StrCat("update of ", delta.size(),
                                                   " parameters does not fit vector_length ",
                                                   codec.vector_length()));
  }
  const int m = InputBits(codec);
  if (m < 8 || m > 62) {
    return absl::InvalidArgumentError(absl::StrCat("codec.modulus_bits ", m, " not in [8, 62]"));
  }
  return EncodeAndPack(codec, delta, num_examples, seed);
}

absl::StatusOr<std::vector<uint64_t>> InputChunk(const v1::CodecParams& codec,
                                                 absl::string_view packed, int64_t begin,
                                                 int64_t count) {
  const int bits = InputBits(codec);
  if (begin < 0 || count < 0 ||
      static_cast<uint64_t>(begin + count) * bits > static_cast<uint64_t>(packed.size()) * 8) {
    return absl::InvalidArgumentError(absl::StrCat("elements [", begin, ", ", begin + count,
                                                   ") are outside the packed input"));
  }
  // The bit stream of secagg/packing.h: element i at bits [i*m, (i+1)*m), LSB first.
  std::vector<uint64_t> out(static_cast<size_t>(count));
  const auto* bytes = reinterpret_cast<const unsigned char*>(packed.data());
  for (int64_t j = 0; j < count; ++j) {
    uint64_t bit = static_cast<uint64_t>(begin + j) * bits;
    uint64_t value = 0;
    for (int got = 0; got < bits;) {
      const uint64_t byte = bit / 8;
      const int shift = static_cast<int>(bit % 8);
      const int take = std::min(8 - shift, bits - got);
      const uint64_t piece = (bytes[byte] >> shift) & ((1u << take) - 1);
      value |= piece << got;
      got += take;
      bit += take;
    }
    out[j] = value;
  }
  return out;
}

absl::StatusOr<std::string> PackChunk(const v1::CodecParams& codec,
                                      absl::Span<const uint64_t> values) {
  if (codec.encoding() == v1::UPDATE_ENCODING_FLOAT32) {
    std::string out(values.size() * 4, '\0');
    for (size_t i = 0; i < values.size(); ++i) {
      const uint32_t bits = static_cast<uint32_t>(values[i]);
      for (int b = 0; b < 4; ++b) out[i * 4 + b] = static_cast<char>((bits >> (8 * b)) & 0xff);
    }
    return out;
  }
  return secagg::Pack(values, codec.modulus_bits());
}

std::string Sha256(absl::string_view bytes) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  return std::string(reinterpret_cast<const char*>(digest), sizeof(digest));
}

}  // namespace cohort::client::internal
