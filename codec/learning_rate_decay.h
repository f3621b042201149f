#ifndef COHORT_CODEC_LEARNING_RATE_DECAY_H_
#define COHORT_CODEC_LEARNING_RATE_DECAY_H_

// The server learning rate as a function of the optimizer's step (protos/cohort/v1/admin.proto,
// LearningRateDecay, has the formulas). A decaying rate lets an adaptive server optimizer take
// large steps early and settle late: on label-skewed cohorts of ten devices a constant rate keeps
// the global model swinging by about a point from round to round (docs/benchmarks.md).
//
//   COHORT_ASSIGN_OR_RETURN(LearningRateDecay decay,
//                           LearningRateDecay::Create(config.learning_rate(), config.decay()));
//   double rate = decay.RateAt(state.steps);
//
// Codes: Create returns INVALID_ARGUMENT naming the field (optimizer.decay.kind for a kind this
// build does not know, optimizer.decay.steps, optimizer.decay.final_fraction), including a field
// set for KIND_CONSTANT, which would otherwise be ignored.
// Thread-safe: immutable.

#include <cstdint>

#include "absl/status/statusor.h"
#include "cohort/v1/admin.pb.h"

namespace cohort::codec {

class LearningRateDecay {
 public:
  // `config` checked; `learning_rate` is the rate at step 0 and must be finite and > 0.
  static absl::StatusOr<LearningRateDecay> Create(double learning_rate,
                                                  const cohort::v1::LearningRateDecay& config);

  // The rate for the step after `step` earlier ones; the final rate for step >= steps, the
  // initial one for step <= 0.
  double RateAt(int64_t step) const;

 private:
  LearningRateDecay(double learning_rate, cohort::v1::LearningRateDecay config)
      : learning_rate_(learning_rate), config_(config) {}

  double learning_rate_;
  cohort::v1::LearningRateDecay config_;
};

}  // namespace cohort::codec

#endif  // COHORT_CODEC_LEARNING_RATE_DECAY_H_
