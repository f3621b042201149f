#include "privacy/distributed_encoder.h"

#include <cmath>
#include <variant>

#include "absl/strings/str_cat.h"
#include "privacy/discrete_gaussian.h"
#include "privacy/hadamard.h"
#include "privacy/randomized_rounding.h"
#include "privacy/skellam.h"

namespace cohort::privacy {
namespace {

bool IsDistributed(Mechanism m) {
  return m == Mechanism::kDistributedDiscreteGaussian || m == Mechanism::kDistributedSkellam;
}

// One noise sampler for the round, whichever the mechanism.
class NoiseShare {
 public:
  static absl::StatusOr<NoiseShare> Create(const DpRoundParams& round) {
    NoiseShare n;
    if (round.mechanism == Mechanism::kDistributedSkellam) {
      absl::StatusOr<SkellamSampler> s = SkellamSampler::Create(round.local_variance);
      if (!s.ok()) return s.status();
      n.sampler_ = *s;
    } else {
      absl::StatusOr<DiscreteGaussianSampler> g =
          DiscreteGaussianSampler::Create(round.local_variance);
      if (!g.ok()) return g.status();
      n.sampler_ = *g;
    }
    return n;
  }
  int64_t Sample(RandomBits& bits) const {
    return std::visit([&bits](const auto& s) { return s.Sample(bits); }, sampler_);
  }

 private:
  NoiseShare() = default;
  std::variant<DiscreteGaussianSampler, SkellamSampler> sampler_ =
      *DiscreteGaussianSampler::Create(1);
};

}  // namespace

absl::StatusOr<DistributedEncoding> EncodeDistributed(absl::Span<const float> delta,
                                                      const DpRoundParams& round,
                                                      absl::string_view rotation_seed,
                                                      RandomBits& bits, double weight) {
  if (!(weight > 0 && weight <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat("the weight must be in (0, 1], got ", weight));
  }
  if (!IsDistributed(round.mechanism)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "EncodeDistributed needs a distributed mechanism, got ", MechanismName(round.mechanism)));
  }
  if (static_cast<int64_t>(delta.size()) != round.dimension) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a delta of ", delta.size(), " values for a DP round of dimension ", round.dimension));
  }
  absl::StatusOr<RandomizedHadamard> rotation =
      RandomizedHadamard::Create(round.dimension, rotation_seed);
  if (!rotation.ok()) return rotation.status();
  absl::StatusOr<NoiseShare> noise = NoiseShare::Create(round);
  if (!noise.ok()) return noise.status();

  DistributedEncoding result;
  double sum_squares = 0;
  for (size_t i = 0; i < delta.size(); ++i) {
    if (!std::isfinite(delta[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("delta[", i, "] is not finite; an update must be finite"));
    }
    sum_squares += static_cast<double>(delta[i]) * delta[i];
  }
  result.norm = std::sqrt(sum_squares);
  result.clipped = result.norm > round.clip_norm;
  // Clip and scale in one factor; a tiny safety margin keeps s * ||clipped|| <= s C after the
  // rotation's floating-point error, so the exact norm check below never fails for lack of it.
  const double clip = result.clipped ? round.clip_norm / result.norm : 1.0;
  const double factor = clip * weight * round.scale * (1 - 0x1.0p-40);

  std::vector<double> rotated(static_cast<size_t>(rotation->padded_dimension()));
  if (absl::Status s = rotation->Rotate(delta, absl::MakeSpan(rotated)); !s.ok()) return s;
  for (double& v : rotated) v *= factor;
  std::vector<int64_t> rounded(rotated.size());
  absl::StatusOr<RoundingResult> rounding =
      ConditionalRandomizedRound(rotated, round.norm_bound_squared, bits, absl::MakeSpan(rounded));
  if (!rounding.ok()) return rounding.status();
  result.rounding_attempts = rounding->attempts;
  rotated = {};

  const uint64_t mask = round.bits >= 64 ? ~uint64_t{0} : (uint64_t{1} << round.bits) - 1;
  result.values.resize(static_cast<size_t>(round.noised_coordinates));
  for (size_t j = 0; j < rounded.size(); ++j) {
    const int64_t v = rounded[j] + noise->Sample(bits);
    result.values[j] = static_cast<uint64_t>(v) & mask;  // two's complement = mod 2^b
  }
  if (round.count_magnitude > 0) {
    const int64_t h = result.clipped ? -round.count_magnitude : round.count_magnitude;
    result.values.back() = static_cast<uint64_t>(h + noise->Sample(bits)) & mask;
  }
  return result;
}

absl::StatusOr<DistributedDecoding> DecodeDistributedSum(absl::Span<const uint64_t> sum,
                                                         const DpRoundParams& round,
                                                         absl::string_view rotation_seed,
                                                         int64_t contributors) {
  if (!IsDistributed(round.mechanism)) {
    return absl::InvalidArgumentError(
        absl::StrCat("DecodeDistributedSum needs a distributed mechanism, got ",
                     MechanismName(round.mechanism)));
  }
  if (static_cast<int64_t>(sum.size()) != round.noised_coordinates) {
    return absl::InvalidArgumentError(
        absl::StrCat("a DP sum of ", sum.size(), " elements, expected ", round.noised_coordinates));
  }
  if (contributors < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("a sum needs at least one contributor, got ", contributors));
  }
  absl::StatusOr<RandomizedHadamard> rotation =
      RandomizedHadamard::Create(round.dimension, rotation_seed);
  if (!rotation.ok()) return rotation.status();
  const uint64_t modulus = uint64_t{1} << round.bits;
  const uint64_t half = modulus >> 1;
  auto lift = [&](uint64_t v) -> double {
    // [0, 2^b) -> [-2^(b-1), 2^(b-1)): the sum is centred at 0, so this undoes the wrap of
    // every value that did not overflow the ring (privacy/ring.h bounds the chance it did).
    return v >= half ? -static_cast<double>(modulus - v) : static_cast<double>(v);
  };
  std::vector<double> values(static_cast<size_t>(rotation->padded_dimension()));
  for (size_t j = 0; j < values.size(); ++j) {
    if (sum[j] >= modulus) {
      return absl::InvalidArgumentError(
          absl::StrCat("DP sum element ", j, " is ", sum[j], ", not below 2^", round.bits));
    }
    values[j] = lift(sum[j]) / round.scale;
  }
  if (absl::Status s = rotation->Unrotate(absl::MakeSpan(values)); !s.ok()) return s;
  DistributedDecoding result;
  values.resize(static_cast<size_t>(round.dimension));
  result.sum = std::move(values);
  if (round.count_magnitude > 0) {
    if (sum.back() >= modulus) {
      return absl::InvalidArgumentError("the clipped-count element is not below 2^bits");
    }
    const double signed_sum = lift(sum.back()) / static_cast<double>(round.count_magnitude);
    result.unclipped_count = (signed_sum + static_cast<double>(contributors)) / 2;
  }
  return result;
}

absl::Status AddCentralNoise(absl::Span<double> sum, const DpRoundParams& round, RandomBits& bits) {
  if (round.mechanism != Mechanism::kCentralGaussian) {
    return absl::InvalidArgumentError(absl::StrCat(
        "AddCentralNoise needs the central mechanism, got ", MechanismName(round.mechanism)));
  }
  if (static_cast<int64_t>(sum.size()) != round.dimension) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a sum of ", sum.size(), " values for a DP round of dimension ", round.dimension));
  }
  absl::StatusOr<DiscreteGaussianSampler> noise =
      DiscreteGaussianSampler::Create(round.local_variance);
  if (!noise.ok()) return noise.status();
  for (size_t j = 0; j < sum.size(); ++j) {
    if (!std::isfinite(sum[j]) || std::abs(sum[j] * round.scale) > 0x1.0p60) {
      return absl::InvalidArgumentError(
          absl::StrCat("sum[", j, "] = ", sum[j], " cannot be put on the noise grid"));
    }
    const double snapped = std::nearbyint(sum[j] * round.scale);
    sum[j] = (snapped + static_cast<double>(noise->Sample(bits))) / round.scale;
  }
  return absl::OkStatus();
}

}  // namespace cohort::privacy
