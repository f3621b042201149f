#ifndef COHORT_CODEC_UPDATE_ENCODER_H_
#define COHORT_CODEC_UPDATE_ENCODER_H_

// The device side of the codec (docs/codec.md): a model delta u (trained - base) and a local
// example count become the vector a device uploads, vector_length = d + 1 elements:
//   w = min(num_examples, max_example_weight);
//   u' = u * min(1, C / ||u||_2)                      (C = l2_clip_norm; 0 turns clipping off)
//   QUANTIZED: x_i = clamp(u'_i, -r, r), q_i = (x_i + r) / Δ with Δ = 2r / (2^b - 1),
//              level_i = floor(q_i) + [U_i < q_i - floor(q_i)]   (unbiased stochastic rounding),
//              element i = w * level_i in Z_(2^m), element d = w;
//   FLOAT32:   element i = float32 bit pattern of w * u'_i, element d = that of w.
// U_i is output i of SplitMix64 seeded with MixSeed(seed, kQuantizationStream), read as a
// double in [0, 1): element i depends only on (seed, i), so a range of elements can be encoded
// on its own and equals the same range of a whole encoding.
//
//   COHORT_ASSIGN_OR_RETURN(EncodedUpdate e, EncodeUpdate(plan.codec(), delta, examples, seed));
//   // or block by block, without a full-width vector:
//   COHORT_ASSIGN_OR_RETURN(UpdateEncoder enc, UpdateEncoder::Create(plan.codec(), delta,
//                                                                   examples, seed));
//   COHORT_RETURN_IF_ERROR(enc.Encode(/*begin=*/0, absl::MakeSpan(block)));
//
// Codes: INVALID_ARGUMENT for parameters ValidateCodecParams refuses, a delta whose length is
// not vector_length - 1, a NaN or infinite coordinate (the message names its index),
// num_examples <= 0, a FLOAT32 value that overflows float32, and an element range outside the
// vector. Thread-safe: the functions are pure and UpdateEncoder is immutable after Create.

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "cohort/v1/plan.pb.h"

namespace cohort::codec {

// The MixSeed stream of the stochastic-rounding draws ("quantize" in ASCII).
inline constexpr uint64_t kQuantizationStream = 0x7175616e74697a65ULL;

struct ClipResult {
  double norm = 0;       // L2 norm before clipping
  bool clipped = false;  // true if the values were scaled down
};

// Scales `values` in place so that their L2 norm is at most `clip_norm` (0: no clipping).
// `values` must be finite.
ClipResult ClipToNorm(absl::Span<float> values, double clip_norm);

struct EncodedUpdate {
  std::vector<uint64_t> values;  // vector_length elements, the weight last
  bool clipped = false;
  double norm = 0;  // L2 norm of the delta before clipping
  int64_t weight = 0;
};

// Encodes a delta for a round with `params`; `seed` drives the stochastic rounding (a device
// should use a fresh random seed per round).
absl::StatusOr<EncodedUpdate> EncodeUpdate(const cohort::v1::CodecParams& params,
                                           absl::Span<const float> delta, int64_t num_examples,
                                           uint64_t seed);

// The same encoding, element range by element range. Create validates everything and computes
// the norm; Encode then cannot fail except for a range outside the vector.
// Does not own the delta: the span passed to Create must outlive the encoder.
class UpdateEncoder {
 public:
  static absl::StatusOr<UpdateEncoder> Create(const cohort::v1::CodecParams& params,
                                              absl::Span<const float> delta, int64_t num_examples,
                                              uint64_t seed);

  // out[j] = element begin + j, for begin + j < vector_length().
  absl::Status Encode(int64_t begin, absl::Span<uint64_t> out) const;

  int64_t vector_length() const { return static_cast<int64_t>(delta_.size()) + 1; }
  int64_t weight() const { return weight_; }
  bool clipped() const { return scale_ < 1.0; }
  double norm() const { return norm_; }

 private:
  UpdateEncoder() = default;

  absl::Span<const float> delta_;
  bool float32_ = false;
  int64_t weight_ = 0;
  double norm_ = 0;
  double scale_ = 1.0;      // clipping factor
  double range_ = 0;        // r
  double inv_step_ = 0;     // 1 / Δ = (2^b - 1) / 2r
  uint64_t max_level_ = 0;  // 2^b - 1
  uint64_t key_ = 0;        // SplitMix64 seed of the rounding draws
};

}  // namespace cohort::codec

#endif  // COHORT_CODEC_UPDATE_ENCODER_H_
