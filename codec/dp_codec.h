#ifndef COHORT_CODEC_DP_CODEC_H_
#define COHORT_CODEC_DP_CODEC_H_

// Differential privacy as a step of the codec (docs/privacy.md): the same CodecParams a device
// already receives carry `dp`, and these functions turn a delta into the DP encoding and the
// round's sum back into the average delta. The mechanisms themselves live in privacy/.
//
// Layout of a distributed-DP upload (encoding UPDATE_ENCODING_DISTRIBUTED_DP), all elements of
// Z_(2^dp.bits):
//   [0, dp.noised_coordinates)  the rotated, scaled, rounded and noised update (and, with
//                               adaptive clipping, the noised +-h unclipped bit last);
//   dp.noised_coordinates       1: the contributor count, not noised (the server knows who
//                               uploaded; it checks the sum against it).
// vector_length = noised_coordinates + 1. Central DP (plain rounds) uses FLOAT32: element j is
// float32(c * clip(u)_j), element d is 1.
// Weights: UNIFORM c = 1; CAPPED c = min(examples, W) / W. Either way ||c clip(u)|| <= C, and
// the server divides the (noisy) sum by the number of contributors.
//
// The noise must come from a source the server cannot predict: devices pass secagg::OsRandom().
//
//   COHORT_ASSIGN_OR_RETURN(CodecParams p, ResolveDpCodecParams(config.codec(), dp, d, 65536));
//   COHORT_ASSIGN_OR_RETURN(EncodedUpdate e, EncodeDpUpdate(p, delta, examples, *OsRandom()));
//   COHORT_ASSIGN_OR_RETURN(AggregateResult avg, DecodeDpSum(sum, p, contributors));
//
// Codes: INVALID_ARGUMENT for DP parameters that do not validate (naming the field), a delta of
// the wrong length or with a non-finite value, num_examples < 1, a sum of the wrong length, and
// an impossible sum (the count element differs from the contributors); RESOURCE_EXHAUSTED when
// conditional rounding keeps failing. Thread-safe (pure functions).

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "codec/aggregate_decoder.h"
#include "codec/update_encoder.h"
#include "cohort/v1/plan.pb.h"
#include "privacy/mechanism.h"
#include "secagg/random_source.h"

namespace cohort::codec {

privacy::Mechanism ToMechanism(cohort::v1::DpMechanism mechanism);
cohort::v1::DpMechanism ToProto(privacy::Mechanism mechanism);
bool IsDistributedDp(cohort::v1::DpMechanism mechanism);
bool IsDp(cohort::v1::DpMechanism mechanism);

// Conversions between the wire form and privacy/'s resolved parameters.
privacy::DpRoundParams ToRoundParams(const cohort::v1::DpParams& dp);
cohort::v1::DpParams ToProto(const privacy::DpRoundParams& round);

// Checks `dp` as a device or the decoder receives it.
absl::Status ValidateDpParams(const cohort::v1::DpParams& dp);

// The CodecParams of a DP round from the task's codec config and the round's resolved `dp`.
absl::StatusOr<cohort::v1::CodecParams> ResolveDpCodecParams(const cohort::v1::CodecConfig& config,
                                                             const cohort::v1::DpParams& dp,
                                                             int64_t num_parameters,
                                                             int64_t chunk_elements);

// The device's upload for a DP round (params.dp set).
absl::StatusOr<EncodedUpdate> EncodeDpUpdate(const cohort::v1::CodecParams& params,
                                             absl::Span<const float> delta, int64_t num_examples,
                                             secagg::RandomSource& noise);

// Distributed DP: the exact sum mod 2^bits of `contributors` uploads -> the average delta.
absl::StatusOr<AggregateResult> DecodeDpSum(absl::Span<const uint64_t> sum,
                                            const cohort::v1::CodecParams& params,
                                            int32_t contributors);

// Central DP: `result` is DecodeFloatSum's average over uniform weights; adds the server's
// noise to the sum it came from.
absl::Status AddCentralDpNoise(const cohort::v1::CodecParams& params, AggregateResult& result,
                               secagg::RandomSource& noise);

}  // namespace cohort::codec

#endif  // COHORT_CODEC_DP_CODEC_H_
