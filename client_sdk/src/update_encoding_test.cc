#include "client_sdk/src/update_encoding.h"

#include <cmath>
#include <cstring>
#include <vector>

#include <catch2/catch.hpp>

#include "codec/dp_codec.h"
#include "codec/update_encoder.h"
#include "privacy/mechanism.h"
#include "secagg/packing.h"
#include "secagg/testing/fake_random_source.h"

namespace cohort::client::internal {
namespace {

// Tests stand in a seeded source for the device's CSPRNG.
secagg::RandomSource& Noise() {
  static secagg::FakeRandomSource source(99);
  return source;
}

v1::CodecParams Quantized(int64_t params, int modulus_bits = 20) {
  v1::CodecParams c;
  c.set_encoding(v1::UPDATE_ENCODING_QUANTIZED);
  c.set_l2_clip_norm(1.0);
  c.set_quantization_range(1.0);
  c.set_bits(8);
  c.set_max_example_weight(10);
  c.set_modulus_bits(modulus_bits);
  c.set_vector_length(params + 1);
  c.set_chunk_elements(3);
  return c;
}

TEST_CASE("EncodeInput_PacksVectorLengthElementsWithTheWeightLast") {
  const v1::CodecParams codec = Quantized(5);
  auto packed =
      EncodeInput(codec, {0.1f, -0.2f, 0.0f, 0.3f, -0.05f}, /*num_examples=*/25, 1, Noise());
  REQUIRE(packed.ok());
  CHECK(packed->size() == secagg::PackedSize(6, 20));
  auto all = InputChunk(codec, *packed, 0, 6);
  REQUIRE(all.ok());
  CHECK(all->back() == 10);  // 25 examples, capped at max_example_weight
  for (uint64_t v : *all) CHECK(v < (uint64_t{1} << 20));
}

TEST_CASE("EncodeInput_PacksTheDocumentedQuantizationOfEveryElement") {
  // The oracle is docs/codec.md's formula, computed here, not the codec the SDK wraps: with
  // step = 2r / (2^b - 1) and q_j = (u_j + r) / step, element j is w * floor(q_j) or
  // w * (floor(q_j) + 1), and the last element is w. More than one 64 Ki block, so the SDK's
  // block-by-block packing is covered across block boundaries.
  const int64_t d = (1 << 16) + 1000;
  const v1::CodecParams codec = Quantized(d);
  std::vector<float> delta(static_cast<size_t>(d));
  for (size_t i = 0; i < delta.size(); ++i) delta[i] = static_cast<float>((i % 97) * 1e-5 - 4e-4);
  const std::vector<float> original = delta;  // ||delta|| ~ 0.08 < C = 1: nothing is clipped
  auto packed = EncodeInput(codec, delta, 7, 42, Noise());
  REQUIRE(packed.ok());
  auto all = InputChunk(codec, *packed, 0, d + 1);
  REQUIRE(all.ok());
  REQUIRE(all->size() == static_cast<size_t>(d + 1));
  const uint64_t w = 7;
  CHECK(all->back() == w);
  const double r = 1.0;
  const double step = 2 * r / ((1 << 8) - 1);
  int64_t wrong = 0;
  double rounding_error = 0;  // sum of level - q: near 0 for unbiased rounding
  for (int64_t j = 0; j < d; ++j) {
    const uint64_t element = (*all)[static_cast<size_t>(j)];
    const double q = (static_cast<double>(original[static_cast<size_t>(j)]) + r) / step;
    const uint64_t low = static_cast<uint64_t>(std::floor(q));
    if (element % w != 0 || (element / w != low && element / w != low + 1)) ++wrong;
    rounding_error += static_cast<double>(element / w) - q;
  }
  CHECK(wrong == 0);
  // Stochastic rounding is unbiased: the mean error over 66,536 elements has a standard
  // deviation below 0.002 levels; rounding these fractions (0.45..0.57) down would be off by
  // 0.51 levels on average, and rounding them to nearest by 0.08.
  CHECK(std::abs(rounding_error / static_cast<double>(d)) < 0.01);
}

TEST_CASE("EncodeInput_RefusesNaNAndAWeightBelowOne") {
  CHECK(EncodeInput(Quantized(2), {0.1f, std::nanf("")}, 1, 1, Noise()).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(EncodeInput(Quantized(2), {0.1f, 0.2f}, 0, 1, Noise()).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("EncodeInput_RejectsAnUpdateOfTheWrongLength") {
  CHECK(EncodeInput(Quantized(5), {0.1f, 0.2f}, 1, 1, Noise()).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("EncodeInput_PacksADpRoundsNoisedRingElements") {
  privacy::DpSpec spec;
  spec.mechanism = privacy::Mechanism::kDistributedDiscreteGaussian;
  spec.clip_norm = 1.0;
  spec.noise_multiplier = 1.0;
  spec.dimension = 100;
  spec.bits = 16;
  spec.min_contributors = 5;
  spec.max_contributors = 8;
  auto round = privacy::ResolveDpRound(spec);
  REQUIRE(round.ok());
  v1::DpParams dp = codec::ToProto(*round);
  dp.set_rotation_seed(std::string(32, 'r'));
  v1::CodecConfig config;
  config.set_max_example_weight(10);
  auto codec = codec::ResolveDpCodecParams(config, dp, 100, 64);
  REQUIRE(codec.ok());
  auto packed = EncodeInput(*codec, std::vector<float>(100, 0.05f), 3, 1, Noise());
  REQUIRE(packed.ok());
  // 128 rotated coordinates and the count, at 16 bits each.
  CHECK(packed->size() == secagg::PackedSize(129, 16));
  auto all = InputChunk(*codec, *packed, 0, 129);
  REQUIRE(all.ok());
  CHECK(all->back() == 1);
  // Noise makes the rotated coordinates differ from a second encoding of the same update.
  auto again = EncodeInput(*codec, std::vector<float>(100, 0.05f), 3, 1, Noise());
  REQUIRE(again.ok());
  CHECK(*again != *packed);
}

TEST_CASE("InputChunk_ReadsAnyElementRangeOfThePackedStream") {
  // 13 bits: element boundaries fall inside bytes, so chunk starts are not byte-aligned.
  v1::CodecParams codec = Quantized(9, 13);
  std::vector<uint64_t> values;
  for (uint64_t i = 0; i < 10; ++i) values.push_back((i * 977 + 5) % (1 << 13));
  auto packed = secagg::Pack(values, 13);
  REQUIRE(packed.ok());
  for (int64_t begin = 0; begin < 10; ++begin) {
    for (int64_t count = 0; begin + count <= 10; ++count) {
      auto chunk = InputChunk(codec, *packed, begin, count);
      REQUIRE(chunk.ok());
      CHECK(*chunk ==
            std::vector<uint64_t>(values.begin() + begin, values.begin() + begin + count));
    }
  }
  CHECK(InputChunk(codec, *packed, 8, 5).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("PackChunk_Float32IsLittleEndianFloats") {
  v1::CodecParams codec;
  codec.set_encoding(v1::UPDATE_ENCODING_FLOAT32);
  float f = 1.5f;
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  auto wire = PackChunk(codec, std::vector<uint64_t>{bits});
  REQUIRE(wire.ok());
  REQUIRE(wire->size() == 4);
  float back;
  std::memcpy(&back, wire->data(), 4);  // x86 and ARM phones are little-endian
  CHECK(back == 1.5f);
}

TEST_CASE("Sha256_MatchesTheFips180DigestOfAbcInFull") {
  const std::string digest = Sha256("abc");
  REQUIRE(digest.size() == 32);
  static const char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char c : digest) {
    hex.push_back(kDigits[c >> 4]);
    hex.push_back(kDigits[c & 0xf]);
  }
  CHECK(hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace cohort::client::internal
