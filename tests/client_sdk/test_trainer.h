#ifndef COHORT_TESTS_CLIENT_SDK_TEST_TRAINER_H_
#define COHORT_TESTS_CLIENT_SDK_TEST_TRAINER_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
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

}  // namespace cohort::client::test_util

#endif  // COHORT_TESTS_CLIENT_SDK_TEST_TRAINER_H_
