#include "codec/server_optimizer.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "codec/model.h"

namespace cohort::codec {
namespace {

using cohort::v1::ServerOptimizerConfig;

// The model's parameters, checked against `average_delta` (and `expected` when >= 0).
absl::StatusOr<std::vector<float>> CheckedParameters(const cohort::v1::Model& model,
                                                     absl::Span<const float> average_delta,
                                                     int64_t expected) {
  COHORT_ASSIGN_OR_RETURN(std::vector<float> params, ParametersOf(model));
  if (average_delta.size() != params.size()) {
    return absl::InvalidArgumentError(absl::StrCat("the average delta has ", average_delta.size(),
                                                   " values, model version ", model.version(),
                                                   " has ", params.size()));
  }
  if (expected >= 0 && static_cast<int64_t>(params.size()) != expected) {
    return absl::InvalidArgumentError(absl::StrCat("the optimizer was made for ", expected,
                                                   " parameters, model version ", model.version(),
                                                   " has ", params.size()));
  }
  for (size_t i = 0; i < average_delta.size(); ++i) {
    if (!std::isfinite(average_delta[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("average_delta[", i, "] is not finite: ", average_delta[i]));
    }
  }
  return params;
}

absl::StatusOr<cohort::v1::Model> NextModel(const cohort::v1::Model& model,
                                            const std::vector<float>& params) {
  for (size_t i = 0; i < params.size(); ++i) {
    if (!std::isfinite(params[i])) {
      return absl::InvalidArgumentError(absl::StrCat("the step makes parameter ", i,
                                                     " of model version ", model.version(),
                                                     " overflow float32"));
    }
  }
  return MakeModel(model.layout(), params, model.version() + 1);
}

}  // namespace

absl::StatusOr<cohort::v1::Model> FedAvg::Apply(const cohort::v1::Model& model,
                                                absl::Span<const float> average_delta) {
  COHORT_ASSIGN_OR_RETURN(std::vector<float> params,
                          CheckedParameters(model, average_delta, /*expected=*/-1));
  for (size_t i = 0; i < params.size(); ++i) {
    params[i] = static_cast<float>(params[i] + learning_rate_ * average_delta[i]);
  }
  return NextModel(model, params);
}

absl::StatusOr<cohort::v1::Model> FedAvgM::Apply(const cohort::v1::Model& model,
                                                 absl::Span<const float> average_delta) {
  COHORT_ASSIGN_OR_RETURN(
      std::vector<float> params,
      CheckedParameters(model, average_delta, static_cast<int64_t>(velocity_.size())));
  // Computed aside, so that a refused step leaves the velocity as it was.
  std::vector<double> velocity(velocity_.size());
  for (size_t i = 0; i < params.size(); ++i) {
    velocity[i] = momentum_ * velocity_[i] + average_delta[i];
    params[i] = static_cast<float>(params[i] + learning_rate_ * velocity[i]);
  }
  COHORT_ASSIGN_OR_RETURN(cohort::v1::Model next, NextModel(model, params));
  velocity_ = std::move(velocity);
  return next;
}

absl::StatusOr<std::unique_ptr<ServerOptimizer>> CreateServerOptimizer(
    const ServerOptimizerConfig& config, int64_t num_parameters) {
  if (num_parameters < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("a server optimizer needs num_parameters >= 1, got ", num_parameters));
  }
  const double learning_rate = config.learning_rate() == 0 ? 1.0 : config.learning_rate();
  if (!(learning_rate > 0) || !std::isfinite(learning_rate)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "optimizer.learning_rate must be finite and > 0, got ", config.learning_rate()));
  }
  switch (config.kind()) {
    case ServerOptimizerConfig::KIND_UNSPECIFIED:
    case ServerOptimizerConfig::KIND_FEDAVG:
      return std::make_unique<FedAvg>(learning_rate);
    case ServerOptimizerConfig::KIND_FEDAVGM: {
      const double momentum = config.momentum() == 0 ? 0.9 : config.momentum();
      if (!(momentum >= 0 && momentum < 1)) {
        return absl::InvalidArgumentError(
            absl::StrCat("optimizer.momentum must be in [0, 1), got ", config.momentum()));
      }
      return std::make_unique<FedAvgM>(num_parameters, learning_rate, momentum);
    }
    default:
      break;
  }
  const std::string& name = ServerOptimizerConfig::Kind_Name(config.kind());
  return absl::UnimplementedError(
      absl::StrCat("server optimizer kind ", name.empty() ? absl::StrCat(config.kind()) : name,
                   " is not implemented in this build (known: KIND_FEDAVG, KIND_FEDAVGM)"));
}

}  // namespace cohort::codec
