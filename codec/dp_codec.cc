#include "codec/dp_codec.h"

#include <bit>
#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "privacy/discrete_gaussian.h"
#include "privacy/distributed_encoder.h"
#include "privacy/hadamard.h"
#include "privacy/random_bits.h"

namespace cohort::codec {
namespace {

using cohort::v1::CodecParams;
using cohort::v1::DpParams;

absl::Status InvalidDp(absl::string_view field, absl::string_view requirement, double got) {
  return absl::InvalidArgumentError(
      absl::StrCat("codec.dp.", field, " must be ", requirement, ", got ", got));
}

// c of docs/privacy.md#sensitivity ("Weights").
double WeightFactor(const CodecParams& params, int64_t num_examples) {
  if (params.dp().weighting() != cohort::v1::DP_WEIGHTING_CAPPED) return 1.0;
  const double cap = params.max_example_weight();
  return std::min(static_cast<double>(num_examples), cap) / cap;
}

}  // namespace

privacy::Mechanism ToMechanism(cohort::v1::DpMechanism mechanism) {
  switch (mechanism) {
    case cohort::v1::DP_MECHANISM_DISTRIBUTED_DISCRETE_GAUSSIAN:
      return privacy::Mechanism::kDistributedDiscreteGaussian;
    case cohort::v1::DP_MECHANISM_DISTRIBUTED_SKELLAM:
      return privacy::Mechanism::kDistributedSkellam;
    case cohort::v1::DP_MECHANISM_CENTRAL_GAUSSIAN:
      return privacy::Mechanism::kCentralGaussian;
    default:
      return privacy::Mechanism::kNone;
  }
}

cohort::v1::DpMechanism ToProto(privacy::Mechanism mechanism) {
  switch (mechanism) {
    case privacy::Mechanism::kDistributedDiscreteGaussian:
      return cohort::v1::DP_MECHANISM_DISTRIBUTED_DISCRETE_GAUSSIAN;
    case privacy::Mechanism::kDistributedSkellam:
      return cohort::v1::DP_MECHANISM_DISTRIBUTED_SKELLAM;
    case privacy::Mechanism::kCentralGaussian:
      return cohort::v1::DP_MECHANISM_CENTRAL_GAUSSIAN;
    case privacy::Mechanism::kNone:
      break;
  }
  return cohort::v1::DP_MECHANISM_NONE;
}

bool IsDistributedDp(cohort::v1::DpMechanism mechanism) {
  return mechanism == cohort::v1::DP_MECHANISM_DISTRIBUTED_DISCRETE_GAUSSIAN ||
         mechanism == cohort::v1::DP_MECHANISM_DISTRIBUTED_SKELLAM;
}

bool IsDp(cohort::v1::DpMechanism mechanism) {
  return IsDistributedDp(mechanism) || mechanism == cohort::v1::DP_MECHANISM_CENTRAL_GAUSSIAN;
}

privacy::DpRoundParams ToRoundParams(const DpParams& dp) {
  privacy::DpRoundParams r;
  r.mechanism = ToMechanism(dp.mechanism());
  r.clip_norm = dp.clip_norm();
  r.dimension = dp.dimension();
  r.padded_dimension = dp.padded_dimension();
  r.bits = dp.bits();
  r.scale = dp.scale();
  r.local_variance = dp.local_noise_variance();
  r.norm_bound_squared = dp.norm_bound_squared();
  r.count_magnitude = dp.count_magnitude();
  r.l2_sensitivity = dp.l2_sensitivity();
  r.l1_sensitivity = dp.l1_sensitivity();
  r.noised_coordinates = dp.noised_coordinates();
  r.accounted_contributors = dp.accounted_contributors();
  r.log2_wrap_probability = dp.log2_wrap_probability();
  r.sampling_rate = dp.sampling_rate();
  return r;
}

DpParams ToProto(const privacy::DpRoundParams& r) {
  DpParams dp;
  dp.set_mechanism(ToProto(r.mechanism));
  dp.set_clip_norm(r.clip_norm);
  dp.set_dimension(r.dimension);
  dp.set_padded_dimension(r.padded_dimension);
  dp.set_bits(r.bits);
  dp.set_scale(r.scale);
  dp.set_local_noise_variance(r.local_variance);
  dp.set_norm_bound_squared(r.norm_bound_squared);
  dp.set_count_magnitude(r.count_magnitude);
  dp.set_l2_sensitivity(r.l2_sensitivity);
  dp.set_l1_sensitivity(r.l1_sensitivity);
  dp.set_noised_coordinates(r.noised_coordinates);
  dp.set_accounted_contributors(r.accounted_contributors);
  dp.set_log2_wrap_probability(r.log2_wrap_probability);
  dp.set_sampling_rate(r.sampling_rate);
  return dp;
}

absl::Status ValidateDpParams(const DpParams& dp) {
  if (!IsDp(dp.mechanism())) {
    return absl::InvalidArgumentError(
        absl::StrCat("codec.dp.mechanism must be a DP mechanism, got ",
                     cohort::v1::DpMechanism_Name(dp.mechanism())));
  }
  if (!(dp.clip_norm() > 0) || !std::isfinite(dp.clip_norm())) {
    return InvalidDp("clip_norm", "finite and > 0", dp.clip_norm());
  }
  if (dp.dimension() < 1 || dp.dimension() > privacy::kMaxRotationDimension) {
    return InvalidDp("dimension", "in [1, 2^28]", static_cast<double>(dp.dimension()));
  }
  if (!(dp.scale() > 0) || !std::isfinite(dp.scale())) {
    return InvalidDp("scale", "finite and > 0", dp.scale());
  }
  if (absl::StatusOr<privacy::DiscreteGaussianSampler> s =
          privacy::DiscreteGaussianSampler::Create(dp.local_noise_variance());
      !s.ok()) {
    return InvalidDp("local_noise_variance", "a multiple of 2^-8 in (0, 2^44]",
                     dp.local_noise_variance());
  }
  if (!IsDistributedDp(dp.mechanism())) return absl::OkStatus();
  if (dp.padded_dimension() != privacy::PaddedDimension(dp.dimension())) {
    return InvalidDp("padded_dimension", "the power of two the dimension pads to",
                     static_cast<double>(dp.padded_dimension()));
  }
  if (dp.bits() < 8 || dp.bits() > 62) {
    return InvalidDp("bits", "in [8, 62]", dp.bits());
  }
  if (dp.count_magnitude() < 0 || dp.count_magnitude() >= (int64_t{1} << (dp.bits() - 1))) {
    return InvalidDp("count_magnitude", "in [0, 2^(bits-1))",
                     static_cast<double>(dp.count_magnitude()));
  }
  const int64_t expected = dp.padded_dimension() + (dp.count_magnitude() > 0 ? 1 : 0);
  if (dp.noised_coordinates() != expected) {
    return InvalidDp("noised_coordinates",
                     absl::StrCat("padded_dimension (+1 with a count) = ", expected),
                     static_cast<double>(dp.noised_coordinates()));
  }
  if (dp.rotation_seed().size() != 32) {
    return InvalidDp("rotation_seed", "32 bytes", static_cast<double>(dp.rotation_seed().size()));
  }
  if (dp.norm_bound_squared() == 0) return InvalidDp("norm_bound_squared", "> 0", 0);
  return absl::OkStatus();
}

absl::StatusOr<CodecParams> ResolveDpCodecParams(const cohort::v1::CodecConfig& config,
                                                 const DpParams& dp, int64_t num_parameters,
                                                 int64_t chunk_elements) {
  if (absl::Status s = ValidateDpParams(dp); !s.ok()) return s;
  if (dp.dimension() != num_parameters) {
    return absl::InvalidArgumentError(absl::StrCat("codec.dp.dimension ", dp.dimension(),
                                                   " differs from the model's ", num_parameters,
                                                   " parameters"));
  }
  if (chunk_elements < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("chunk_elements must be >= 1, got ", chunk_elements));
  }
  CodecParams p;
  p.set_l2_clip_norm(dp.clip_norm());
  p.set_quantization_range(dp.clip_norm());
  p.set_bits(config.bits() == 0 ? 8 : config.bits());
  p.set_max_example_weight(config.max_example_weight() < 1 ? 1 : config.max_example_weight());
  p.set_chunk_elements(chunk_elements);
  *p.mutable_dp() = dp;
  if (IsDistributedDp(dp.mechanism())) {
    p.set_encoding(cohort::v1::UPDATE_ENCODING_DISTRIBUTED_DP);
    p.set_modulus_bits(dp.bits());
    p.set_vector_length(dp.noised_coordinates() + 1);
  } else {
    p.set_encoding(cohort::v1::UPDATE_ENCODING_FLOAT32);
    p.set_modulus_bits(0);
    p.set_vector_length(num_parameters + 1);
  }
  return p;
}

absl::StatusOr<EncodedUpdate> EncodeDpUpdate(const CodecParams& params,
                                             absl::Span<const float> delta, int64_t num_examples,
                                             secagg::RandomSource& noise) {
  if (absl::Status s = ValidateDpParams(params.dp()); !s.ok()) return s;
  if (static_cast<int64_t>(delta.size()) != params.dp().dimension()) {
    return absl::InvalidArgumentError(absl::StrCat("a delta of ", delta.size(),
                                                   " values for a DP round of dimension ",
                                                   params.dp().dimension()));
  }
  if (num_examples <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_examples must be >= 1, got ", num_examples));
  }
  const double weight = WeightFactor(params, num_examples);
  EncodedUpdate result;
  result.weight = 1;
  if (IsDistributedDp(params.dp().mechanism())) {
    if (params.encoding() != cohort::v1::UPDATE_ENCODING_DISTRIBUTED_DP ||
        params.vector_length() != params.dp().noised_coordinates() + 1) {
      return absl::InvalidArgumentError(
          "a distributed DP round needs UPDATE_ENCODING_DISTRIBUTED_DP and vector_length = "
          "dp.noised_coordinates + 1");
    }
    privacy::RandomBits bits(noise);
    absl::StatusOr<privacy::DistributedEncoding> encoded = privacy::EncodeDistributed(
        delta, ToRoundParams(params.dp()), params.dp().rotation_seed(), bits, weight);
    if (!encoded.ok()) return encoded.status();
    result.values = std::move(encoded->values);
    result.values.push_back(1);  // the contributor count
    result.clipped = encoded->clipped;
    result.norm = encoded->norm;
    return result;
  }
  // Central: float32 of c * clip(u), and the count.
  double sum_squares = 0;
  for (size_t i = 0; i < delta.size(); ++i) {
    if (!std::isfinite(delta[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("delta[", i, "] is not finite; an update must be finite"));
    }
    sum_squares += static_cast<double>(delta[i]) * delta[i];
  }
  result.norm = std::sqrt(sum_squares);
  result.clipped = result.norm > params.dp().clip_norm();
  const double factor = weight * (result.clipped ? params.dp().clip_norm() / result.norm : 1.0);
  result.values.resize(delta.size() + 1);
  for (size_t i = 0; i < delta.size(); ++i) {
    result.values[i] = std::bit_cast<uint32_t>(static_cast<float>(delta[i] * factor));
  }
  result.values.back() = std::bit_cast<uint32_t>(1.0f);
  return result;
}

absl::StatusOr<AggregateResult> DecodeDpSum(absl::Span<const uint64_t> sum,
                                            const CodecParams& params, int32_t contributors) {
  if (params.encoding() != cohort::v1::UPDATE_ENCODING_DISTRIBUTED_DP) {
    return absl::InvalidArgumentError("DecodeDpSum needs UPDATE_ENCODING_DISTRIBUTED_DP");
  }
  if (absl::Status s = ValidateDpParams(params.dp()); !s.ok()) return s;
  if (static_cast<int64_t>(sum.size()) != params.vector_length()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the sum has ", sum.size(), " elements, codec.vector_length is ", params.vector_length()));
  }
  if (contributors < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("a sum needs at least one contributor, got ", contributors));
  }
  const uint64_t mask = (uint64_t{1} << params.dp().bits()) - 1;
  if (sum.back() != (static_cast<uint64_t>(contributors) & mask)) {
    return absl::InvalidArgumentError(absl::StrCat("impossible sum: the count element is ",
                                                   sum.back(), " for ", contributors,
                                                   " contributors"));
  }
  absl::StatusOr<privacy::DistributedDecoding> decoded =
      privacy::DecodeDistributedSum(sum.subspan(0, sum.size() - 1), ToRoundParams(params.dp()),
                                    params.dp().rotation_seed(), contributors);
  if (!decoded.ok()) return decoded.status();
  AggregateResult result;
  result.contributors = contributors;
  result.total_weight = contributors;
  result.average_delta.resize(decoded->sum.size());
  for (size_t j = 0; j < decoded->sum.size(); ++j) {
    result.average_delta[j] = static_cast<float>(decoded->sum[j] / contributors);
  }
  if (params.dp().count_magnitude() > 0) {
    result.has_unclipped_count = true;
    result.unclipped_count = decoded->unclipped_count;
  }
  return result;
}

absl::Status AddCentralDpNoise(const CodecParams& params, AggregateResult& result,
                               secagg::RandomSource& noise) {
  if (params.dp().mechanism() != cohort::v1::DP_MECHANISM_CENTRAL_GAUSSIAN) {
    return absl::InvalidArgumentError("AddCentralDpNoise needs the central Gaussian mechanism");
  }
  if (absl::Status s = ValidateDpParams(params.dp()); !s.ok()) return s;
  if (result.contributors < 1) {
    return absl::InvalidArgumentError("central noise needs at least one contributor");
  }
  // Weights are 1 (or the capped factor in the values), so total_weight = contributors and
  // the sum is average * contributors.
  const double n = result.contributors;
  std::vector<double> sum(result.average_delta.size());
  for (size_t j = 0; j < sum.size(); ++j) {
    sum[j] = static_cast<double>(result.average_delta[j]) * result.total_weight;
  }
  privacy::RandomBits bits(noise);
  if (absl::Status s =
          privacy::AddCentralNoise(absl::MakeSpan(sum), ToRoundParams(params.dp()), bits);
      !s.ok()) {
    return s;
  }
  for (size_t j = 0; j < sum.size(); ++j) {
    result.average_delta[j] = static_cast<float>(sum[j] / n);
  }
  result.total_weight = n;
  return absl::OkStatus();
}

}  // namespace cohort::codec
