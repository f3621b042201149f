#ifndef COHORT_CLIENT_SDK_SRC_UPDATE_ENCODING_H_
#define COHORT_CLIENT_SDK_SRC_UPDATE_ENCODING_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "cohort/v1/plan.pb.h"
#include "secagg/random_source.h"

namespace cohort::client::internal {

// The SDK's view of the shared update codec (codec/): how a trained model becomes the vector a
// device uploads, and how a chunk of it goes on the wire. The encoded input is kept packed
// (InputBits() bits per element, the wire's bit stream: docs/secagg.md#packing), so between
// training and the end of the upload the device holds d * m / 8 bytes, less than the model.
// Pure functions; thread-compatible.

// Bits per element of the packed input: modulus_bits (QUANTIZED) or 32 (FLOAT32 bit patterns).
int InputBits(const v1::CodecParams& codec);

// Encodes the model delta (trained - base) with `num_examples` (capped by the plan) as the
// FedAvg weight, as the plan's codec says (codec::UpdateEncoder), followed by `metrics` (the
// codec::EncodeEvaluation elements when the plan evaluates, else empty), and packs it:
// vector_length = params + 1 (the weight) + metric elements. In an evaluation-only round
// `delta` is empty and the input is the metrics alone. `delta` is consumed. `seed` drives
// stochastic quantization. In a DP round (codec.dp set) the update is clipped, rotated, scaled,
// rounded and noised instead (codec::EncodeDpUpdate; DP rounds carry no metrics): `noise` must
// be a CSPRNG the server cannot predict (secagg::OsRandom()), or the server could subtract the
// device's noise share. INVALID_ARGUMENT for sizes that do not match the plan, parameters the
// codec refuses, a NaN or infinite delta, or num_examples < 1.
absl::StatusOr<std::string> EncodeInput(const v1::CodecParams& codec, std::vector<float> delta,
                                        int64_t num_examples, uint64_t seed,
                                        secagg::RandomSource& noise,
                                        absl::Span<const uint64_t> metrics = {});

// Elements [begin, begin + count) of a packed input. INVALID_ARGUMENT when out of range.
absl::StatusOr<std::vector<uint64_t>> InputChunk(const v1::CodecParams& codec,
                                                 absl::string_view packed, int64_t begin,
                                                 int64_t count);

// The wire bytes of one chunk: QUANTIZED packed at modulus_bits each; FLOAT32 little-endian.
absl::StatusOr<std::string> PackChunk(const v1::CodecParams& codec,
                                      absl::Span<const uint64_t> values);

// SHA-256 of `bytes`, raw 32 bytes.
std::string Sha256(absl::string_view bytes);

}  // namespace cohort::client::internal

#endif  // COHORT_CLIENT_SDK_SRC_UPDATE_ENCODING_H_
