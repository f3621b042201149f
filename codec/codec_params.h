#ifndef COHORT_CODEC_CODEC_PARAMS_H_
#define COHORT_CODEC_CODEC_PARAMS_H_

// Resolving an operator's CodecConfig into the CodecParams of one round: defaults, validation,
// and the choice of the modulus R = 2^m such that the sum of a whole cohort's encoded updates
// never wraps (docs/codec.md#modulus).
//
//   COHORT_ASSIGN_OR_RETURN(cohort::v1::CodecParams params,
//                           ResolveCodecParams(config, num_parameters, /*max_cohort=*/130,
//                                              /*chunk_elements=*/65536));
//
// Codes: INVALID_ARGUMENT naming the field and the numbers, e.g.
//   "codec.bits=16, max_example_weight=1048576 and a cohort of 2147483647 need a modulus of
//    2^68 (sum up to ...), more than 2^62".
// Thread-safe (pure functions).

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cohort/v1/plan.pb.h"

namespace cohort::codec {

inline constexpr int kMinBits = 2;
inline constexpr int kMaxBits = 16;
inline constexpr int kDefaultBits = 8;
// The modulus range secure aggregation supports (secagg/prg.h, secagg/packing.h).
inline constexpr int kMinModulusBits = 8;
inline constexpr int kMaxModulusBits = 62;

// Quantization levels - 1, L = 2^bits - 1: the largest level a coordinate can take.
inline constexpr uint64_t MaxLevel(int bits) { return (uint64_t{1} << bits) - 1; }

// The smallest m >= kMinModulusBits with max_cohort * max_example_weight * (2^bits - 1) < 2^m,
// i.e. the sum of max_cohort encoded updates fits in Z_(2^m). INVALID_ARGUMENT for arguments out
// of range or when m would exceed kMaxModulusBits (the message names all the numbers).
absl::StatusOr<int> RequiredModulusBits(int bits, int64_t max_example_weight, int64_t max_cohort);

// The parameters of a round of at most `max_cohort` contributors over a model of
// `num_parameters` float32 values, uploaded in chunks of `chunk_elements`.
//  - Unset fields take their defaults: encoding QUANTIZED, bits 8, quantization_range equal to
//    l2_clip_norm.
//  - Refused: bits outside [2, 16]; max_example_weight < 1; a negative or non-finite
//    l2_clip_norm or quantization_range; QUANTIZED with neither a clip norm nor a range;
//    num_parameters outside [1, kMaxParameters]; max_cohort < 1; chunk_elements < 1; a
//    configuration whose cohort sum could wrap even at 2^62.
//  - QUANTIZED: modulus_bits = RequiredModulusBits(bits, max_example_weight, max_cohort).
//    FLOAT32: modulus_bits = 0 (values travel as float32).
//  - vector_length = num_parameters + 1 (the weight is the last element).
absl::StatusOr<cohort::v1::CodecParams> ResolveCodecParams(const cohort::v1::CodecConfig& config,
                                                           int64_t num_parameters,
                                                           int32_t max_cohort,
                                                           int64_t chunk_elements);

// Checks resolved parameters as a device or the decoder receives them: everything
// ResolveCodecParams guarantees except the cohort size, which CodecParams does not carry; for
// QUANTIZED, modulus_bits must be in [8, 62] and hold at least one device's values
// (max_example_weight * (2^bits - 1) < 2^modulus_bits). chunk_elements may be 0 (one chunk).
// INVALID_ARGUMENT naming the field.
absl::Status ValidateCodecParams(const cohort::v1::CodecParams& params);

// The most contributors whose QUANTIZED sum cannot wrap under `params`:
// floor((2^m - 1) / (max_example_weight * (2^bits - 1))). `params` must be valid.
int64_t MaxContributors(const cohort::v1::CodecParams& params);

}  // namespace cohort::codec

#endif  // COHORT_CODEC_CODEC_PARAMS_H_
