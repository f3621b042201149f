#include "codec/aggregate_decoder.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "codec/codec_params.h"
#include "codec/evaluation_metrics.h"

namespace cohort::codec {
namespace {

absl::Status CheckShape(size_t sum_size, const cohort::v1::CodecParams& params,
                        int32_t contributors) {
  if (absl::Status s = ValidateCodecParams(params); !s.ok()) return s;
  if (static_cast<int64_t>(sum_size) != UpdateLength(params) || UpdateLength(params) == 0) {
    return absl::InvalidArgumentError(absl::StrCat("the sum has ", sum_size,
                                                   " elements, the update part of "
                                                   "codec.vector_length is ",
                                                   UpdateLength(params)));
  }
  if (contributors < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("a sum needs at least one contributor, got ", contributors));
  }
  return absl::OkStatus();
}

absl::Status CheckTotalWeight(double total_weight, const cohort::v1::CodecParams& params,
                              int32_t contributors) {
  if (total_weight == 0) {
    return absl::DataLossError(
        absl::StrCat("the sum of ", contributors, " updates has a total weight of 0"));
  }
  const double most = static_cast<double>(contributors) * params.max_example_weight();
  if (!(total_weight >= 1 && total_weight <= most)) {
    return absl::InvalidArgumentError(
        absl::StrCat("impossible sum: total weight ", total_weight, " from ", contributors,
                     " contributors of weight at most ", params.max_example_weight()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<AggregateResult> DecodeQuantizedSum(absl::Span<const uint64_t> sum,
                                                   const cohort::v1::CodecParams& params,
                                                   int32_t contributors) {
  if (absl::Status s = CheckShape(sum.size(), params, contributors); !s.ok()) return s;
  if (params.encoding() != cohort::v1::UPDATE_ENCODING_QUANTIZED) {
    return absl::InvalidArgumentError("DecodeQuantizedSum needs UPDATE_ENCODING_QUANTIZED");
  }
  if (contributors > MaxContributors(params)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the sum of ", contributors, " contributors may have wrapped: codec.modulus_bits=",
        params.modulus_bits(), " holds at most ", MaxContributors(params)));
  }
  const uint64_t total_weight = sum.back();
  if (absl::Status s = CheckTotalWeight(static_cast<double>(total_weight), params, contributors);
      !s.ok()) {
    return s;
  }
  const uint64_t max_level = MaxLevel(params.bits());
  // W * (2^b - 1) < 2^m <= 2^62: no overflow.
  const uint64_t max_element = total_weight * max_level;
  const double range = params.quantization_range();
  const double step = 2 * range / static_cast<double>(max_level);
  const double w = static_cast<double>(total_weight);
  AggregateResult result;
  result.total_weight = w;
  result.contributors = contributors;
  result.average_delta.resize(sum.size() - 1);
  for (size_t j = 0; j + 1 < sum.size(); ++j) {
    if (sum[j] > max_element) {
      return absl::InvalidArgumentError(absl::StrCat("impossible sum: element ", j, " is ", sum[j],
                                                     ", above total weight ", total_weight, " * ",
                                                     max_level));
    }
    result.average_delta[j] = static_cast<float>(static_cast<double>(sum[j]) / w * step - range);
  }
  return result;
}

absl::StatusOr<AggregateResult> DecodeFloatSum(absl::Span<const double> sum,
                                               const cohort::v1::CodecParams& params,
                                               int32_t contributors) {
  if (absl::Status s = CheckShape(sum.size(), params, contributors); !s.ok()) return s;
  if (params.encoding() != cohort::v1::UPDATE_ENCODING_FLOAT32) {
    return absl::InvalidArgumentError("DecodeFloatSum needs UPDATE_ENCODING_FLOAT32");
  }
  const double total_weight = sum.back();
  if (!std::isfinite(total_weight)) {
    return absl::InvalidArgumentError("impossible sum: the total weight is not finite");
  }
  if (absl::Status s = CheckTotalWeight(total_weight, params, contributors); !s.ok()) return s;
  AggregateResult result;
  result.total_weight = total_weight;
  result.contributors = contributors;
  result.average_delta.resize(sum.size() - 1);
  for (size_t j = 0; j + 1 < sum.size(); ++j) {
    const float v = static_cast<float>(sum[j] / total_weight);
    if (!std::isfinite(v)) {
      return absl::InvalidArgumentError(
          absl::StrCat("impossible sum: element ", j, " averages to ", v));
    }
    result.average_delta[j] = v;
  }
  return result;
}

absl::StatusOr<PlainAccumulator> PlainAccumulator::Create(const cohort::v1::CodecParams& params) {
  if (absl::Status s = ValidateCodecParams(params); !s.ok()) return s;
  PlainAccumulator acc(params);
  const size_t length = static_cast<size_t>(params.vector_length());
  if (params.encoding() == cohort::v1::UPDATE_ENCODING_FLOAT32) {
    acc.float_sum_.assign(length, 0.0);
  } else {
    acc.quantized_sum_.assign(length, 0);
  }
  return acc;
}

absl::Status PlainAccumulator::Add(absl::Span<const uint64_t> encoded) {
  if (static_cast<int64_t>(encoded.size()) != params_.vector_length()) {
    return absl::InvalidArgumentError(absl::StrCat("an encoded update has ", encoded.size(),
                                                   " elements, codec.vector_length is ",
                                                   params_.vector_length()));
  }
  if (params_.encoding() == cohort::v1::UPDATE_ENCODING_FLOAT32) {
    for (size_t i = 0; i < encoded.size(); ++i) {
      if (encoded[i] >> 32 != 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("element ", i, " is not a float32 bit pattern"));
      }
    }
    for (size_t i = 0; i < encoded.size(); ++i) {
      float_sum_[i] += std::bit_cast<float>(static_cast<uint32_t>(encoded[i]));
    }
  } else {
    const int m = params_.modulus_bits();
    for (size_t i = 0; i < encoded.size(); ++i) {
      if (encoded[i] >> m != 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("element ", i, " is ", encoded[i], ", not below 2^", m));
      }
    }
    const uint64_t mask = (uint64_t{1} << m) - 1;
    for (size_t i = 0; i < encoded.size(); ++i) {
      quantized_sum_[i] = (quantized_sum_[i] + encoded[i]) & mask;
    }
  }
  ++contributors_;
  return absl::OkStatus();
}

absl::StatusOr<AggregateResult> PlainAccumulator::Decode() const {
  const auto update = static_cast<size_t>(UpdateLength(params_));
  if (params_.encoding() == cohort::v1::UPDATE_ENCODING_FLOAT32) {
    return DecodeFloatSum(absl::MakeConstSpan(float_sum_).first(update), params_, contributors_);
  }
  return DecodeQuantizedSum(absl::MakeConstSpan(quantized_sum_).first(update), params_,
                            contributors_);
}

absl::StatusOr<EvaluationSums> PlainAccumulator::DecodeEvaluation() const {
  const auto update = static_cast<size_t>(UpdateLength(params_));
  // Only one of the two sums exists (the encoding's); the other stays empty.
  auto tail = [update](const auto& sum) {
    return absl::MakeConstSpan(sum).subspan(std::min(update, sum.size()));
  };
  return DecodeEvaluationSum(params_, tail(quantized_sum_), tail(float_sum_), contributors_);
}

}  // namespace cohort::codec
