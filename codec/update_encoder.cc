#include "codec/update_encoder.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "codec/codec_params.h"
#include "codec/evaluation_metrics.h"
#include "codec/splitmix64.h"

namespace cohort::codec {
namespace {

uint64_t FloatBits(double value) {
  return uint64_t{std::bit_cast<uint32_t>(static_cast<float>(value))};
}

}  // namespace

ClipResult ClipToNorm(absl::Span<float> values, double clip_norm) {
  double sum_squares = 0;
  for (float v : values) sum_squares += static_cast<double>(v) * v;
  ClipResult result;
  result.norm = std::sqrt(sum_squares);
  if (clip_norm > 0 && result.norm > clip_norm) {
    const double scale = clip_norm / result.norm;
    for (float& v : values) v = static_cast<float>(v * scale);
    result.clipped = true;
  }
  return result;
}

absl::StatusOr<UpdateEncoder> UpdateEncoder::Create(const cohort::v1::CodecParams& params,
                                                    absl::Span<const float> delta,
                                                    int64_t num_examples, uint64_t seed) {
  if (absl::Status s = ValidateCodecParams(params); !s.ok()) return s;
  if (params.has_dp()) {
    return absl::InvalidArgumentError(
        "a DP round's update is encoded by EncodeDpUpdate (codec/dp_codec.h), not UpdateEncoder");
  }
  if (static_cast<int64_t>(delta.size()) + 1 != UpdateLength(params)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a delta of ", delta.size(), " values does not fit codec.vector_length ",
        params.vector_length(), " (parameters + 1", params.metric_elements() > 0
                                                        ? absl::StrCat(" + ", params.metric_elements(), " evaluation counts")
                                                        : std::string(),
        ")"));
  }
  if (num_examples <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "num_examples must be >= 1 (it is the update's FedAvg weight), got ", num_examples));
  }
  UpdateEncoder e;
  e.delta_ = delta;
  e.float32_ = params.encoding() == cohort::v1::UPDATE_ENCODING_FLOAT32;
  e.weight_ = std::min<int64_t>(num_examples, params.max_example_weight());
  double sum_squares = 0;
  double max_abs = 0;
  for (size_t i = 0; i < delta.size(); ++i) {
    const double v = delta[i];
    if (!std::isfinite(v)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "delta[", i, "] is ", std::isnan(v) ? "NaN" : "infinite", "; an update must be finite"));
    }
    sum_squares += v * v;
    max_abs = std::max(max_abs, std::abs(v));
  }
  e.norm_ = std::sqrt(sum_squares);
  const double clip = params.l2_clip_norm();
  if (clip > 0 && e.norm_ > clip) e.scale_ = clip / e.norm_;
  if (e.float32_) {
    if (max_abs * e.scale_ * static_cast<double>(e.weight_) >
        static_cast<double>(std::numeric_limits<float>::max())) {
      return absl::InvalidArgumentError(
          absl::StrCat("weight ", e.weight_, " times the largest coordinate ", max_abs * e.scale_,
                       " overflows float32; set codec.l2_clip_norm"));
    }
    return e;
  }
  e.range_ = params.quantization_range();
  e.max_level_ = MaxLevel(params.bits());
  e.inv_step_ = static_cast<double>(e.max_level_) / (2 * e.range_);
  e.key_ = MixSeed(seed, kQuantizationStream);
  return e;
}

absl::Status UpdateEncoder::Encode(int64_t begin, absl::Span<uint64_t> out) const {
  const int64_t length = vector_length();
  if (begin < 0 || begin > length || static_cast<int64_t>(out.size()) > length - begin) {
    return absl::InvalidArgumentError(absl::StrCat("elements [", begin, ", ",
                                                   begin + static_cast<int64_t>(out.size()),
                                                   ") are outside the vector of ", length));
  }
  const int64_t d = length - 1;
  const int64_t end = begin + static_cast<int64_t>(out.size());
  const int64_t coordinates_end = std::min(end, d);
  const double w = static_cast<double>(weight_);
  if (float32_) {
    for (int64_t i = begin; i < coordinates_end; ++i) {
      out[i - begin] = FloatBits(w * (delta_[i] * scale_));
    }
    if (end > d) out[d - begin] = FloatBits(w);
    return absl::OkStatus();
  }
  const uint64_t weight = static_cast<uint64_t>(weight_);
  for (int64_t i = begin; i < coordinates_end; ++i) {
    const double x = std::clamp(delta_[i] * scale_, -range_, range_);
    const double q = (x + range_) * inv_step_;  // in [0, 2^b - 1]
    const double floor = std::floor(q);
    uint64_t level = static_cast<uint64_t>(floor);
    if (ToUnitDouble(SplitMix64::At(key_, static_cast<uint64_t>(i))) < q - floor) ++level;
    out[i - begin] = std::min(level, max_level_) * weight;
  }
  if (end > d) out[d - begin] = weight;
  return absl::OkStatus();
}

absl::StatusOr<EncodedUpdate> EncodeUpdate(const cohort::v1::CodecParams& params,
                                           absl::Span<const float> delta, int64_t num_examples,
                                           uint64_t seed) {
  absl::StatusOr<UpdateEncoder> encoder = UpdateEncoder::Create(params, delta, num_examples, seed);
  if (!encoder.ok()) return encoder.status();
  EncodedUpdate result;
  result.values.resize(static_cast<size_t>(encoder->vector_length()));
  if (absl::Status s = encoder->Encode(0, absl::MakeSpan(result.values)); !s.ok()) return s;
  result.clipped = encoder->clipped();
  result.norm = encoder->norm();
  result.weight = encoder->weight();
  return result;
}

}  // namespace cohort::codec
