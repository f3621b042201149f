#ifndef COHORT_CODEC_AGGREGATE_DECODER_H_
#define COHORT_CODEC_AGGREGATE_DECODER_H_

// The server side of the codec (docs/codec.md#decode-server): the exact sum of a cohort's encoded
// updates becomes the weighted FedAvg delta sum_i(w_i * u_i) / sum_i(w_i), the only thing the
// server learns besides the total weight.
//   QUANTIZED: average level a_j = sum_j / W with W = sum_d (the weight element), and
//              delta_j = a_j * Δ - r with Δ = 2r / (2^b - 1).
//   FLOAT32:   delta_j = sum_j / W.
//
//   COHORT_ASSIGN_OR_RETURN(AggregateResult result,
//                           DecodeQuantizedSum(unmasked_sum, plan.codec(), contributors));
//
// Codes: INVALID_ARGUMENT for parameters ValidateCodecParams refuses, a sum whose length is not
// vector_length, contributors < 1 or more than the modulus holds (MaxContributors), and an
// impossible sum: a total weight above contributors * max_example_weight, a coordinate above
// W * (2^b - 1) (QUANTIZED) or a non-finite value (FLOAT32). DATA_LOSS for a total weight of 0.
// Thread-safe (pure functions), except PlainAccumulator, which is not.

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "codec/evaluation_metrics.h"
#include "cohort/v1/plan.pb.h"

namespace cohort::codec {

struct AggregateResult {
  std::vector<float> average_delta;  // sum(w_i * u_i) / sum(w_i), one per parameter
  double total_weight = 0;           // sum(w_i)
  int32_t contributors = 0;          // devices in the sum
  // DP rounds with adaptive clipping (codec/dp_codec.h): the noisy count of contributors whose
  // update was within the clip norm.
  bool has_unclipped_count = false;
  double unclipped_count = 0;
};

// `sum` is the exact sum in Z_(2^modulus_bits) of `contributors` QUANTIZED encoded updates: the
// update part of the vector (UpdateLength(params) elements, without evaluation counts).
absl::StatusOr<AggregateResult> DecodeQuantizedSum(absl::Span<const uint64_t> sum,
                                                   const cohort::v1::CodecParams& params,
                                                   int32_t contributors);

// `sum` is the element-wise sum of `contributors` FLOAT32 encoded updates (as float values).
absl::StatusOr<AggregateResult> DecodeFloatSum(absl::Span<const double> sum,
                                               const cohort::v1::CodecParams& params,
                                               int32_t contributors);

// Sums encoded updates without masks: the plain (no secure aggregation) path, and the reference
// secure aggregation must reproduce. QUANTIZED elements are added mod 2^modulus_bits (exactly
// what the unmasked SecAgg sum is); FLOAT32 elements are read as float32 bit patterns and added
// in double precision. Not thread-safe.
//
//   COHORT_ASSIGN_OR_RETURN(PlainAccumulator acc, PlainAccumulator::Create(plan.codec()));
//   for (const EncodedUpdate& e : updates) COHORT_RETURN_IF_ERROR(acc.Add(e.values));
//   COHORT_ASSIGN_OR_RETURN(AggregateResult result, acc.Decode());
class PlainAccumulator {
 public:
  // INVALID_ARGUMENT for parameters ValidateCodecParams refuses.
  static absl::StatusOr<PlainAccumulator> Create(const cohort::v1::CodecParams& params);

  // Adds one device's encoded update. INVALID_ARGUMENT for a wrong length or (QUANTIZED) an
  // element >= 2^modulus_bits; the sum is unchanged then.
  absl::Status Add(absl::Span<const uint64_t> encoded);

  // Decodes the update part of the current sum (codes as DecodeQuantizedSum / DecodeFloatSum).
  absl::StatusOr<AggregateResult> Decode() const;
  // Decodes the evaluation counts after the update (codes as DecodeEvaluationSum).
  absl::StatusOr<EvaluationSums> DecodeEvaluation() const;

  int32_t contributors() const { return contributors_; }
  // The running sum: QUANTIZED elements of Z_(2^m), or FLOAT32 sums.
  absl::Span<const uint64_t> quantized_sum() const { return quantized_sum_; }
  absl::Span<const double> float_sum() const { return float_sum_; }

 private:
  explicit PlainAccumulator(cohort::v1::CodecParams params) : params_(std::move(params)) {}

  cohort::v1::CodecParams params_;
  std::vector<uint64_t> quantized_sum_;
  std::vector<double> float_sum_;
  int32_t contributors_ = 0;
};

}  // namespace cohort::codec

#endif  // COHORT_CODEC_AGGREGATE_DECODER_H_
