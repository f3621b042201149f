#include "codec/learning_rate_decay.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>

#include "absl/strings/str_cat.h"

namespace cohort::codec {
namespace {

using Config = cohort::v1::LearningRateDecay;

absl::Status Invalid(absl::string_view field, absl::string_view requirement,
                     const std::string& got) {
  return absl::InvalidArgumentError(
      absl::StrCat("optimizer.decay.", field, " must be ", requirement, ", got ", got));
}

}  // namespace

absl::StatusOr<LearningRateDecay> LearningRateDecay::Create(double learning_rate,
                                                            const Config& config) {
  if (!(learning_rate > 0) || !std::isfinite(learning_rate)) {
    return absl::InvalidArgumentError(
        absl::StrCat("optimizer.learning_rate must be finite and > 0, got ", learning_rate));
  }
  switch (config.kind()) {
    case Config::KIND_CONSTANT:
      if (config.steps() != 0) {
        return Invalid("steps", "unset for KIND_CONSTANT", absl::StrCat(config.steps()));
      }
      if (config.final_fraction() != 0) {
        return Invalid("final_fraction", "unset for KIND_CONSTANT",
                       absl::StrCat(config.final_fraction()));
      }
      break;
    case Config::KIND_COSINE:
    case Config::KIND_LINEAR:
      if (config.steps() < 1) return Invalid("steps", ">= 1", absl::StrCat(config.steps()));
      if (!(config.final_fraction() >= 0 && config.final_fraction() <= 1)) {
        return Invalid("final_fraction", "in [0, 1]", absl::StrCat(config.final_fraction()));
      }
      break;
    default:
      return Invalid("kind", "KIND_CONSTANT, KIND_COSINE or KIND_LINEAR",
                     absl::StrCat(static_cast<int>(config.kind())));
  }
  return LearningRateDecay(learning_rate, config);
}

double LearningRateDecay::RateAt(int64_t step) const {
  if (config_.kind() == Config::KIND_CONSTANT) return learning_rate_;
  const double progress =
      static_cast<double>(std::clamp<int64_t>(step, 0, config_.steps())) / config_.steps();
  const double floor = config_.final_fraction();
  const double fraction =
      config_.kind() == Config::KIND_COSINE
          ? floor + (1 - floor) * (1 + std::cos(std::numbers::pi * progress)) / 2
          : 1 - (1 - floor) * progress;
  return learning_rate_ * fraction;
}

}  // namespace cohort::codec
