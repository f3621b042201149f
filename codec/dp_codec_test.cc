#include "codec/dp_codec.h"

#include <bit>
#include <cmath>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "codec/codec_params.h"
#include "secagg/testing/fake_random_source.h"

namespace cohort::codec {
namespace {

std::string Seed(uint64_t n) {
  std::string seed(32, '\0');
  secagg::FakeRandomSource source(n);
  source.Fill(absl::MakeSpan(reinterpret_cast<uint8_t*>(seed.data()), seed.size()));
  return seed;
}

cohort::v1::CodecParams Params(privacy::Mechanism mechanism, int64_t d, double z,
                               cohort::v1::DpWeighting weighting = cohort::v1::DP_WEIGHTING_UNIFORM,
                               double count_stddev = 0) {
  privacy::DpSpec spec;
  spec.mechanism = mechanism;
  spec.clip_norm = 1.0;
  spec.noise_multiplier = z;
  spec.dimension = d;
  spec.bits = 20;
  spec.min_contributors = 10;
  spec.max_contributors = 10;
  spec.clipped_count_stddev = count_stddev;
  auto round = privacy::ResolveDpRound(spec);
  REQUIRE(round.ok());
  cohort::v1::DpParams dp = ToProto(*round);
  dp.set_rotation_seed(Seed(3));
  dp.set_weighting(weighting);
  cohort::v1::CodecConfig config;
  config.set_max_example_weight(100);
  auto params = ResolveDpCodecParams(config, dp, d, 1024);
  REQUIRE(params.ok());
  REQUIRE(ValidateCodecParams(*params).ok());
  return *params;
}

TEST_CASE("ResolveDpCodecParams_LaysOutTheNoisedCoordinatesAndTheCount") {
  const auto distributed = Params(privacy::Mechanism::kDistributedDiscreteGaussian, 300, 1.0);
  CHECK(distributed.encoding() == cohort::v1::UPDATE_ENCODING_DISTRIBUTED_DP);
  CHECK(distributed.modulus_bits() == 20);
  CHECK(distributed.vector_length() == 512 + 1);
  const auto adaptive = Params(privacy::Mechanism::kDistributedSkellam, 300, 1.0,
                               cohort::v1::DP_WEIGHTING_UNIFORM, 1);
  CHECK(adaptive.vector_length() == 512 + 2);
  const auto central = Params(privacy::Mechanism::kCentralGaussian, 300, 1.0);
  CHECK(central.encoding() == cohort::v1::UPDATE_ENCODING_FLOAT32);
  CHECK(central.vector_length() == 301);
}

TEST_CASE("ValidateCodecParams_RefusesBrokenDpParams") {
  auto p = Params(privacy::Mechanism::kDistributedDiscreteGaussian, 300, 1.0);
  p.mutable_dp()->set_rotation_seed("short");
  CHECK(ValidateCodecParams(p).code() == absl::StatusCode::kInvalidArgument);
  p = Params(privacy::Mechanism::kDistributedDiscreteGaussian, 300, 1.0);
  p.set_modulus_bits(24);
  CHECK(ValidateCodecParams(p).code() == absl::StatusCode::kInvalidArgument);
  p = Params(privacy::Mechanism::kDistributedDiscreteGaussian, 300, 1.0);
  p.mutable_dp()->set_local_noise_variance(0.001);
  CHECK(ValidateCodecParams(p).code() == absl::StatusCode::kInvalidArgument);
  p = Params(privacy::Mechanism::kDistributedDiscreteGaussian, 300, 1.0);
  p.set_encoding(cohort::v1::UPDATE_ENCODING_QUANTIZED);
  CHECK(ValidateCodecParams(p).code() == absl::StatusCode::kInvalidArgument);
  // The plain encoder does not take DP rounds.
  p = Params(privacy::Mechanism::kDistributedDiscreteGaussian, 300, 1.0);
  CHECK(UpdateEncoder::Create(p, std::vector<float>(300), 1, 1).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("DecodeDpSum_AveragesTheClippedUpdatesOverTheContributors") {
  const auto p = Params(privacy::Mechanism::kDistributedDiscreteGaussian, 300, 0.001);
  secagg::FakeRandomSource noise(4);
  std::vector<uint64_t> sum(static_cast<size_t>(p.vector_length()), 0);
  const uint64_t mask = (uint64_t{1} << 20) - 1;
  std::vector<double> expected(300, 0.0);
  for (int i = 0; i < 10; ++i) {
    std::vector<float> delta(300, 0.01f * static_cast<float>(i - 4));
    if (i == 9) delta.assign(300, 1.0f);  // norm 17.3: clipped to 1
    double norm = 0;
    for (float v : delta) norm += static_cast<double>(v) * v;
    norm = std::sqrt(norm);
    for (size_t j = 0; j < 300; ++j) expected[j] += delta[j] * std::min(1.0, 1.0 / norm) / 10;
    auto e = EncodeDpUpdate(p, delta, 50, noise);
    REQUIRE(e.ok());
    CHECK(e->clipped == (i == 9));
    for (size_t j = 0; j < sum.size(); ++j) sum[j] = (sum[j] + e->values[j]) & mask;
  }
  auto avg = DecodeDpSum(sum, p, 10);
  REQUIRE(avg.ok());
  CHECK(avg->contributors == 10);
  double max_error = 0;
  for (size_t j = 0; j < 300; ++j) {
    max_error = std::max(max_error, std::abs(avg->average_delta[j] - expected[j]));
  }
  CHECK(max_error < 0.002);
  // The count element must say how many devices are in the sum.
  CHECK(DecodeDpSum(sum, p, 9).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("EncodeDpUpdate_CappedWeightingScalesTheClippedUpdate") {
  const auto p =
      Params(privacy::Mechanism::kCentralGaussian, 4, 1.0, cohort::v1::DP_WEIGHTING_CAPPED);
  secagg::FakeRandomSource noise(5);
  const std::vector<float> delta = {3, 4, 0, 0};   // norm 5, clipped to 1
  auto few = EncodeDpUpdate(p, delta, 25, noise);  // 25 of a cap of 100 examples
  auto many = EncodeDpUpdate(p, delta, 1000, noise);
  REQUIRE(few.ok());
  REQUIRE(many.ok());
  CHECK(std::bit_cast<float>(static_cast<uint32_t>(few->values[0])) == Approx(0.25 * 0.6));
  CHECK(std::bit_cast<float>(static_cast<uint32_t>(many->values[1])) == Approx(0.8));
  CHECK(std::bit_cast<float>(static_cast<uint32_t>(few->values[4])) == 1.0f);
}

TEST_CASE("AddCentralDpNoise_NoisesTheSumNotTheAverage") {
  // 10 devices, z = 0.5, C = 1: the sum gets noise of stddev 0.5, the average 0.05.
  const auto p = Params(privacy::Mechanism::kCentralGaussian, 4000, 0.5);
  secagg::FakeRandomSource noise(6);
  AggregateResult result;
  result.contributors = 10;
  result.total_weight = 10;
  result.average_delta.assign(4000, 0.125f);
  REQUIRE(AddCentralDpNoise(p, result, noise).ok());
  double mean = 0, var = 0;
  for (float v : result.average_delta) {
    mean += (v - 0.125) / 4000;
    var += (v - 0.125) * (v - 0.125) / 4000;
  }
  CHECK(std::abs(mean) < 6 * 0.05 / std::sqrt(4000.0));
  CHECK(std::abs(var / (0.05 * 0.05) - 1) < 6 * std::sqrt(2.0 / 4000));
}

}  // namespace
}  // namespace cohort::codec
