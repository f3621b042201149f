#include "codec/aggregate_decoder.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "codec/codec_params.h"
#include "codec/splitmix64.h"
#include "codec/update_encoder.h"

namespace cohort::codec {
namespace {

using cohort::v1::CodecParams;

CodecParams Params(int64_t d, int bits, int32_t max_weight, int32_t max_cohort, double clip,
                   double range = 0,
                   cohort::v1::UpdateEncoding encoding = cohort::v1::UPDATE_ENCODING_QUANTIZED) {
  cohort::v1::CodecConfig config;
  config.set_encoding(encoding);
  config.set_bits(bits);
  config.set_max_example_weight(max_weight);
  config.set_l2_clip_norm(clip);
  config.set_quantization_range(range);
  auto p = ResolveCodecParams(config, d, max_cohort, 64);
  REQUIRE(p.ok());
  return *p;
}

bool Contains(const absl::Status& s, const std::string& text) {
  return std::string(s.message()).find(text) != std::string::npos;
}

// One device of a simulated cohort.
struct Device {
  std::vector<float> delta;
  int64_t examples = 1;
};

// What the codec approximates: the weighted average of the clipped, clamped deltas, in double.
std::vector<double> ReferenceAverage(const std::vector<Device>& devices, const CodecParams& p,
                                     double* n_eff) {
  const size_t d = devices[0].delta.size();
  std::vector<double> sum(d, 0.0);
  double total = 0;
  double total_squares = 0;
  for (const Device& dev : devices) {
    const double w = static_cast<double>(std::min<int64_t>(dev.examples, p.max_example_weight()));
    double norm2 = 0;
    for (float v : dev.delta) norm2 += static_cast<double>(v) * v;
    const double norm = std::sqrt(norm2);
    const double scale =
        p.l2_clip_norm() > 0 && norm > p.l2_clip_norm() ? p.l2_clip_norm() / norm : 1.0;
    const double r = p.quantization_range();
    for (size_t j = 0; j < d; ++j) sum[j] += w * std::clamp(dev.delta[j] * scale, -r, r);
    total += w;
    total_squares += w * w;
  }
  for (double& s : sum) s /= total;
  *n_eff = total * total / total_squares;
  return sum;
}

TEST_CASE("DecodeQuantizedSum_MatchesWeightedFedAvgWithinTheDerivedErrorBound") {
  // docs/codec.md#error-bound: with step Δ = 2r / (2^b - 1), every decoded coordinate is within
  // Δ of the weighted average of the clipped, clamped updates (plus float32 output rounding,
  // at most 2^-24 r), and its error has variance at most Δ^2 / (4 n_eff), n_eff =
  // (Σw)^2 / Σw^2. The first is asserted per coordinate; the second on the mean of
  // error^2 / (Δ^2 / (4 n_eff)) over all coordinates of all iterations, which must be <= 1.
  SplitMix64 rng(20240601);
  auto below = [&](uint64_t n) { return static_cast<int64_t>(rng.Next() % n); };
  double normalised_squares = 0;
  int64_t coordinates = 0;
  int64_t clipped_iterations = 0;
  for (int iteration = 0; iteration < 400; ++iteration) {
    const int bits = 2 + static_cast<int>(below(15));
    const int32_t max_weight = iteration % 4 == 0 ? 1 : 1 + static_cast<int32_t>(below(2000));
    const int32_t n = 1 + static_cast<int32_t>(below(40));
    const int64_t d = 1 + below(150);
    const double clip = 0.05 + 2.0 * rng.NextDouble();
    const double range = iteration % 3 == 0 ? clip * (0.2 + rng.NextDouble()) : 0.0;
    const bool small = iteration % 2 == 0;  // every update inside the clip norm and the range
    const CodecParams p =
        Params(d, bits, max_weight, n + static_cast<int32_t>(below(5)), clip, small ? 0.0 : range);
    const double r = p.quantization_range();

    std::vector<Device> devices(static_cast<size_t>(n));
    auto acc = PlainAccumulator::Create(p);
    REQUIRE(acc.ok());
    bool any_clipped = false;
    for (Device& dev : devices) {
      dev.examples = 1 + below(static_cast<uint64_t>(2 * max_weight));
      dev.delta.resize(static_cast<size_t>(d));
      // Small: |u_j| < C / sqrt(d), so ||u|| < C and no clipping or clamping happens.
      const double spread = small ? 0.999 * clip / std::sqrt(static_cast<double>(d))
                                  : clip * (0.1 + 3.0 * rng.NextDouble());
      for (float& v : dev.delta) v = static_cast<float>((2 * rng.NextDouble() - 1) * spread);
      auto e = EncodeUpdate(p, dev.delta, dev.examples, rng.Next());
      REQUIRE(e.ok());
      any_clipped = any_clipped || e->clipped;
      REQUIRE(acc->Add(e->values).ok());
    }
    clipped_iterations += any_clipped ? 1 : 0;
    auto result = acc->Decode();
    REQUIRE(result.ok());
    REQUIRE(result->contributors == n);
    REQUIRE(result->average_delta.size() == static_cast<size_t>(d));

    double n_eff = 0;
    const std::vector<double> reference = ReferenceAverage(devices, p, &n_eff);
    const double step = 2 * r / static_cast<double>(MaxLevel(bits));
    const double float_rounding = std::ldexp(r, -24);
    double total_weight = 0;
    for (const Device& dev : devices) {
      total_weight += static_cast<double>(std::min<int64_t>(dev.examples, max_weight));
    }
    CHECK(result->total_weight == total_weight);
    for (int64_t j = 0; j < d; ++j) {
      const double error = result->average_delta[static_cast<size_t>(j)] - reference[j];
      INFO("iteration=" << iteration << " j=" << j << " bits=" << bits << " n=" << n
                        << " error/step=" << error / step);
      REQUIRE(std::abs(error) <= step + float_rounding);
      if (small) {
        // Nothing clipped or clamped: the reference is plain float weighted FedAvg.
        double plain = 0;
        for (const Device& dev : devices) {
          plain += static_cast<double>(std::min<int64_t>(dev.examples, max_weight)) *
                   dev.delta[static_cast<size_t>(j)];
        }
        REQUIRE(std::abs(result->average_delta[static_cast<size_t>(j)] - plain / total_weight) <=
                step + float_rounding + 1e-12);
      }
      const double variance_bound = step * step / (4 * n_eff) + float_rounding * float_rounding;
      normalised_squares += error * error / variance_bound;
      ++coordinates;
    }
  }
  INFO("coordinates=" << coordinates
                      << " mean normalised square error=" << normalised_squares / coordinates);
  CHECK(clipped_iterations > 50);  // the property covers clipping, not just the easy case
  CHECK(normalised_squares / coordinates <= 1.0);
  // Uniformly spread rounding fractions give 2/3 of the bound; far below would mean the test
  // is not measuring rounding error at all.
  CHECK(normalised_squares / coordinates > 0.3);
}

TEST_CASE("DecodeQuantizedSum_WorstCaseAtMaximumCohortAndWeightDoesNotWrap") {
  // Every device at the weight cap and the top (or bottom) level: the largest sum the
  // parameters allow. 1000 * 1000 * 65535 = 65,535,000,000 needs 36 bits.
  constexpr int32_t kCohort = 1000;
  constexpr int32_t kMaxWeight = 1000;
  const CodecParams p = Params(3, 16, kMaxWeight, kCohort, /*clip=*/0.0, /*range=*/1.0);
  REQUIRE(p.modulus_bits() == 36);
  auto acc = PlainAccumulator::Create(p);
  REQUIRE(acc.ok());
  auto e = EncodeUpdate(p, std::vector<float>{5.0f, -5.0f, 1.0f}, /*examples=*/5000, 1);
  REQUIRE(e.ok());
  for (int i = 0; i < kCohort; ++i) REQUIRE(acc->Add(e->values).ok());
  const uint64_t top = uint64_t{kCohort} * kMaxWeight * MaxLevel(16);
  const auto sum = acc->quantized_sum();
  CHECK(sum[0] == top);
  CHECK(sum[1] == 0);
  CHECK(sum[2] == top);
  CHECK(sum[3] == uint64_t{kCohort} * kMaxWeight);
  // The modulus is tight: one bit fewer would have wrapped this sum.
  CHECK(top >= (uint64_t{1} << (p.modulus_bits() - 1)));
  auto result = acc->Decode();
  REQUIRE(result.ok());
  CHECK(result->average_delta == std::vector<float>{1.0f, -1.0f, 1.0f});
  CHECK(result->total_weight == 1e6);
}

TEST_CASE("DecodeQuantizedSum_IsDataLossForAZeroTotalWeight") {
  const CodecParams p = Params(2, 8, 10, 5, 1.0);
  auto result = DecodeQuantizedSum(std::vector<uint64_t>{0, 0, 0}, p, 2);
  REQUIRE(result.status().code() == absl::StatusCode::kDataLoss);
  CHECK(Contains(result.status(), "total weight of 0"));
}

TEST_CASE("DecodeQuantizedSum_RefusesASumOfTheWrongLength") {
  const CodecParams p = Params(2, 8, 10, 5, 1.0);
  auto result = DecodeQuantizedSum(std::vector<uint64_t>{1, 1}, p, 1);
  REQUIRE(result.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Contains(result.status(), "the sum has 2 elements, the update part of codec.vector_length is 3"));
}

TEST_CASE("DecodeQuantizedSum_RefusesATotalWeightNoCohortCouldHave") {
  const CodecParams p = Params(2, 8, 10, 5, 1.0);
  // Two contributors of weight <= 10 cannot total 21.
  auto result = DecodeQuantizedSum(std::vector<uint64_t>{0, 0, 21}, p, 2);
  REQUIRE(result.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Contains(result.status(), "impossible sum: total weight 21 from 2 contributors"));
  CHECK(DecodeQuantizedSum(std::vector<uint64_t>{0, 0, 20}, p, 2).ok());
}

TEST_CASE("DecodeQuantizedSum_RefusesAnElementAboveTotalWeightTimesTopLevel") {
  const CodecParams p = Params(2, 8, 10, 5, 1.0);
  auto result = DecodeQuantizedSum(std::vector<uint64_t>{4 * 255 + 1, 0, 4}, p, 1);
  REQUIRE(result.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Contains(result.status(), "element 0"));
}

TEST_CASE("DecodeQuantizedSum_RefusesMoreContributorsThanTheModulusHolds") {
  const CodecParams p = Params(1, 8, 10, 5, 1.0);
  const int64_t most = MaxContributors(p);
  auto result = DecodeQuantizedSum(std::vector<uint64_t>{0, 1}, p, static_cast<int32_t>(most + 1));
  REQUIRE(result.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Contains(result.status(), "may have wrapped"));
  CHECK(DecodeQuantizedSum(std::vector<uint64_t>{0, 0}, p, 0).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("DecodeFloatSum_IsTheExactWeightedAverage") {
  const CodecParams p = Params(3, 8, 100, 5, 0.0, 0.0, cohort::v1::UPDATE_ENCODING_FLOAT32);
  auto acc = PlainAccumulator::Create(p);
  REQUIRE(acc.ok());
  auto a = EncodeUpdate(p, std::vector<float>{1.0f, -2.0f, 0.5f}, 1, 0);
  auto b = EncodeUpdate(p, std::vector<float>{3.0f, 2.0f, 0.25f}, 3, 0);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  REQUIRE(acc->Add(a->values).ok());
  REQUIRE(acc->Add(b->values).ok());
  auto result = acc->Decode();
  REQUIRE(result.ok());
  CHECK(result->total_weight == 4);
  CHECK(result->contributors == 2);
  CHECK(result->average_delta == std::vector<float>{2.5f, 1.0f, 0.3125f});
}

TEST_CASE("DecodeFloatSum_RefusesZeroNegativeAndNonFiniteSums") {
  const CodecParams p = Params(1, 8, 100, 5, 0.0, 0.0, cohort::v1::UPDATE_ENCODING_FLOAT32);
  CHECK(DecodeFloatSum(std::vector<double>{1.0, 0.0}, p, 1).status().code() ==
        absl::StatusCode::kDataLoss);
  CHECK(DecodeFloatSum(std::vector<double>{1.0, -3.0}, p, 1).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(DecodeFloatSum(std::vector<double>{std::nan(""), 2.0}, p, 1).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(DecodeFloatSum(std::vector<double>{1.0, std::nan("")}, p, 1).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(DecodeFloatSum(std::vector<double>{1.0}, p, 1).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("PlainAccumulator_AddsModuloTheModulus") {
  const CodecParams p = Params(1, 2, 1, 1, 1.0);
  REQUIRE(p.modulus_bits() == 8);
  auto acc = PlainAccumulator::Create(p);
  REQUIRE(acc.ok());
  REQUIRE(acc->Add(std::vector<uint64_t>{200, 1}).ok());
  REQUIRE(acc->Add(std::vector<uint64_t>{100, 255}).ok());
  CHECK(acc->quantized_sum()[0] == (300 % 256));
  CHECK(acc->quantized_sum()[1] == 0);
  CHECK(acc->contributors() == 2);
}

TEST_CASE("PlainAccumulator_RefusesAWrongLengthOrAnElementOutsideTheRing") {
  const CodecParams p = Params(1, 2, 1, 1, 1.0);
  auto acc = PlainAccumulator::Create(p);
  REQUIRE(acc.ok());
  CHECK(acc->Add(std::vector<uint64_t>{1}).code() == absl::StatusCode::kInvalidArgument);
  auto s = acc->Add(std::vector<uint64_t>{256, 1});
  REQUIRE(s.code() == absl::StatusCode::kInvalidArgument);
  CHECK(Contains(s, "not below 2^8"));
  CHECK(acc->contributors() == 0);
  CHECK(acc->quantized_sum()[0] == 0);
}

}  // namespace
}  // namespace cohort::codec
