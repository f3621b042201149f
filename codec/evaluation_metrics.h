#ifndef COHORT_CODEC_EVALUATION_METRICS_H_
#define COHORT_CODEC_EVALUATION_METRICS_H_

// Federated evaluation through the round's sum (docs/codec.md#federated-evaluation): a device
// appends three elements to its update (or uploads them alone in an evaluation-only round), and
// the cohort's sum gives the examples, correct predictions and loss of the global model on the
// devices' held-out data, without revealing any one device's numbers under secure aggregation.
//   e = min(examples, max_example_weight)         (a device's influence is capped like its weight)
//   c = round(e * correct / examples)
//   QUANTIZED: l = e * level, level = unbiased stochastic rounding of
//              min(mean_loss, max_eval_loss) / max_eval_loss * (2^b - 1)
//   FLOAT32:   float32 bit patterns of e, c and e * min(mean_loss, max_eval_loss)
// Each element is at most max_example_weight * (2^b - 1), the bound of an update coordinate, so
// the round's modulus holds their sum as well. The rounding draw is SplitMix64 output 0 of
// MixSeed(seed, kEvaluationStream).
//
// Codes: INVALID_ARGUMENT for parameters without metric elements, negative counts, more correct
// than examples, a negative or non-finite loss, a sum of the wrong length, and an impossible sum
// (more examples than contributors * max_example_weight, more correct than examples, a loss
// above its bound). Thread-safe (pure functions).

#include <array>
#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "cohort/v1/plan.pb.h"

namespace cohort::codec {

inline constexpr int kMetricElements = 3;
inline constexpr double kDefaultMaxEvalLoss = 16.0;
// The MixSeed stream of the loss rounding draw ("evaluate" in ASCII).
inline constexpr uint64_t kEvaluationStream = 0x6576616c75617465ULL;

// Turns resolved round parameters into those of a round that evaluates: three metric elements
// after the update, or (evaluation_only) the metric elements alone.
void AddEvaluation(cohort::v1::CodecParams& params, bool evaluation_only, double max_eval_loss);

// Elements of the update part of the vector: vector_length - metric_elements, 0 in an
// evaluation-only round.
int64_t UpdateLength(const cohort::v1::CodecParams& params);

struct EvaluationCounts {
  int64_t examples = 0;
  int64_t correct = 0;
  // Mean loss per example.
  double mean_loss = 0.0;
};

// The three tail elements of one device.
absl::StatusOr<std::array<uint64_t, kMetricElements>> EncodeEvaluation(
    const cohort::v1::CodecParams& params, const EvaluationCounts& counts, uint64_t seed);

struct EvaluationSums {
  int64_t examples = 0;
  int64_t correct = 0;
  // Sum of the (clamped) per-example losses; loss_sum / examples is the mean.
  double loss_sum = 0.0;
};

// `tail` is the sum of `contributors` devices' tail elements: mod 2^m for QUANTIZED (exact
// integers, since the modulus cannot wrap), float sums for FLOAT32.
absl::StatusOr<EvaluationSums> DecodeEvaluationSum(const cohort::v1::CodecParams& params,
                                                   absl::Span<const uint64_t> quantized_tail,
                                                   absl::Span<const double> float_tail,
                                                   int32_t contributors);

}  // namespace cohort::codec

#endif  // COHORT_CODEC_EVALUATION_METRICS_H_
