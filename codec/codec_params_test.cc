#include "codec/codec_params.h"

#include <cmath>
#include <limits>
#include <string>

#include <catch2/catch.hpp>

#include "absl/numeric/int128.h"

namespace cohort::codec {
namespace {

using cohort::v1::CodecConfig;

CodecConfig Config(int bits = 8, int32_t max_weight = 1000, double clip = 1.0) {
  CodecConfig c;
  c.set_encoding(cohort::v1::UPDATE_ENCODING_QUANTIZED);
  c.set_bits(bits);
  c.set_max_example_weight(max_weight);
  c.set_l2_clip_norm(clip);
  return c;
}

bool Contains(const absl::Status& s, const std::string& text) {
  return std::string(s.message()).find(text) != std::string::npos;
}

TEST_CASE("ResolveCodecParams_FillsDefaultsAndTheVectorLength") {
  CodecConfig config;
  config.set_l2_clip_norm(2.5);
  config.set_max_example_weight(10);
  auto p = ResolveCodecParams(config, 1000, 100, 4096);
  REQUIRE(p.ok());
  CHECK(p->encoding() == cohort::v1::UPDATE_ENCODING_QUANTIZED);
  CHECK(p->bits() == 8);
  CHECK(p->quantization_range() == 2.5);
  CHECK(p->l2_clip_norm() == 2.5);
  CHECK(p->vector_length() == 1001);
  CHECK(p->chunk_elements() == 4096);
  // 100 * 10 * 255 = 255,000 < 2^18 = 262,144, and >= 2^17.
  CHECK(p->modulus_bits() == 18);
}

TEST_CASE("ResolveCodecParams_KeepsAnExplicitQuantizationRange") {
  CodecConfig config = Config();
  config.set_quantization_range(0.1);
  auto p = ResolveCodecParams(config, 10, 10, 10);
  REQUIRE(p.ok());
  CHECK(p->quantization_range() == 0.1);
  CHECK(p->l2_clip_norm() == 1.0);
}

TEST_CASE("RequiredModulusBits_IsTheSmallestModulusTheWorstCaseSumFitsIn") {
  for (int bits = kMinBits; bits <= kMaxBits; ++bits) {
    for (int64_t weight : {int64_t{1}, int64_t{7}, int64_t{1000}, int64_t{1} << 20}) {
      for (int64_t cohort : {int64_t{1}, int64_t{3}, int64_t{100}, int64_t{1000}, int64_t{65537}}) {
        auto m = RequiredModulusBits(bits, weight, cohort);
        const absl::uint128 worst = absl::uint128(static_cast<uint64_t>(cohort)) *
                                    static_cast<uint64_t>(weight) * MaxLevel(bits);
        INFO("bits=" << bits << " weight=" << weight << " cohort=" << cohort);
        REQUIRE(m.ok());
        CHECK(worst < (absl::uint128(1) << *m));                                   // no wrap
        if (*m > kMinModulusBits) CHECK(worst >= (absl::uint128(1) << (*m - 1)));  // smallest
      }
    }
  }
  CHECK(*RequiredModulusBits(2, 1, 1) == kMinModulusBits);
}

TEST_CASE("RequiredModulusBits_AcceptsExactly62BitsAndRefuses63") {
  // 2^16 - 1 levels, weight 2^20: a cohort of n needs n * (2^36 - 2^20) < 2^62.
  const uint64_t per_device = (uint64_t{1} << 20) * MaxLevel(16);
  const int64_t largest = static_cast<int64_t>(((uint64_t{1} << 62) - 1) / per_device);
  auto fits = RequiredModulusBits(16, int64_t{1} << 20, largest);
  REQUIRE(fits.ok());
  CHECK(*fits == 62);
  auto wraps = RequiredModulusBits(16, int64_t{1} << 20, largest + 1);
  INFO(wraps.status().ToString());
  REQUIRE(wraps.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Contains(wraps.status(), "2^63"));
}

TEST_CASE("ResolveCodecParams_RefusesAConfigurationThatCouldWrapNamingTheNumbers") {
  auto p = ResolveCodecParams(Config(16, 1 << 20), 100, std::numeric_limits<int32_t>::max(), 64);
  INFO(p.status().ToString());
  REQUIRE(p.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Contains(p.status(), "bits=16"));
  CHECK(Contains(p.status(), "max_example_weight=1048576"));
  CHECK(Contains(p.status(), "2147483647"));
  CHECK(Contains(p.status(), "2^67"));  // 2^31 * 2^20 * 2^16 needs 67 bits
  CHECK(Contains(p.status(), "2^62"));
}

TEST_CASE("ResolveCodecParams_RefusesBitsOutside2To16") {
  for (int bits : {1, 17, -4}) {
    auto p = ResolveCodecParams(Config(bits), 10, 10, 10);
    INFO(p.status().ToString());
    REQUIRE(p.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(Contains(p.status(), "codec.bits"));
  }
  CHECK(ResolveCodecParams(Config(2), 10, 10, 10).ok());
  CHECK(ResolveCodecParams(Config(16), 10, 10, 10).ok());
}

TEST_CASE("ResolveCodecParams_RefusesAWeightCapBelowOne") {
  auto p = ResolveCodecParams(Config(8, 0), 10, 10, 10);
  REQUIRE(p.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Contains(p.status(), "codec.max_example_weight"));
}

TEST_CASE("ResolveCodecParams_RefusesNegativeOrNonFiniteNormsAndRanges") {
  for (double bad : {-1.0, std::nan(""), std::numeric_limits<double>::infinity()}) {
    CodecConfig clip = Config(8, 10, bad);
    CHECK(ResolveCodecParams(clip, 10, 10, 10).status().code() ==
          absl::StatusCode::kInvalidArgument);
    CodecConfig range = Config();
    range.set_quantization_range(bad);
    CHECK(ResolveCodecParams(range, 10, 10, 10).status().code() ==
          absl::StatusCode::kInvalidArgument);
  }
}

TEST_CASE("ResolveCodecParams_RefusesQuantizationWithoutARange") {
  auto p = ResolveCodecParams(Config(8, 10, 0.0), 10, 10, 10);
  REQUIRE(p.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Contains(p.status(), "quantization_range"));
  // Range without clipping is fine: coordinates are clamped, not scaled.
  CodecConfig range_only = Config(8, 10, 0.0);
  range_only.set_quantization_range(0.5);
  CHECK(ResolveCodecParams(range_only, 10, 10, 10).ok());
}

TEST_CASE("ResolveCodecParams_Float32HasNoModulusAndNeedsNoRange") {
  CodecConfig config = Config(8, 10, 0.0);
  config.set_encoding(cohort::v1::UPDATE_ENCODING_FLOAT32);
  auto p = ResolveCodecParams(config, 5, 1000, 2);
  REQUIRE(p.ok());
  CHECK(p->modulus_bits() == 0);
  CHECK(p->vector_length() == 6);
  CHECK(ValidateCodecParams(*p).ok());
}

TEST_CASE("ResolveCodecParams_RefusesEmptyModelsCohortsAndChunks") {
  CHECK(ResolveCodecParams(Config(), 0, 10, 10).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(ResolveCodecParams(Config(), 10, 0, 10).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(ResolveCodecParams(Config(), 10, 10, 0).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("ValidateCodecParams_RefusesAModulusThatCannotHoldOneDevice") {
  auto p = ResolveCodecParams(Config(8, 1000), 10, 1, 10);
  REQUIRE(p.ok());
  CHECK(p->modulus_bits() == 18);  // 1000 * 255 = 255,000 < 2^18
  CHECK(ValidateCodecParams(*p).ok());
  p->set_modulus_bits(17);
  auto s = ValidateCodecParams(*p);
  INFO(s.ToString());
  REQUIRE(s.code() == absl::StatusCode::kInvalidArgument);
  CHECK(Contains(s, "255000"));
  p->set_modulus_bits(63);
  CHECK(ValidateCodecParams(*p).code() == absl::StatusCode::kInvalidArgument);
  p->set_modulus_bits(18);
  p->set_vector_length(1);
  CHECK(ValidateCodecParams(*p).code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("MaxContributors_IsTheLargestCohortWhoseSumCannotWrap") {
  for (int32_t cohort : {1, 2, 99, 1000}) {
    auto p = ResolveCodecParams(Config(8, 1000), 10, cohort, 10);
    REQUIRE(p.ok());
    const int64_t most = MaxContributors(*p);
    CHECK(most >= cohort);
    const uint64_t per_device = 1000 * MaxLevel(8);
    CHECK(static_cast<uint64_t>(most) * per_device < (uint64_t{1} << p->modulus_bits()));
    CHECK(static_cast<uint64_t>(most + 1) * per_device >= (uint64_t{1} << p->modulus_bits()));
  }
}

}  // namespace
}  // namespace cohort::codec
