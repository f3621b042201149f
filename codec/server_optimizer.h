#ifndef COHORT_CODEC_SERVER_OPTIMIZER_H_
#define COHORT_CODEC_SERVER_OPTIMIZER_H_

// Server optimizers: how a round's decoded average delta Δ moves the global model x. Reddi et
// al., "Adaptive Federated Optimization" (ICLR 2021), Algorithm 2, treat -Δ as a
// pseudo-gradient; with server learning rate η, every operation per coordinate:
//   FedAvg  (McMahan et al. 2017):  x <- x + η Δ
//   FedAvgM (Hsu et al. 2019):      v <- μ v + Δ;                         x <- x + η v
//   FedAdagrad:  m <- β1 m + (1 - β1) Δ;   v <- v + Δ²;                   x <- x + η m / (√v + τ)
//   FedAdam:     m <- β1 m + (1 - β1) Δ;   v <- β2 v + (1 - β2) Δ²;       x <- x + η m / (√v + τ)
//   FedYogi:     m <- β1 m + (1 - β1) Δ;   v <- v - (1 - β2) Δ² sign(v - Δ²);  x <- ...
// m (and FedAvgM's velocity) start at 0, v at τ² (the paper's v_{-1} >= τ², its smallest
// value); there is no bias correction, as in the paper. State is kept in double precision.
//
// Optimizers are pure: Apply takes the state and returns the next one with the next model, so
// the owner keeps the state with the model version it belongs to (the task runner stores both
// in one Store::CommitRound) and a step that fails, or a commit that does not land, leaves no
// trace.
//
//   COHORT_ASSIGN_OR_RETURN(std::unique_ptr<ServerOptimizer> optimizer,
//                           CreateServerOptimizer(config.optimizer(), num_parameters));
//   OptimizerState state = optimizer->InitialState();
//   COHORT_ASSIGN_OR_RETURN(OptimizerStep step, optimizer->Apply(model, average_delta, state));
//   ... commit step.model with ToProto(optimizer->kind(), step.state) ...; state = step.state;
//
// Codes: Apply returns INVALID_ARGUMENT for a model whose parameters do not match its layout or
// the optimizer's size, a delta of the wrong length, a non-finite delta, a state that does not
// fit, or a step that overflows float32 (nothing changes then). ValidateServerOptimizerConfig
// and CreateServerOptimizer return INVALID_ARGUMENT naming the field (optimizer.kind for a kind
// this build does not know, optimizer.learning_rate, optimizer.momentum, optimizer.beta1,
// optimizer.beta2, optimizer.tau) and for num_parameters < 1. StateFromProto returns
// INVALID_ARGUMENT for a state of another kind or size.
// Thread-safe: optimizers are immutable.

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "cohort/v1/admin.pb.h"
#include "cohort/v1/model.pb.h"
#include "cohort/v1/optimizer.pb.h"

namespace cohort::codec {

using OptimizerKind = cohort::v1::ServerOptimizerConfig::Kind;

struct OptimizerState {
  int64_t steps = 0;
  std::vector<double> first;   // FedAvgM velocity, or m; empty for FedAvg
  std::vector<double> second;  // v of the adaptive kinds; empty otherwise
};

struct OptimizerStep {
  cohort::v1::Model model;  // version + 1, same layout, sha256 set
  OptimizerState state;     // steps + 1
};

// Defaults filled in for fields left at zero (docs/admin_api.md lists them).
struct OptimizerDefaults {
  static constexpr double kLearningRate = 1.0;           // FEDAVG, FEDAVGM
  static constexpr double kAdaptiveLearningRate = 0.01;  // FEDADAGRAD, FEDADAM, FEDYOGI
  static constexpr double kMomentum = 0.9;
  static constexpr double kBeta1 = 0.9;
  static constexpr double kBeta2 = 0.99;
  static constexpr double kTau = 1e-3;
};

class ServerOptimizer {
 public:
  virtual ~ServerOptimizer() = default;

  virtual OptimizerKind kind() const = 0;
  virtual int64_t num_parameters() const = 0;
  // The state before the first step.
  virtual OptimizerState InitialState() const = 0;
  // One step from `model` and `state` (neither changed).
  virtual absl::StatusOr<OptimizerStep> Apply(const cohort::v1::Model& model,
                                              absl::Span<const float> average_delta,
                                              const OptimizerState& state) const = 0;
};

// True for FEDADAGRAD, FEDADAM and FEDYOGI.
bool IsAdaptive(OptimizerKind kind);

// `config` with defaults filled in, or INVALID_ARGUMENT naming the first bad field.
absl::StatusOr<cohort::v1::ServerOptimizerConfig> ValidateServerOptimizerConfig(
    cohort::v1::ServerOptimizerConfig config);

// The optimizer `config` asks for (validated as above) for a model of `num_parameters`.
absl::StatusOr<std::unique_ptr<ServerOptimizer>> CreateServerOptimizer(
    const cohort::v1::ServerOptimizerConfig& config, int64_t num_parameters);

cohort::v1::ServerOptimizerState StateToProto(OptimizerKind kind, const OptimizerState& state);
// The state stored for `optimizer`, checked against its kind and size.
absl::StatusOr<OptimizerState> StateFromProto(const ServerOptimizer& optimizer,
                                              const cohort::v1::ServerOptimizerState& proto);

}  // namespace cohort::codec

#endif  // COHORT_CODEC_SERVER_OPTIMIZER_H_
