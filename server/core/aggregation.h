#ifndef COHORT_SERVER_CORE_AGGREGATION_H_
#define COHORT_SERVER_CORE_AGGREGATION_H_

// The core's seam onto the update codec (codec/, docs/codec.md): resolving a round's codec
// parameters for the devices it admitted, decoding the exact sum into the weighted average delta
// (codec::DecodeQuantizedSum / DecodeFloatSum, used directly), the task's initial model, and its
// server optimizer (codec::CreateServerOptimizer).
//
// Codes: INVALID_ARGUMENT for parameters the codec refuses (the message names the field and the
// numbers, e.g. a configuration whose sum could wrap even at 2^62).
// Thread-safe (stateless functions).

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "codec/aggregate_decoder.h"
#include "cohort/v1/admin.pb.h"
#include "cohort/v1/model.pb.h"
#include "cohort/v1/plan.pb.h"
#include "secagg/random_source.h"

namespace cohort::server {

using codec::AggregateResult;
using codec::DecodeFloatSum;
using codec::DecodeQuantizedSum;

// Elements per UploadMaskedInput chunk (64 Ki elements: at most 496 KiB packed at 62 bits).
inline constexpr int64_t kChunkElements = 1 << 16;

// The codec parameters of a round of `num_participants` admitted devices (the most that can
// contribute): codec::ResolveCodecParams with kChunkElements. Refuses, never clamps, a
// configuration whose sum could wrap.
absl::StatusOr<cohort::v1::CodecParams> ResolveRoundCodec(const cohort::v1::CodecConfig& config,
                                                          int64_t num_parameters,
                                                          int32_t num_participants);

// The same for a task whose config may ask for DP: a DP round's codec carries its DpParams
// (server/core/dp_task.h), resolved at clip norm `dp_clip_norm` with a fresh rotation seed from
// `random`; otherwise as above.
absl::StatusOr<cohort::v1::CodecParams> ResolveRoundCodec(const cohort::v1::TaskConfig& config,
                                                          int64_t num_parameters,
                                                          int32_t num_participants,
                                                          double dp_clip_norm,
                                                          secagg::RandomSource& random);

// The round's exact sum (QUANTIZED or DISTRIBUTED_DP in `sum`, FLOAT32 in `float_sum`) decoded
// into the average delta; central DP adds the server's noise from `random` here.
absl::StatusOr<AggregateResult> DecodeRoundSum(const cohort::v1::CodecParams& codec,
                                               absl::Span<const uint64_t> sum,
                                               absl::Span<const double> float_sum,
                                               int32_t contributors, secagg::RandomSource& random);

// The task's model from its config (version 0, checksum set): model::InitialGraphModel for a
// graph, codec::InitialModel for a layout.
absl::StatusOr<cohort::v1::Model> InitialModel(const cohort::v1::TaskConfig& config);

}  // namespace cohort::server

#endif  // COHORT_SERVER_CORE_AGGREGATION_H_
