#include "codec/evaluation_metrics.h"

#include <cmath>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "codec/aggregate_decoder.h"
#include "codec/codec_params.h"
#include "codec/splitmix64.h"
#include "codec/update_encoder.h"

namespace cohort::codec {
namespace {

using cohort::v1::CodecParams;

CodecParams Params(cohort::v1::UpdateEncoding encoding, bool evaluation_only) {
  cohort::v1::CodecConfig config;
  config.set_encoding(encoding);
  config.set_bits(8);
  config.set_max_example_weight(100);
  config.set_l2_clip_norm(1.0);
  absl::StatusOr<CodecParams> p = ResolveCodecParams(config, 5, 20, 64);
  REQUIRE(p.ok());
  AddEvaluation(*p, evaluation_only, 4.0);
  REQUIRE(ValidateCodecParams(*p).ok());
  return *p;
}

struct Device {
  EvaluationCounts counts;
  std::vector<float> delta;
};

std::vector<Device> Cohort(int n, uint64_t seed) {
  SplitMix64 rng(seed);
  std::vector<Device> devices(static_cast<size_t>(n));
  for (Device& d : devices) {
    d.counts.examples = static_cast<int64_t>(rng.NextBelow(150));  // some above the cap of 100
    d.counts.correct = d.counts.examples == 0 ? 0 : static_cast<int64_t>(rng.NextBelow(d.counts.examples + 1));
    d.counts.mean_loss = 5.0 * rng.NextDouble();  // some above max_eval_loss = 4
    for (int i = 0; i < 5; ++i) d.delta.push_back(static_cast<float>(0.2 * rng.NextDouble() - 0.1));
  }
  return devices;
}

// The expected sums, computed from the definition (not the encoder).
EvaluationSums Expected(const std::vector<Device>& devices) {
  EvaluationSums s;
  for (const Device& d : devices) {
    const int64_t e = std::min<int64_t>(d.counts.examples, 100);
    s.examples += e;
    s.correct += d.counts.examples == 0 ? 0 : std::llround(1.0 * e * d.counts.correct / d.counts.examples);
    s.loss_sum += e * std::min(d.counts.mean_loss, 4.0);
  }
  return s;
}

TEST_CASE("DecodeEvaluationSum_QuantizedCountsAreExactAndTheLossWithinOneLevel") {
  const CodecParams params = Params(cohort::v1::UPDATE_ENCODING_QUANTIZED, false);
  CHECK(params.vector_length() == 5 + 1 + 3);
  CHECK(UpdateLength(params) == 6);
  const std::vector<Device> devices = Cohort(20, 7);
  absl::StatusOr<PlainAccumulator> acc = PlainAccumulator::Create(params);
  REQUIRE(acc.ok());
  uint64_t seed = 100;
  for (const Device& d : devices) {
    absl::StatusOr<EncodedUpdate> update = EncodeUpdate(params, d.delta, 10, seed);
    REQUIRE(update.ok());
    absl::StatusOr<std::array<uint64_t, 3>> tail = EncodeEvaluation(params, d.counts, seed++);
    REQUIRE(tail.ok());
    std::vector<uint64_t> vector = update->values;
    vector.insert(vector.end(), tail->begin(), tail->end());
    REQUIRE(acc->Add(vector).ok());
  }
  absl::StatusOr<EvaluationSums> sums = acc->DecodeEvaluation();
  REQUIRE(sums.ok());
  const EvaluationSums expected = Expected(devices);
  CHECK(sums->examples == expected.examples);
  CHECK(sums->correct == expected.correct);
  // Each device's loss is off by less than one level (4 / 255) per example.
  CHECK(std::abs(sums->loss_sum - expected.loss_sum) <= expected.examples * 4.0 / 255.0);
  // The update part still decodes.
  CHECK(acc->Decode().ok());
}

TEST_CASE("EncodeEvaluation_QuantizedLossIsUnbiased") {
  const CodecParams params = Params(cohort::v1::UPDATE_ENCODING_QUANTIZED, true);
  EvaluationCounts counts{50, 20, 1.2345};
  double total = 0;
  const int trials = 4000;
  for (int t = 0; t < trials; ++t) {
    absl::StatusOr<std::array<uint64_t, 3>> tail = EncodeEvaluation(params, counts, t);
    REQUIRE(tail.ok());
    total += static_cast<double>((*tail)[2]) * 4.0 / 255.0 / 50.0;
  }
  // The level 1.2345 / 4 * 255 = 78.70 rounds to 78 or 79; the mean of 4000 draws has a standard
  // deviation of 0.0072 levels (1.1e-4 in loss).
  CHECK(std::abs(total / trials - 1.2345) < 5e-4);  // always rounding down would be 0.011 off
}

TEST_CASE("DecodeEvaluationSum_EvaluationOnlyFloatRoundSumsTheCounts") {
  const CodecParams params = Params(cohort::v1::UPDATE_ENCODING_FLOAT32, true);
  CHECK(params.vector_length() == 3);
  CHECK(UpdateLength(params) == 0);
  const std::vector<Device> devices = Cohort(7, 3);
  absl::StatusOr<PlainAccumulator> acc = PlainAccumulator::Create(params);
  REQUIRE(acc.ok());
  for (const Device& d : devices) {
    absl::StatusOr<std::array<uint64_t, 3>> tail = EncodeEvaluation(params, d.counts, 1);
    REQUIRE(tail.ok());
    REQUIRE(acc->Add(*tail).ok());
  }
  absl::StatusOr<EvaluationSums> sums = acc->DecodeEvaluation();
  REQUIRE(sums.ok());
  const EvaluationSums expected = Expected(devices);
  CHECK(sums->examples == expected.examples);
  CHECK(sums->correct == expected.correct);
  CHECK(sums->loss_sum == Approx(expected.loss_sum).epsilon(1e-6));
  CHECK_FALSE(acc->Decode().ok());  // there is no update to decode
}

TEST_CASE("EncodeEvaluation_RefusesImpossibleCountsAndDecodeImpossibleSums") {
  const CodecParams params = Params(cohort::v1::UPDATE_ENCODING_QUANTIZED, true);
  CHECK(EncodeEvaluation(params, {5, 6, 1.0}, 1).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(EncodeEvaluation(params, {5, 2, -1.0}, 1).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(EncodeEvaluation(params, {5, 2, NAN}, 1).status().code() ==
        absl::StatusCode::kInvalidArgument);
  const std::vector<uint64_t> too_many = {201, 10, 0};  // two devices hold at most 200
  CHECK(DecodeEvaluationSum(params, too_many, {}, 2).status().code() ==
        absl::StatusCode::kInvalidArgument);
  const std::vector<uint64_t> correct_above = {20, 21, 0};
  CHECK(DecodeEvaluationSum(params, correct_above, {}, 2).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CodecParams plain = params;
  plain.set_metric_elements(0);
  plain.set_evaluation_only(false);
  CHECK(EncodeEvaluation(plain, {5, 2, 1.0}, 1).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("ValidateCodecParams_ChecksTheEvaluationFields") {
  CodecParams p = Params(cohort::v1::UPDATE_ENCODING_QUANTIZED, false);
  p.set_metric_elements(2);
  CHECK(ValidateCodecParams(p).message() == "codec.metric_elements must be 0 or 3, got 2");
  p = Params(cohort::v1::UPDATE_ENCODING_QUANTIZED, true);
  p.set_vector_length(9);
  CHECK(ValidateCodecParams(p).code() == absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cohort::codec
