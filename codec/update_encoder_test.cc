#include "codec/update_encoder.h"

#include <bit>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "codec/codec_params.h"

namespace cohort::codec {
namespace {

cohort::v1::CodecParams Params(int64_t d, int bits = 8, int32_t max_weight = 100, double clip = 1.0,
                               double range = 0) {
  cohort::v1::CodecConfig config;
  config.set_encoding(cohort::v1::UPDATE_ENCODING_QUANTIZED);
  config.set_bits(bits);
  config.set_max_example_weight(max_weight);
  config.set_l2_clip_norm(clip);
  config.set_quantization_range(range);
  auto p = ResolveCodecParams(config, d, /*max_cohort=*/100, /*chunk_elements=*/1024);
  REQUIRE(p.ok());
  return *p;
}

cohort::v1::CodecParams Float32Params(int64_t d, double clip = 0) {
  cohort::v1::CodecParams p = Params(d, 8, 100, clip == 0 ? 1.0 : clip);
  p.set_encoding(cohort::v1::UPDATE_ENCODING_FLOAT32);
  p.set_l2_clip_norm(clip);
  p.set_modulus_bits(0);
  return p;
}

bool Contains(const absl::Status& s, const std::string& text) {
  return std::string(s.message()).find(text) != std::string::npos;
}

TEST_CASE("ClipToNorm_ScalesALongVectorDownToTheBound") {
  std::vector<float> v = {3.0f, 4.0f};
  const ClipResult r = ClipToNorm(absl::MakeSpan(v), 1.0);
  CHECK(r.clipped);
  CHECK(r.norm == 5.0);
  CHECK(v[0] == Approx(0.6f));
  CHECK(v[1] == Approx(0.8f));
}

TEST_CASE("ClipToNorm_LeavesAShortVectorAndZeroBoundAlone") {
  std::vector<float> v = {0.3f, 0.4f};
  const ClipResult short_vector = ClipToNorm(absl::MakeSpan(v), 1.0);
  CHECK_FALSE(short_vector.clipped);
  CHECK(short_vector.norm == Approx(0.5));
  CHECK(v == std::vector<float>{0.3f, 0.4f});
  std::vector<float> long_vector = {30.0f, 40.0f};
  const ClipResult off = ClipToNorm(absl::MakeSpan(long_vector), 0.0);
  CHECK_FALSE(off.clipped);
  CHECK(long_vector == std::vector<float>{30.0f, 40.0f});
}

TEST_CASE("EncodeUpdate_PutsTheCappedWeightLast") {
  const auto params = Params(4, 8, /*max_weight=*/10);
  auto capped = EncodeUpdate(params, std::vector<float>{0.1f, -0.2f, 0.0f, 0.3f}, 25, 1);
  REQUIRE(capped.ok());
  CHECK(capped->values.size() == 5);
  CHECK(capped->values.back() == 10);
  CHECK(capped->weight == 10);
  auto below = EncodeUpdate(params, std::vector<float>{0.1f, -0.2f, 0.0f, 0.3f}, 3, 1);
  REQUIRE(below.ok());
  CHECK(below->values.back() == 3);
}

TEST_CASE("EncodeUpdate_ElementsAreTheWeightTimesALevel") {
  const auto params = Params(1000, 6, 100);
  std::vector<float> delta(1000);
  for (size_t i = 0; i < delta.size(); ++i) delta[i] = static_cast<float>(std::sin(i) * 0.05);
  auto e = EncodeUpdate(params, delta, 7, 99);
  REQUIRE(e.ok());
  for (size_t i = 0; i < delta.size(); ++i) {
    REQUIRE(e->values[i] % 7 == 0);
    REQUIRE(e->values[i] / 7 <= MaxLevel(6));
  }
}

TEST_CASE("EncodeUpdate_GridPointsAndTheRangeEndsEncodeExactly") {
  // 2 bits, r = 1.5: levels -1.5, -0.5, 0.5, 1.5 (step 1). No clipping here (clip = 0).
  const auto params = Params(4, 2, 100, /*clip=*/0.0, /*range=*/1.5);
  for (uint64_t seed = 0; seed < 20; ++seed) {
    auto e = EncodeUpdate(params, std::vector<float>{-1.5f, -0.5f, 0.5f, 1.5f}, 2, seed);
    REQUIRE(e.ok());
    CHECK(e->values == std::vector<uint64_t>{0, 2, 4, 6, 2});
  }
}

TEST_CASE("EncodeUpdate_ClampsCoordinatesToTheQuantizationRange") {
  const auto params = Params(2, 8, 100, /*clip=*/0.0, /*range=*/0.5);
  auto e = EncodeUpdate(params, std::vector<float>{-9.0f, 7.0f}, 1, 3);
  REQUIRE(e.ok());
  CHECK_FALSE(e->clipped);
  CHECK(e->values[0] == 0);
  CHECK(e->values[1] == MaxLevel(8));
}

TEST_CASE("EncodeUpdate_ClipsAndReportsTheNorm") {
  const auto params = Params(2, 16, 1, /*clip=*/1.0);
  // (6, 8) has norm 10 and clips to (0.6, 0.8).
  auto e = EncodeUpdate(params, std::vector<float>{6.0f, 8.0f}, 1, 3);
  REQUIRE(e.ok());
  CHECK(e->clipped);
  CHECK(e->norm == 10.0);
  const double step = 2.0 / MaxLevel(16);
  CHECK(std::abs(static_cast<double>(e->values[0]) * step - 1 - 0.6) <= step);
  CHECK(std::abs(static_cast<double>(e->values[1]) * step - 1 - 0.8) <= step);
}

TEST_CASE("EncodeUpdate_StochasticRoundingIsUnbiased") {
  // x sits 30% of the way from one level to the next. Unbiased rounding goes up with probability
  // 0.3; the mean error over N draws has standard deviation sqrt(0.21 / N) steps (0.001 steps
  // for N = 200,000), so a tolerance of 0.01 steps is ~10 standard deviations. Round-to-nearest
  // (off by 0.3, 0.5 and 0.07 steps here) and always-down (0.3, 0.5, 0.93) would both fail.
  constexpr int64_t kDraws = 100000;
  constexpr int kBits = 4;
  const double range = 1.0;
  const double step = 2 * range / MaxLevel(kBits);
  for (double fraction : {0.3, 0.5, 0.93}) {
    const double q = 6 + fraction;  // level 6.3 etc.
    const float x = static_cast<float>(q * step - range);
    const double exact_q = (static_cast<double>(x) + range) / step;  // after float rounding
    const auto params = Params(kDraws, kBits, 100, /*clip=*/0.0, range);
    const std::vector<float> delta(kDraws, x);
    double mean_error = 0;
    for (uint64_t seed : {uint64_t{1}, uint64_t{2}}) {
      auto e = EncodeUpdate(params, delta, 1, seed);
      REQUIRE(e.ok());
      double sum = 0;
      for (int64_t i = 0; i < kDraws; ++i) sum += static_cast<double>(e->values[i]);
      mean_error += (sum / kDraws - exact_q) / 2;
    }
    INFO("fraction=" << fraction << " mean error in steps=" << mean_error);
    CHECK(std::abs(mean_error) < 0.01);
    // The negative check: deterministic round-to-nearest of the same value is biased well
    // beyond the tolerance.
    const double nearest_error = std::round(exact_q) - exact_q;
    const double floor_error = std::floor(exact_q) - exact_q;
    CHECK(std::abs(nearest_error) > 0.05);
    CHECK(std::abs(floor_error) > 0.05);
  }
}

TEST_CASE("EncodeUpdate_IsDeterministicPerSeedAndDiffersAcrossSeeds") {
  const auto params = Params(500, 8);
  std::vector<float> delta(500);
  for (size_t i = 0; i < delta.size(); ++i) delta[i] = static_cast<float>(std::cos(i) * 0.04);
  auto a = EncodeUpdate(params, delta, 5, 11);
  auto b = EncodeUpdate(params, delta, 5, 11);
  auto c = EncodeUpdate(params, delta, 5, 12);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  REQUIRE(c.ok());
  CHECK(a->values == b->values);
  CHECK(a->values != c->values);
}

TEST_CASE("UpdateEncoder_EncodingRangesMatchesTheWholeEncoding") {
  const auto params = Params(1000, 8);
  std::vector<float> delta(1000);
  for (size_t i = 0; i < delta.size(); ++i) delta[i] = static_cast<float>(std::sin(3.0 * i) * 0.1);
  auto whole = EncodeUpdate(params, delta, 9, 5);
  REQUIRE(whole.ok());
  auto encoder = UpdateEncoder::Create(params, delta, 9, 5);
  REQUIRE(encoder.ok());
  CHECK(encoder->clipped() == whole->clipped);
  CHECK(encoder->norm() == whole->norm);
  std::vector<uint64_t> pieces(1001);
  for (int64_t begin = 0; begin < 1001; begin += 77) {
    const int64_t n = std::min<int64_t>(77, 1001 - begin);
    REQUIRE(encoder->Encode(begin, absl::MakeSpan(pieces).subspan(begin, n)).ok());
  }
  CHECK(pieces == whole->values);
}

TEST_CASE("UpdateEncoder_RefusesARangeOutsideTheVector") {
  const auto params = Params(10);
  const std::vector<float> delta(10, 0.0f);
  auto encoder = UpdateEncoder::Create(params, delta, 1, 1);
  REQUIRE(encoder.ok());
  std::vector<uint64_t> out(5);
  CHECK(encoder->Encode(7, absl::MakeSpan(out)).code() == absl::StatusCode::kInvalidArgument);
  CHECK(encoder->Encode(-1, absl::MakeSpan(out)).code() == absl::StatusCode::kInvalidArgument);
  CHECK(encoder->Encode(6, absl::MakeSpan(out)).ok());
}

TEST_CASE("EncodeUpdate_RefusesNaNAndInfinityNamingTheIndex") {
  const auto params = Params(3);
  auto nan = EncodeUpdate(params, std::vector<float>{0.1f, std::nanf(""), 0.0f}, 1, 1);
  REQUIRE(nan.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Contains(nan.status(), "delta[1] is NaN"));
  auto inf = EncodeUpdate(
      params, std::vector<float>{0.1f, 0.0f, -std::numeric_limits<float>::infinity()}, 1, 1);
  REQUIRE(inf.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Contains(inf.status(), "delta[2] is infinite"));
  auto float_nan =
      EncodeUpdate(Float32Params(3), std::vector<float>{std::nanf(""), 0.0f, 0.0f}, 1, 1);
  CHECK(float_nan.status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("EncodeUpdate_RefusesAWeightOfZeroOrLess") {
  for (int64_t examples : {int64_t{0}, int64_t{-5}}) {
    auto e = EncodeUpdate(Params(2), std::vector<float>{0.1f, 0.2f}, examples, 1);
    INFO(e.status().ToString());
    REQUIRE(e.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(Contains(e.status(), "num_examples must be >= 1"));
  }
}

TEST_CASE("EncodeUpdate_RefusesADeltaThatDoesNotFitTheVectorLength") {
  auto e = EncodeUpdate(Params(5), std::vector<float>{0.1f, 0.2f}, 1, 1);
  REQUIRE(e.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Contains(e.status(), "a delta of 2 values does not fit codec.vector_length 6"));
}

TEST_CASE("EncodeUpdate_RefusesParametersTheCodecDoesNotAccept") {
  auto params = Params(2);
  params.set_modulus_bits(4);
  CHECK(EncodeUpdate(params, std::vector<float>{0.1f, 0.2f}, 1, 1).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("EncodeUpdate_Float32CarriesTheWeightedValuesAsFloatBits") {
  auto e = EncodeUpdate(Float32Params(2), std::vector<float>{0.5f, -0.25f}, 4, 1);
  REQUIRE(e.ok());
  REQUIRE(e->values.size() == 3);
  CHECK(std::bit_cast<float>(static_cast<uint32_t>(e->values[0])) == 2.0f);
  CHECK(std::bit_cast<float>(static_cast<uint32_t>(e->values[1])) == -1.0f);
  CHECK(std::bit_cast<float>(static_cast<uint32_t>(e->values[2])) == 4.0f);
  // Clipping applies to float32 too.
  auto clipped = EncodeUpdate(Float32Params(2, /*clip=*/1.0), std::vector<float>{3, 4}, 1, 1);
  REQUIRE(clipped.ok());
  CHECK(clipped->clipped);
  CHECK(std::bit_cast<float>(static_cast<uint32_t>(clipped->values[0])) == Approx(0.6f));
}

TEST_CASE("EncodeUpdate_Float32RefusesAValueThatOverflows") {
  auto e = EncodeUpdate(Float32Params(1), std::vector<float>{3e38f}, 100, 1);
  REQUIRE(e.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Contains(e.status(), "overflows float32"));
}

}  // namespace
}  // namespace cohort::codec
