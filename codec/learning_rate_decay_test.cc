#include "codec/learning_rate_decay.h"

#include <cmath>
#include <limits>
#include <string>

#include <catch2/catch.hpp>

namespace cohort::codec {
namespace {

using Config = cohort::v1::LearningRateDecay;

Config Decay(Config::Kind kind, int64_t steps, double final_fraction) {
  Config config;
  config.set_kind(kind);
  config.set_steps(steps);
  config.set_final_fraction(final_fraction);
  return config;
}

LearningRateDecay Make(double learning_rate, const Config& config) {
  auto decay = LearningRateDecay::Create(learning_rate, config);
  INFO(decay.status().ToString());
  REQUIRE(decay.ok());
  return *decay;
}

std::string ErrorOf(double learning_rate, const Config& config) {
  auto decay = LearningRateDecay::Create(learning_rate, config);
  REQUIRE(decay.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(decay.status().message());
}

TEST_CASE("LearningRateDecay_Unset_IsTheConstantRateAtEveryStep") {
  const LearningRateDecay decay = Make(0.02, Config());
  for (int64_t step : {int64_t{0}, int64_t{1}, int64_t{99}, int64_t{1} << 40}) {
    CHECK(decay.RateAt(step) == 0.02);
  }
}

TEST_CASE("LearningRateDecay_Cosine_MatchesItsClosedFormAtKnownPoints") {
  // 0.02 -> 0.002 over 100 steps: the half-way rate is the mean of the two, a quarter of the way
  // the cosine is 1/sqrt(2).
  const LearningRateDecay decay = Make(0.02, Decay(Config::KIND_COSINE, 100, 0.1));
  CHECK(decay.RateAt(0) == Approx(0.02).epsilon(1e-12));
  CHECK(decay.RateAt(25) == Approx(0.002 + 0.018 * (1 + std::sqrt(0.5)) / 2).epsilon(1e-12));
  CHECK(decay.RateAt(50) == Approx(0.011).epsilon(1e-12));
  CHECK(decay.RateAt(100) == Approx(0.002).epsilon(1e-12));
}

TEST_CASE("LearningRateDecay_Linear_FallsByEqualStepsToTheFinalRate") {
  const LearningRateDecay decay = Make(1.0, Decay(Config::KIND_LINEAR, 4, 0.2));
  CHECK(decay.RateAt(0) == Approx(1.0));
  CHECK(decay.RateAt(1) == Approx(0.8));
  CHECK(decay.RateAt(2) == Approx(0.6));
  CHECK(decay.RateAt(3) == Approx(0.4));
  CHECK(decay.RateAt(4) == Approx(0.2));
}

TEST_CASE("LearningRateDecay_PastItsSteps_StaysAtTheFinalRateAndNeverRises") {
  for (Config::Kind kind : {Config::KIND_COSINE, Config::KIND_LINEAR}) {
    const LearningRateDecay decay = Make(0.5, Decay(kind, 10, 0.0));
    double previous = decay.RateAt(-3);
    CHECK(previous == 0.5);
    for (int64_t step = 0; step <= 30; ++step) {
      const double rate = decay.RateAt(step);
      CHECK(rate <= previous);
      CHECK(rate >= 0.0);
      previous = rate;
    }
    CHECK(decay.RateAt(10) == Approx(0.0).margin(1e-15));
    CHECK(decay.RateAt(std::numeric_limits<int64_t>::max()) == Approx(0.0).margin(1e-15));
  }
}

TEST_CASE("LearningRateDecay_BadFields_AreRefusedByName") {
  CHECK(ErrorOf(0.1, Decay(Config::KIND_COSINE, 0, 0.1)).find("optimizer.decay.steps must be >= 1") !=
        std::string::npos);
  CHECK(ErrorOf(0.1, Decay(Config::KIND_LINEAR, 10, 1.5)).find("optimizer.decay.final_fraction") !=
        std::string::npos);
  CHECK(ErrorOf(0.1, Decay(Config::KIND_LINEAR, 10, std::nan(""))).find("final_fraction") !=
        std::string::npos);
  CHECK(ErrorOf(0.1, Decay(Config::KIND_CONSTANT, 10, 0)).find("unset for KIND_CONSTANT") !=
        std::string::npos);
  CHECK(ErrorOf(0.1, Decay(Config::KIND_CONSTANT, 0, 0.5)).find("final_fraction must be unset") !=
        std::string::npos);
  CHECK(ErrorOf(0.1, Decay(static_cast<Config::Kind>(7), 10, 0)).find("optimizer.decay.kind") !=
        std::string::npos);
  CHECK(ErrorOf(0.0, Config()).find("optimizer.learning_rate") != std::string::npos);
}

}  // namespace
}  // namespace cohort::codec
