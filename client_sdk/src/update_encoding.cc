#include "client_sdk/src/update_encoding.h"

#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "codec/codec_params.h"
#include "codec/dp_codec.h"
#include "codec/evaluation_metrics.h"
#include "codec/model.h"
#include "codec/update_encoder.h"
#include "secagg/packing.h"

namespace cohort::client::internal {

namespace {

// Elements encoded per block: a multiple of 8, so every block's packed bits end on a byte.
constexpr int64_t kBlock = 1 << 16;

}  // namespace

int InputBits(const v1::CodecParams& codec) {
  return codec.encoding() == v1::UPDATE_ENCODING_FLOAT32 ? 32 : codec.modulus_bits();
}

absl::StatusOr<std::string> EncodeInput(const v1::CodecParams& codec, std::vector<float> delta,
                                        int64_t num_examples, uint64_t seed,
                                        secagg::RandomSource& noise,
                                        absl::Span<const uint64_t> metrics) {
  if (static_cast<int64_t>(metrics.size()) != codec.metric_elements()) {
    return absl::InvalidArgumentError(absl::StrCat("the plan asks for ", codec.metric_elements(),
                                                   " evaluation elements, got ", metrics.size()));
  }
  if (codec.has_dp()) {
    // The rotation is global, so a DP encoding is made whole (d' elements) and then packed.
    absl::StatusOr<codec::EncodedUpdate> encoded =
        codec::EncodeDpUpdate(codec, delta, num_examples, noise);
    if (!encoded.ok()) return encoded.status();
    std::vector<float>().swap(delta);
    return secagg::Pack(encoded->values, InputBits(codec));
  }
  if (absl::Status s = codec::ValidateCodecParams(codec); !s.ok()) return s;
  // The shared codec validates the parameters, the length, NaN/Inf and the weight. Encoding block
  // by block straight into the packed form means no full-width uint64 vector ever exists
  // (FLOAT32 packs its bit patterns at 32 bits: little-endian float32s).
  std::optional<codec::UpdateEncoder> encoder;
  const int64_t update = codec::UpdateLength(codec);
  if (update > 0) {
    absl::StatusOr<codec::UpdateEncoder> created =
        codec::UpdateEncoder::Create(codec, delta, num_examples, seed);
    if (!created.ok()) return created.status();
    encoder = *std::move(created);
  } else if (!delta.empty()) {
    return absl::InvalidArgumentError("an evaluation-only round uploads no update");
  }
  const int m = InputBits(codec);
  const int64_t length = codec.vector_length();
  std::string packed;
  packed.reserve(secagg::PackedSize(static_cast<size_t>(length), m));
  std::vector<uint64_t> block(static_cast<size_t>(std::min(kBlock, length)));
  for (int64_t start = 0; start < length; start += kBlock) {
    const auto values =
        absl::MakeSpan(block).subspan(0, static_cast<size_t>(std::min(kBlock, length - start)));
    // Blocks are whole bytes when packed (kBlock * m is a multiple of 8), so only the last
    // block, which holds the metrics, may end mid-byte.
    const int64_t from_update = std::clamp<int64_t>(update - start, 0, values.size());
    if (from_update > 0) {
      if (absl::Status s = encoder->Encode(start, values.subspan(0, from_update)); !s.ok()) {
        return s;
      }
    }
    for (size_t j = static_cast<size_t>(from_update); j < values.size(); ++j) {
      values[j] = metrics[static_cast<size_t>(start + static_cast<int64_t>(j) - update)];
    }
    absl::StatusOr<std::string> piece = secagg::Pack(values, m);
    if (!piece.ok()) return piece.status();
    packed += *piece;
  }
  return packed;
}

absl::StatusOr<std::vector<uint64_t>> InputChunk(const v1::CodecParams& codec,
                                                 absl::string_view packed, int64_t begin,
                                                 int64_t count) {
  const int bits = InputBits(codec);
  if (begin < 0 || count < 0 ||
      static_cast<uint64_t>(begin + count) * bits > static_cast<uint64_t>(packed.size()) * 8) {
    return absl::InvalidArgumentError(
        absl::StrCat("elements [", begin, ", ", begin + count, ") are outside the packed input"));
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

std::string Sha256(absl::string_view bytes) { return codec::Sha256(bytes); }

}  // namespace cohort::client::internal
