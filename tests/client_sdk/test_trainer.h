#ifndef COHORT_TESTS_CLIENT_SDK_TEST_TRAINER_H_
#define COHORT_TESTS_CLIENT_SDK_TEST_TRAINER_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "cohort/client/trainer.h"
#include "client_sdk/trainer/eigen_trainer.h"

namespace cohort::client::test_util {

// The built-in trainer on 24 small deterministic examples derived from `seed`, so that a device
// in a child process and its successor in the test process train on the same data.
inline absl::StatusOr<std::unique_ptr<EigenTrainer>> MakeTestTrainer(int seed, int inputs,
                                                                     int classes) {
  std::vector<float> features;
  std::vector<int32_t> labels;
  for (int i = 0; i < 24; ++i) {
    for (int f = 0; f < inputs; ++f) {
      features.push_back(static_cast<float>((i * 7 + f * 3 + seed) % 11) / 10.0f);
    }
    labels.push_back((i + seed) % classes);
  }
  return EigenTrainer::Create(std::move(features), std::move(labels), inputs, seed);
}

// Moves every parameter by a fixed step; FedAvg of such devices is the mean step.
class StepTrainer : public Trainer {
 public:
  StepTrainer(float step, int64_t examples) : step_(step), examples_(examples) {}
  absl::StatusOr<TrainingResult> Train(const ModelLayout&, absl::Span<const float> parameters,
                                       const TrainingParams&) override {
    TrainingResult r;
    r.parameters.assign(parameters.begin(), parameters.end());
    for (float& p : r.parameters) p += step_;
    r.num_examples = examples_;
    return r;
  }
  absl::StatusOr<EvaluationResult> Evaluate(const ModelLayout&, absl::Span<const float>) override {
    return absl::UnimplementedError("unused");
  }

 private:
  float step_;
  int64_t examples_;
};

}  // namespace cohort::client::test_util

#endif  // COHORT_TESTS_CLIENT_SDK_TEST_TRAINER_H_
