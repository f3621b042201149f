#include "codec/codec_params.h"

#include <cmath>
#include <limits>

#include "absl/numeric/int128.h"
#include "absl/strings/str_cat.h"
#include "codec/dp_codec.h"
#include "codec/model.h"

namespace cohort::codec {
namespace {

using cohort::v1::CodecParams;
using cohort::v1::UpdateEncoding;

template <typename T>
absl::Status Invalid(absl::string_view field, absl::string_view requirement, T got) {
  return absl::InvalidArgumentError(
      absl::StrCat("codec.", field, " must be ", requirement, ", got ", got));
}

absl::Status CheckCommon(UpdateEncoding encoding, int bits, int64_t max_example_weight,
                         double l2_clip_norm, double quantization_range) {
  if (encoding != cohort::v1::UPDATE_ENCODING_QUANTIZED &&
      encoding != cohort::v1::UPDATE_ENCODING_FLOAT32 &&
      encoding != cohort::v1::UPDATE_ENCODING_DISTRIBUTED_DP) {
    return absl::InvalidArgumentError(
        absl::StrCat("codec.encoding must be UPDATE_ENCODING_QUANTIZED, UPDATE_ENCODING_FLOAT32 "
                     "or UPDATE_ENCODING_DISTRIBUTED_DP, got ",
                     encoding));
  }
  if (bits < kMinBits || bits > kMaxBits) return Invalid("bits", "in [2, 16]", bits);
  if (max_example_weight < 1) {
    return Invalid("max_example_weight", ">= 1", max_example_weight);
  }
  if (!(l2_clip_norm >= 0) || !std::isfinite(l2_clip_norm)) {
    return Invalid("l2_clip_norm", "finite and >= 0", l2_clip_norm);
  }
  if (!(quantization_range >= 0) || !std::isfinite(quantization_range)) {
    return Invalid("quantization_range", "finite and >= 0", quantization_range);
  }
  if (encoding == cohort::v1::UPDATE_ENCODING_QUANTIZED && quantization_range == 0) {
    return absl::InvalidArgumentError(
        "codec.quantization_range must be > 0 for UPDATE_ENCODING_QUANTIZED (set it or "
        "l2_clip_norm, which it defaults to); both are 0");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<int> RequiredModulusBits(int bits, int64_t max_example_weight, int64_t max_cohort) {
  if (bits < kMinBits || bits > kMaxBits) return Invalid("bits", "in [2, 16]", bits);
  if (max_example_weight < 1) {
    return Invalid("max_example_weight", ">= 1", max_example_weight);
  }
  if (max_cohort < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("the cohort size must be >= 1, got ", max_cohort));
  }
  // Largest possible sum: every device at the weight cap and the top level. Both factors are
  // below 2^63, so the product fits in 128 bits.
  const absl::uint128 max_sum = absl::uint128(static_cast<uint64_t>(max_cohort)) *
                                static_cast<uint64_t>(max_example_weight) * MaxLevel(bits);
  int m = kMinModulusBits;
  while (m < 127 && (absl::uint128(1) << m) <= max_sum) ++m;
  if (m > kMaxModulusBits) {
    return absl::InvalidArgumentError(absl::StrCat(
        "codec.bits=", bits, ", max_example_weight=", max_example_weight, " and a cohort of ",
        max_cohort, " need a modulus of 2^", m, " (the sum reaches ", max_cohort, " * ",
        max_example_weight, " * ", MaxLevel(bits), "), more than the supported 2^", kMaxModulusBits,
        "; lower bits, max_example_weight or the cohort size"));
  }
  return m;
}

absl::StatusOr<CodecParams> ResolveCodecParams(const cohort::v1::CodecConfig& config,
                                               int64_t num_parameters, int32_t max_cohort,
                                               int64_t chunk_elements) {
  CodecParams p;
  p.set_encoding(config.encoding() == cohort::v1::UPDATE_ENCODING_UNSPECIFIED
                     ? cohort::v1::UPDATE_ENCODING_QUANTIZED
                     : config.encoding());
  p.set_l2_clip_norm(config.l2_clip_norm());
  p.set_quantization_range(config.quantization_range() == 0 ? config.l2_clip_norm()
                                                            : config.quantization_range());
  p.set_bits(config.bits() == 0 ? kDefaultBits : config.bits());
  p.set_max_example_weight(config.max_example_weight());
  if (absl::Status s = CheckCommon(p.encoding(), p.bits(), p.max_example_weight(), p.l2_clip_norm(),
                                   p.quantization_range());
      !s.ok()) {
    return s;
  }
  if (num_parameters < 1 || num_parameters > kMaxParameters) {
    return absl::InvalidArgumentError(absl::StrCat("the model must have 1 to ", kMaxParameters,
                                                   " parameters, got ", num_parameters));
  }
  if (max_cohort < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("the cohort size must be >= 1, got ", max_cohort));
  }
  if (chunk_elements < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("chunk_elements must be >= 1, got ", chunk_elements));
  }
  if (p.encoding() == cohort::v1::UPDATE_ENCODING_QUANTIZED) {
    absl::StatusOr<int> m = RequiredModulusBits(p.bits(), p.max_example_weight(), max_cohort);
    if (!m.ok()) return m.status();
    p.set_modulus_bits(*m);
  } else {
    p.set_modulus_bits(0);
  }
  p.set_vector_length(num_parameters + 1);
  p.set_chunk_elements(chunk_elements);
  return p;
}

absl::Status ValidateCodecParams(const CodecParams& params) {
  if (absl::Status s = CheckCommon(params.encoding(), params.bits(), params.max_example_weight(),
                                   params.l2_clip_norm(), params.quantization_range());
      !s.ok()) {
    return s;
  }
  if (params.metric_elements() != 0 && params.metric_elements() != 3) {
    return Invalid("metric_elements", "0 or 3", params.metric_elements());
  }
  if (params.evaluation_only()) {
    if (params.metric_elements() != 3 || params.vector_length() != 3) {
      return absl::InvalidArgumentError(absl::StrCat(
          "codec.evaluation_only needs metric_elements = vector_length = 3, got ",
          params.metric_elements(), " and ", params.vector_length()));
    }
  } else {
    const int64_t update = params.vector_length() - params.metric_elements();
    if (update < 2 || update > kMaxParameters + 1) {
      return Invalid("vector_length",
                     absl::StrCat("in [2, ", kMaxParameters + 1, "] plus metric_elements"),
                     params.vector_length());
    }
  }
  if (!(params.max_eval_loss() >= 0) || !std::isfinite(params.max_eval_loss())) {
    return absl::InvalidArgumentError(absl::StrCat("codec.max_eval_loss must be >= 0, got ",
                                                   params.max_eval_loss()));
  }
  if (params.chunk_elements() < 0) {
    return Invalid("chunk_elements", ">= 0", params.chunk_elements());
  }
  if (params.encoding() == cohort::v1::UPDATE_ENCODING_DISTRIBUTED_DP || params.has_dp()) {
    // The DP step's own checks; its layout replaces the quantized one (codec/dp_codec.h).
    if (absl::Status s = ValidateDpParams(params.dp()); !s.ok()) return s;
    const bool distributed = IsDistributedDp(params.dp().mechanism());
    if (distributed != (params.encoding() == cohort::v1::UPDATE_ENCODING_DISTRIBUTED_DP)) {
      return absl::InvalidArgumentError(
          "codec.encoding must be UPDATE_ENCODING_DISTRIBUTED_DP exactly for a distributed DP "
          "mechanism (central DP uses UPDATE_ENCODING_FLOAT32)");
    }
    if (distributed) {
      if (params.modulus_bits() != params.dp().bits()) {
        return Invalid("modulus_bits", absl::StrCat("dp.bits = ", params.dp().bits()),
                       params.modulus_bits());
      }
      if (params.vector_length() != params.dp().noised_coordinates() + 1) {
        return Invalid("vector_length", "dp.noised_coordinates + 1", params.vector_length());
      }
      return absl::OkStatus();
    }
  }
  if (params.encoding() == cohort::v1::UPDATE_ENCODING_QUANTIZED) {
    const int m = params.modulus_bits();
    if (m < kMinModulusBits || m > kMaxModulusBits) {
      return Invalid("modulus_bits", "in [8, 62]", m);
    }
    // One device's largest value, max_example_weight * (2^bits - 1) < 2^31 * 2^16, must fit.
    const uint64_t one =
        static_cast<uint64_t>(params.max_example_weight()) * MaxLevel(params.bits());
    if (one >> m != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "codec.modulus_bits=", m, " cannot hold one device's values (max_example_weight=",
          params.max_example_weight(), " * ", MaxLevel(params.bits()), " = ", one, ")"));
    }
  }
  return absl::OkStatus();
}

int64_t MaxContributors(const CodecParams& params) {
  const uint64_t one = static_cast<uint64_t>(params.max_example_weight()) * MaxLevel(params.bits());
  const uint64_t r_minus_1 = (uint64_t{1} << params.modulus_bits()) - 1;
  return static_cast<int64_t>(r_minus_1 / one);
}

}  // namespace cohort::codec
