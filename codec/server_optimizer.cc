#include "codec/server_optimizer.h"

#include <cmath>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "codec/learning_rate_decay.h"
#include "codec/model.h"

namespace cohort::codec {
namespace {

using cohort::v1::ServerOptimizerConfig;

absl::Status Invalid(absl::string_view field, absl::string_view requirement, double got) {
  return absl::InvalidArgumentError(
      absl::StrCat("optimizer.", field, " must be ", requirement, ", got ", got));
}

std::string KindName(OptimizerKind kind) {
  const std::string& name = ServerOptimizerConfig::Kind_Name(kind);
  return name.empty() ? absl::StrCat(static_cast<int>(kind)) : name;
}

// The model's parameters, checked against `average_delta` and the optimizer's size.
absl::StatusOr<std::vector<float>> CheckedParameters(const cohort::v1::Model& model,
                                                     absl::Span<const float> average_delta,
                                                     int64_t expected) {
  COHORT_ASSIGN_OR_RETURN(std::vector<float> params, ParametersOf(model));
  if (average_delta.size() != params.size()) {
    return absl::InvalidArgumentError(absl::StrCat("the average delta has ", average_delta.size(),
                                                   " values, model version ", model.version(),
                                                   " has ", params.size()));
  }
  if (static_cast<int64_t>(params.size()) != expected) {
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

absl::Status CheckStateSize(const OptimizerState& state, size_t first, size_t second) {
  if (state.first.size() != first || state.second.size() != second) {
    return absl::InvalidArgumentError(
        absl::StrCat("the optimizer state holds ", state.first.size(), " + ", state.second.size(),
                     " values, the optimizer needs ", first, " + ", second));
  }
  return absl::OkStatus();
}

absl::StatusOr<OptimizerStep> NextStep(const cohort::v1::Model& model,
                                       const std::vector<float>& params, OptimizerState state) {
  for (size_t i = 0; i < params.size(); ++i) {
    if (!std::isfinite(params[i])) {
      return absl::InvalidArgumentError(absl::StrCat("the step makes parameter ", i,
                                                     " of model version ", model.version(),
                                                     " overflow float32"));
    }
  }
  COHORT_ASSIGN_OR_RETURN(cohort::v1::Model next,
                          MakeModel(model.layout(), params, model.version() + 1));
  ++state.steps;
  return OptimizerStep{std::move(next), std::move(state)};
}

class FedAvg final : public ServerOptimizer {
 public:
  FedAvg(int64_t n, LearningRateDecay rate) : n_(n), rate_(rate) {}
  OptimizerKind kind() const override { return ServerOptimizerConfig::KIND_FEDAVG; }
  int64_t num_parameters() const override { return n_; }
  OptimizerState InitialState() const override { return {}; }
  absl::StatusOr<OptimizerStep> Apply(const cohort::v1::Model& model, absl::Span<const float> delta,
                                      const OptimizerState& state) const override {
    COHORT_ASSIGN_OR_RETURN(std::vector<float> x, CheckedParameters(model, delta, n_));
    COHORT_RETURN_IF_ERROR(CheckStateSize(state, 0, 0));
    const double learning_rate = rate_.RateAt(state.steps);
    for (size_t i = 0; i < x.size(); ++i)
      x[i] = static_cast<float>(x[i] + learning_rate * delta[i]);
    return NextStep(model, x, state);
  }

 private:
  int64_t n_;
  LearningRateDecay rate_;
};

class FedAvgM final : public ServerOptimizer {
 public:
  FedAvgM(int64_t n, LearningRateDecay rate, double momentum)
      : n_(n), rate_(rate), momentum_(momentum) {}
  OptimizerKind kind() const override { return ServerOptimizerConfig::KIND_FEDAVGM; }
  int64_t num_parameters() const override { return n_; }
  OptimizerState InitialState() const override {
    OptimizerState state;
    state.first.assign(static_cast<size_t>(n_), 0.0);
    return state;
  }
  absl::StatusOr<OptimizerStep> Apply(const cohort::v1::Model& model, absl::Span<const float> delta,
                                      const OptimizerState& state) const override {
    COHORT_ASSIGN_OR_RETURN(std::vector<float> x, CheckedParameters(model, delta, n_));
    COHORT_RETURN_IF_ERROR(CheckStateSize(state, static_cast<size_t>(n_), 0));
    OptimizerState next = state;
    const double learning_rate = rate_.RateAt(state.steps);
    for (size_t i = 0; i < x.size(); ++i) {
      next.first[i] = momentum_ * state.first[i] + delta[i];
      x[i] = static_cast<float>(x[i] + learning_rate * next.first[i]);
    }
    return NextStep(model, x, std::move(next));
  }

 private:
  int64_t n_;
  LearningRateDecay rate_;
  double momentum_;
};

// FedAdagrad, FedAdam and FedYogi differ only in how v moves.
class Adaptive final : public ServerOptimizer {
 public:
  Adaptive(OptimizerKind kind, int64_t n, LearningRateDecay rate,
           const ServerOptimizerConfig& config)
      : kind_(kind),
        n_(n),
        rate_(rate),
        beta1_(config.beta1()),
        beta2_(config.beta2()),
        tau_(config.tau()) {}
  OptimizerKind kind() const override { return kind_; }
  int64_t num_parameters() const override { return n_; }
  OptimizerState InitialState() const override {
    OptimizerState state;
    state.first.assign(static_cast<size_t>(n_), 0.0);
    state.second.assign(static_cast<size_t>(n_), tau_ * tau_);
    return state;
  }
  absl::StatusOr<OptimizerStep> Apply(const cohort::v1::Model& model, absl::Span<const float> delta,
                                      const OptimizerState& state) const override {
    COHORT_ASSIGN_OR_RETURN(std::vector<float> x, CheckedParameters(model, delta, n_));
    COHORT_RETURN_IF_ERROR(CheckStateSize(state, static_cast<size_t>(n_), static_cast<size_t>(n_)));
    OptimizerState next = state;
    const double learning_rate = rate_.RateAt(state.steps);
    for (size_t i = 0; i < x.size(); ++i) {
      const double d = delta[i];
      const double d2 = d * d;
      double& m = next.first[i];
      double& v = next.second[i];
      m = beta1_ * m + (1 - beta1_) * d;
      switch (kind_) {
        case ServerOptimizerConfig::KIND_FEDADAGRAD:
          v = v + d2;
          break;
        case ServerOptimizerConfig::KIND_FEDADAM:
          v = beta2_ * v + (1 - beta2_) * d2;
          break;
        default:  // KIND_FEDYOGI
          v = v - (1 - beta2_) * d2 * (v > d2 ? 1.0 : v < d2 ? -1.0 : 0.0);
          break;
      }
      x[i] = static_cast<float>(x[i] + learning_rate * m / (std::sqrt(v) + tau_));
    }
    return NextStep(model, x, std::move(next));
  }

 private:
  OptimizerKind kind_;
  int64_t n_;
  LearningRateDecay rate_;
  double beta1_, beta2_, tau_;
};

bool InUnitInterval(double x) { return x >= 0 && x < 1; }

}  // namespace

bool IsAdaptive(OptimizerKind kind) {
  return kind == ServerOptimizerConfig::KIND_FEDADAGRAD ||
         kind == ServerOptimizerConfig::KIND_FEDADAM || kind == ServerOptimizerConfig::KIND_FEDYOGI;
}

absl::StatusOr<ServerOptimizerConfig> ValidateServerOptimizerConfig(ServerOptimizerConfig config) {
  if (config.kind() == ServerOptimizerConfig::KIND_UNSPECIFIED) {
    config.set_kind(ServerOptimizerConfig::KIND_FEDAVG);
  }
  const OptimizerKind kind = config.kind();
  if (kind != ServerOptimizerConfig::KIND_FEDAVG && kind != ServerOptimizerConfig::KIND_FEDAVGM &&
      !IsAdaptive(kind)) {
    return absl::InvalidArgumentError(
        absl::StrCat("optimizer.kind ", KindName(kind),
                     " is not known to this build (known: KIND_FEDAVG, KIND_FEDAVGM, "
                     "KIND_FEDADAGRAD, KIND_FEDADAM, KIND_FEDYOGI)"));
  }
  const bool adaptive = IsAdaptive(kind);
  if (config.learning_rate() == 0) {
    config.set_learning_rate(adaptive ? OptimizerDefaults::kAdaptiveLearningRate
                                      : OptimizerDefaults::kLearningRate);
  }
  if (!(config.learning_rate() > 0) || !std::isfinite(config.learning_rate())) {
    return Invalid("learning_rate", "finite and > 0", config.learning_rate());
  }
  COHORT_RETURN_IF_ERROR(
      LearningRateDecay::Create(config.learning_rate(), config.decay()).status());
  // A hyper-parameter of another kind does nothing here: refuse it rather than ignore it.
  if (kind == ServerOptimizerConfig::KIND_FEDAVGM) {
    if (config.momentum() == 0) config.set_momentum(OptimizerDefaults::kMomentum);
    if (!InUnitInterval(config.momentum()))
      return Invalid("momentum", "in [0, 1)", config.momentum());
  } else if (config.momentum() != 0) {
    return Invalid("momentum", absl::StrCat("unset for ", KindName(kind)), config.momentum());
  }
  if (!adaptive) {
    for (const auto& [field, value] : {std::pair<const char*, double>{"beta1", config.beta1()},
                                       {"beta2", config.beta2()},
                                       {"tau", config.tau()}}) {
      if (value != 0) return Invalid(field, absl::StrCat("unset for ", KindName(kind)), value);
    }
    return config;
  }
  if (config.beta1() == 0) config.set_beta1(OptimizerDefaults::kBeta1);
  if (!InUnitInterval(config.beta1())) return Invalid("beta1", "in [0, 1)", config.beta1());
  if (kind == ServerOptimizerConfig::KIND_FEDADAGRAD) {
    if (config.beta2() != 0) {
      return Invalid("beta2", "unset for KIND_FEDADAGRAD (it sums the squares)", config.beta2());
    }
  } else {
    if (config.beta2() == 0) config.set_beta2(OptimizerDefaults::kBeta2);
    if (!InUnitInterval(config.beta2())) return Invalid("beta2", "in [0, 1)", config.beta2());
  }
  if (config.tau() == 0) config.set_tau(OptimizerDefaults::kTau);
  if (!(config.tau() > 0) || !std::isfinite(config.tau())) {
    return Invalid("tau", "finite and > 0", config.tau());
  }
  return config;
}

absl::StatusOr<std::unique_ptr<ServerOptimizer>> CreateServerOptimizer(
    const ServerOptimizerConfig& requested, int64_t num_parameters) {
  if (num_parameters < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("a server optimizer needs num_parameters >= 1, got ", num_parameters));
  }
  COHORT_ASSIGN_OR_RETURN(const ServerOptimizerConfig config,
                          ValidateServerOptimizerConfig(requested));
  COHORT_ASSIGN_OR_RETURN(const LearningRateDecay rate,
                          LearningRateDecay::Create(config.learning_rate(), config.decay()));
  switch (config.kind()) {
    case ServerOptimizerConfig::KIND_FEDAVG:
      return std::make_unique<FedAvg>(num_parameters, rate);
    case ServerOptimizerConfig::KIND_FEDAVGM:
      return std::make_unique<FedAvgM>(num_parameters, rate, config.momentum());
    default:
      return std::make_unique<Adaptive>(config.kind(), num_parameters, rate, config);
  }
}

cohort::v1::ServerOptimizerState StateToProto(OptimizerKind kind, const OptimizerState& state) {
  cohort::v1::ServerOptimizerState proto;
  proto.set_kind(kind);
  proto.set_steps(state.steps);
  proto.mutable_first_moment()->Add(state.first.begin(), state.first.end());
  proto.mutable_second_moment()->Add(state.second.begin(), state.second.end());
  return proto;
}

absl::StatusOr<OptimizerState> StateFromProto(const ServerOptimizer& optimizer,
                                              const cohort::v1::ServerOptimizerState& proto) {
  if (proto.kind() != optimizer.kind()) {
    return absl::InvalidArgumentError(absl::StrCat("the stored optimizer state is of kind ",
                                                   KindName(proto.kind()), ", the task runs ",
                                                   KindName(optimizer.kind())));
  }
  if (proto.steps() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("the stored optimizer state has ", proto.steps(), " steps"));
  }
  OptimizerState state;
  state.steps = proto.steps();
  state.first.assign(proto.first_moment().begin(), proto.first_moment().end());
  state.second.assign(proto.second_moment().begin(), proto.second_moment().end());
  const OptimizerState initial = optimizer.InitialState();
  COHORT_RETURN_IF_ERROR(CheckStateSize(state, initial.first.size(), initial.second.size()));
  return state;
}

}  // namespace cohort::codec
