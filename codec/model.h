#ifndef COHORT_CODEC_MODEL_H_
#define COHORT_CODEC_MODEL_H_

// A task's global model as the wire carries it (cohort.v1.Model): a layout of named row-major
// float32 tensors, the parameters as one little-endian float32 byte string in layout order, a
// version, and the SHA-256 of the parameter bytes.
//
//   COHORT_ASSIGN_OR_RETURN(cohort::v1::Model model, InitialModel(config.initial_model(),
//                                                                 config.layout()));
//   COHORT_ASSIGN_OR_RETURN(std::vector<float> params, ParametersOf(model));
//   COHORT_ASSIGN_OR_RETURN(cohort::v1::Model next, MakeModel(model.layout(), params,
//                                                             model.version() + 1));
//
// Codes: INVALID_ARGUMENT for a layout that has no tensors, a dimension < 1, a dtype other than
// FLOAT32 (UNSPECIFIED counts as FLOAT32) or more than kMaxParameters parameters (the message
// names the tensor), and for parameter bytes whose length does not match the layout; DATA_LOSS from
// VerifyChecksum for a checksum that does not match. Thread-safe (pure functions).

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "cohort/v1/admin.pb.h"
#include "cohort/v1/model.pb.h"

namespace cohort::codec {

// Upper bound on a model's parameter count: 2^32 float32 values (16 GiB). Far beyond any phone,
// but it keeps every size computation (bytes, packed bits) well inside int64.
inline constexpr int64_t kMaxParameters = int64_t{1} << 32;

// Number of float32 parameters of `layout`: the product of each tensor's shape (1 for a
// scalar), summed. INVALID_ARGUMENT naming the first bad tensor (see the header comment).
absl::StatusOr<int64_t> ParameterCount(const cohort::v1::ModelLayout& layout);

// SHA-256 of `bytes`, the raw 32-byte digest.
std::string Sha256(absl::string_view bytes);

// Little-endian float32 bytes of `values`, and back. FloatsFromBytes refuses a length that is
// not a multiple of 4 (INVALID_ARGUMENT).
std::string FloatsToBytes(absl::Span<const float> values);
absl::StatusOr<std::vector<float>> FloatsFromBytes(absl::string_view bytes);

// The parameters of `model` as floats. INVALID_ARGUMENT if the layout is bad or the byte length
// is not 4 * ParameterCount(layout).
absl::StatusOr<std::vector<float>> ParametersOf(const cohort::v1::Model& model);

// A model of `layout` holding `parameters` at `version`, with sha256 set. INVALID_ARGUMENT if the
// layout is bad or `parameters` has the wrong length.
absl::StatusOr<cohort::v1::Model> MakeModel(const cohort::v1::ModelLayout& layout,
                                            absl::Span<const float> parameters, int64_t version);

// OK if model.sha256 is the SHA-256 of model.parameters, DATA_LOSS otherwise.
absl::Status VerifyChecksum(const cohort::v1::Model& model);

// Version 0 of a task's model, checksum set.
//  - `init.parameters`: those bytes, which must be 4 * ParameterCount(layout) long.
//  - `init.glorot_uniform_seed`: Glorot-uniform kernels, U(-l, l) with
//    l = sqrt(6 / (fan_in + fan_out)), and zeros for tensors whose name ends in "bias" and for
//    scalars. Fans: a vector [n] has n and n; a matrix [in, out] has in and out; a kernel
//    [k_1, ..., k_j, in, out] (rank >= 3, TensorFlow's convolution order) has in * r and
//    out * r with r = k_1 * ... * k_j (Keras' convention). Draws come from SplitMix64 seeded
//    with MixSeed(seed, kGlorotStream), one per kernel element in layout order, as
//    (2u - 1) * l with u = NextDouble(): the same values as the SDK trainer's
//    GlorotUniformParameters for layouts of vectors and matrices.
//  - nothing set: INVALID_ARGUMENT (the server's config validation picks seed 1).
absl::StatusOr<cohort::v1::Model> InitialModel(const cohort::v1::ModelInit& init,
                                               const cohort::v1::ModelLayout& layout);

// The stream of MixSeed used for Glorot initialisation ("glorot" in ASCII).
inline constexpr uint64_t kGlorotStream = 0x676c6f726f74ULL;

}  // namespace cohort::codec

#endif  // COHORT_CODEC_MODEL_H_
