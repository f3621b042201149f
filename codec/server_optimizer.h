#ifndef COHORT_CODEC_SERVER_OPTIMIZER_H_
#define COHORT_CODEC_SERVER_OPTIMIZER_H_

// Server optimizers: how a round's decoded average delta moves the global model (Reddi et al.,
// "Adaptive Federated Optimization", ICLR 2021, treat -average_delta as a pseudo-gradient).
//   FedAvg  (McMahan et al. 2017):  x <- x + lr * delta.
//   FedAvgM (Hsu et al. 2019):      v <- momentum * v + delta;  x <- x + lr * v.
// FedAdam and FedYogi fit the same interface (they keep first and second moments); they are not
// built yet, and a config naming a kind this build does not know is refused with UNIMPLEMENTED.
//
//   COHORT_ASSIGN_OR_RETURN(std::unique_ptr<ServerOptimizer> optimizer,
//                           CreateServerOptimizer(config.optimizer(), num_parameters));
//   COHORT_ASSIGN_OR_RETURN(cohort::v1::Model next, optimizer->Apply(model, average_delta));
//
// Optimizer state (FedAvgM's velocity) lives in the object, not in the model: a server that
// restarts starts again from zero velocity.
// Codes: Apply returns INVALID_ARGUMENT for a model whose parameters do not match its layout or
// the optimizer's size, a delta of the wrong length, a non-finite delta or a step that
// overflows float32 (the model is then not changed). CreateServerOptimizer returns
// INVALID_ARGUMENT for a learning rate that is not finite and > 0, a momentum outside [0, 1)
// or num_parameters < 1, and UNIMPLEMENTED for an unknown kind.
// Optimizers are not thread-safe.

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "cohort/v1/admin.pb.h"
#include "cohort/v1/model.pb.h"

namespace cohort::codec {

class ServerOptimizer {
 public:
  virtual ~ServerOptimizer() = default;

  // The next model: version + 1, same layout, parameters moved by `average_delta`, sha256 set.
  virtual absl::StatusOr<cohort::v1::Model> Apply(const cohort::v1::Model& model,
                                                  absl::Span<const float> average_delta) = 0;
};

class FedAvg : public ServerOptimizer {
 public:
  explicit FedAvg(double learning_rate = 1.0) : learning_rate_(learning_rate) {}
  absl::StatusOr<cohort::v1::Model> Apply(const cohort::v1::Model& model,
                                          absl::Span<const float> average_delta) override;

 private:
  double learning_rate_;
};

class FedAvgM : public ServerOptimizer {
 public:
  explicit FedAvgM(int64_t num_parameters, double learning_rate = 1.0, double momentum = 0.9)
      : learning_rate_(learning_rate),
        momentum_(momentum),
        velocity_(static_cast<size_t>(num_parameters), 0.0) {}
  absl::StatusOr<cohort::v1::Model> Apply(const cohort::v1::Model& model,
                                          absl::Span<const float> average_delta) override;

  absl::Span<const double> velocity() const { return velocity_; }

 private:
  double learning_rate_;
  double momentum_;
  std::vector<double> velocity_;
};

// The optimizer a task's config asks for. Unset fields take their defaults: kind FEDAVG,
// learning_rate 1.0, momentum 0.9 (FEDAVGM).
absl::StatusOr<std::unique_ptr<ServerOptimizer>> CreateServerOptimizer(
    const cohort::v1::ServerOptimizerConfig& config, int64_t num_parameters);

}  // namespace cohort::codec

#endif  // COHORT_CODEC_SERVER_OPTIMIZER_H_
