#include "privacy/mechanism.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "privacy/accountant.h"
#include "privacy/discrete_gaussian.h"
#include "privacy/hadamard.h"
#include "privacy/randomized_rounding.h"
#include "privacy/rdp.h"

namespace cohort::privacy {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

bool IsDistributed(Mechanism m) {
  return m == Mechanism::kDistributedDiscreteGaussian || m == Mechanism::kDistributedSkellam;
}

absl::Status CheckSpec(const DpSpec& spec) {
  if (spec.mechanism == Mechanism::kNone) {
    return absl::InvalidArgumentError("no DP mechanism to resolve");
  }
  if (!(spec.clip_norm > 0) || !std::isfinite(spec.clip_norm)) {
    return absl::InvalidArgumentError(
        absl::StrCat("DP needs a finite L2 clip norm > 0, got ", spec.clip_norm));
  }
  if (!(spec.noise_multiplier > 0) || !std::isfinite(spec.noise_multiplier)) {
    return absl::InvalidArgumentError(
        absl::StrCat("dp.noise_multiplier must be finite and > 0, got ", spec.noise_multiplier));
  }
  if (spec.dimension < 1 || spec.dimension > kMaxRotationDimension) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the model dimension must be in [1, ", kMaxRotationDimension, "], got ", spec.dimension));
  }
  if (spec.min_contributors < 1 || spec.max_contributors < spec.min_contributors) {
    return absl::InvalidArgumentError(
        absl::StrCat("contributors must satisfy 1 <= min <= max, got min ", spec.min_contributors,
                     ", max ", spec.max_contributors));
  }
  if (!(spec.sampling_rate >= 0 && spec.sampling_rate <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the sampling rate must be in [0, 1], got ", spec.sampling_rate));
  }
  if (!(spec.clipped_count_stddev >= 0) || !std::isfinite(spec.clipped_count_stddev)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the clipped-count stddev must be finite and >= 0, got ", spec.clipped_count_stddev));
  }
  if (IsDistributed(spec.mechanism)) {
    if (spec.bits < 8 || spec.bits > 62) {
      return absl::InvalidArgumentError(absl::StrCat(
          "dp.bits must be in [8, 62] (the secure aggregation ring), got ", spec.bits));
    }
    if (!(spec.beta >= 0 && spec.beta < 1)) {
      return absl::InvalidArgumentError(
          absl::StrCat("dp.rounding_beta must be in [0, 1), got ", spec.beta));
    }
    if (!(spec.log2_max_wrap < 0)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the wrap probability bound must be below 1 (log2 < 0), got 2^", spec.log2_max_wrap));
    }
  }
  return absl::OkStatus();
}

// The round at scale s, or an error if a derived quantity leaves the supported range.
absl::StatusOr<DpRoundParams> DistributedAtScale(const DpSpec& spec, double scale) {
  DpRoundParams r;
  r.mechanism = spec.mechanism;
  r.clip_norm = spec.clip_norm;
  r.dimension = spec.dimension;
  r.padded_dimension = PaddedDimension(spec.dimension);
  r.bits = spec.bits;
  r.scale = scale;
  r.accounted_contributors = spec.min_contributors;
  r.sampling_rate = spec.sampling_rate;
  const double total_stddev = spec.noise_multiplier * spec.clip_norm * scale;
  const double variance = total_stddev * total_stddev / static_cast<double>(spec.min_contributors);
  r.local_variance = spec.upper_bound ? std::max(variance, 0x1.0p-8)
                                      : RoundUpToVarianceGrid(std::max(variance, 0x1.0p-8));
  if (r.local_variance > kMaxSamplerVariance) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "a noise share of variance %.6g is above the sampler's 2^44", r.local_variance));
  }
  absl::StatusOr<uint64_t> bound =
      NormBoundSquared(spec.clip_norm * scale, spec.beta, r.padded_dimension);
  if (!bound.ok()) return bound.status();
  r.norm_bound_squared = *bound;
  const double l2 = NormBoundFromSquared(r.norm_bound_squared);
  double l1 = IntegerL1Bound(l2, r.padded_dimension);
  double l2_squared = l2 * l2;
  r.noised_coordinates = r.padded_dimension;
  if (spec.clipped_count_stddev > 0) {
    r.count_magnitude = std::max<int64_t>(
        1, static_cast<int64_t>(std::floor(total_stddev / (2 * spec.clipped_count_stddev))));
    const double h = spec.upper_bound
                         ? std::max(1.0, total_stddev / (2 * spec.clipped_count_stddev))
                         : static_cast<double>(r.count_magnitude);
    l2_squared += h * h;
    l1 += h;
    r.noised_coordinates += 1;
  }
  r.l2_sensitivity = std::sqrt(l2_squared);
  r.l1_sensitivity = l1;
  RingLoad load;
  load.bits = spec.bits;
  load.contributors = spec.max_contributors;
  load.coordinates = r.padded_dimension;
  load.scaled_clip_norm = spec.clip_norm * scale;
  load.noise = spec.mechanism == Mechanism::kDistributedSkellam ? NoiseKind::kSkellam
                                                                : NoiseKind::kDiscreteGaussian;
  load.local_variance = r.local_variance;
  load.count_magnitude = r.count_magnitude;
  r.log2_wrap_probability = Log2WrapProbability(load);
  return r;
}

absl::StatusOr<DpRoundParams> ResolveDistributed(const DpSpec& spec) {
  auto fits = [&](double s) {
    absl::StatusOr<DpRoundParams> r = DistributedAtScale(spec, s);
    return r.ok() && r->log2_wrap_probability <= spec.log2_max_wrap;
  };
  // The wrap probability grows with s; bisect log(s) between a scale at which the signal is
  // below one ring unit and one at which the clip norm alone spans the ring.
  double lo = std::log(1e-9 / spec.clip_norm);
  double hi = std::log(std::ldexp(1.0, spec.bits) / spec.clip_norm);
  if (!fits(std::exp(lo))) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "a ring of 2^%d cannot hold %d contributors at a wrap probability of 2^%.0f even "
        "without signal (rounding and noise alone overflow it); raise dp.bits or lower the "
        "cohort size",
        spec.bits, spec.max_contributors, spec.log2_max_wrap));
  }
  for (int i = 0; i < 100; ++i) {
    const double mid = (lo + hi) / 2;
    (fits(std::exp(mid)) ? lo : hi) = mid;
  }
  return DistributedAtScale(spec, std::exp(lo));
}

absl::StatusOr<DpRoundParams> ResolveCentral(const DpSpec& spec) {
  DpRoundParams r;
  r.mechanism = spec.mechanism;
  r.clip_norm = spec.clip_norm;
  r.dimension = spec.dimension;
  r.padded_dimension = spec.dimension;
  r.accounted_contributors = spec.min_contributors;
  r.sampling_rate = spec.sampling_rate;
  r.noised_coordinates = spec.dimension;
  const double root_d = std::sqrt(static_cast<double>(spec.dimension));
  // A grid fine enough that rounding the sum adds little to the sensitivity (sqrt(d) against
  // C s = 2^12 sqrt(d)), but no finer than the sampler's variance limit allows.
  const double scaled_clip = std::min(0x1.0p12 * root_d, 0x1.0p21 / spec.noise_multiplier);
  r.scale = scaled_clip / spec.clip_norm;
  const double total_stddev = spec.noise_multiplier * scaled_clip;
  r.local_variance = RoundUpToVarianceGrid(std::max(total_stddev * total_stddev, 0x1.0p-8));
  // The devices' float32 rounding (relative 2^-24 per coordinate) and the server's double sum
  // add at most 2^-20 relative; deterministic rounding of the scaled sum adds sqrt(d).
  r.l2_sensitivity = scaled_clip * (1 + 0x1.0p-20) + root_d;
  r.l1_sensitivity = r.l2_sensitivity * root_d;
  return r;
}

}  // namespace

std::string MechanismName(Mechanism mechanism) {
  switch (mechanism) {
    case Mechanism::kNone:
      return "none";
    case Mechanism::kDistributedDiscreteGaussian:
      return "distributed discrete Gaussian";
    case Mechanism::kDistributedSkellam:
      return "distributed Skellam";
    case Mechanism::kCentralGaussian:
      return "central Gaussian";
  }
  return "unknown";
}

double DpRoundParams::noise_stddev() const {
  if (scale <= 0) return 0;
  const double shares =
      mechanism == Mechanism::kCentralGaussian ? 1.0 : static_cast<double>(accounted_contributors);
  return std::sqrt(shares * local_variance) / scale;
}

double DpRoundParams::effective_noise_multiplier() const {
  if (l2_sensitivity <= 0) return 0;
  const double shares =
      mechanism == Mechanism::kCentralGaussian ? 1.0 : static_cast<double>(accounted_contributors);
  return std::sqrt(shares * local_variance) / l2_sensitivity;
}

absl::StatusOr<DpRoundParams> ResolveDpRound(const DpSpec& spec) {
  if (absl::Status s = CheckSpec(spec); !s.ok()) return s;
  if (spec.mechanism == Mechanism::kCentralGaussian) return ResolveCentral(spec);
  return ResolveDistributed(spec);
}

std::vector<double> RoundRdpCurve(const DpRoundParams& round, absl::Span<const double> orders) {
  auto rdp_at = [&round](double order) {
    switch (round.mechanism) {
      case Mechanism::kDistributedDiscreteGaussian:
        return DistributedDiscreteGaussianRdp(order, round.l2_sensitivity, round.l1_sensitivity,
                                              round.noised_coordinates, round.local_variance,
                                              round.accounted_contributors);
      case Mechanism::kDistributedSkellam:
        return SkellamRdp(order, round.l2_sensitivity, round.l1_sensitivity,
                          static_cast<double>(round.accounted_contributors) * round.local_variance);
      case Mechanism::kCentralGaussian:
        return GaussianRdp(round.effective_noise_multiplier(), order);
      case Mechanism::kNone:
        break;
    }
    return kInf;
  };
  std::vector<double> curve;
  curve.reserve(orders.size());
  for (double order : orders) {
    const bool integer = std::floor(order) == order && order >= 2;
    if (round.sampling_rate > 0 && integer) {
      curve.push_back(
          PoissonSubsampledRdp(round.sampling_rate, static_cast<int64_t>(order),
                               [&](int64_t l) { return rdp_at(static_cast<double>(l)); }));
    } else {
      curve.push_back(rdp_at(order));
    }
  }
  return curve;
}

absl::StatusOr<double> CalibrateNoiseMultiplier(DpSpec spec, double target_epsilon, double delta,
                                                int64_t rounds, absl::Span<const double> orders) {
  if (!(target_epsilon > 0) || !(delta > 0 && delta < 1) || rounds < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("a target needs epsilon > 0, delta in (0, 1) and rounds >= 1, got epsilon ",
                     target_epsilon, ", delta ", delta, ", rounds ", rounds));
  }
  auto epsilon_at = [&](double z) -> absl::StatusOr<double> {
    spec.noise_multiplier = z;
    absl::StatusOr<DpRoundParams> round = ResolveDpRound(spec);
    if (!round.ok()) return round.status();
    std::vector<double> curve = RoundRdpCurve(*round, orders);
    for (double& v : curve) v *= static_cast<double>(rounds);
    return EpsilonFromRdp(orders, curve, delta).epsilon;
  };
  constexpr double kMaxZ = 1000;
  absl::StatusOr<double> best = epsilon_at(kMaxZ);
  if (!best.ok()) return best.status();
  if (*best > target_epsilon) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "epsilon %.4g at delta %.3g over %d rounds is out of reach for the %s mechanism: even "
        "noise multiplier %.0f gives epsilon %.4g (%s); raise the target, lower the rounds%s",
        target_epsilon, delta, rounds, MechanismName(spec.mechanism), kMaxZ, *best,
        IsDistributed(spec.mechanism)
            ? absl::StrFormat("the %d-bit ring's rounding error dominates", spec.bits)
            : "the mechanism's floor",
        IsDistributed(spec.mechanism) ? " or raise dp.bits" : ""));
  }
  double lo = std::log(1e-3);
  double hi = std::log(kMaxZ);
  absl::StatusOr<double> at_lo = epsilon_at(std::exp(lo));
  if (at_lo.ok() && *at_lo <= target_epsilon) return std::exp(lo);
  // epsilon decreases in z (towards the ring's floor); bisect log(z) to 0.1%.
  while (hi - lo > 1e-3) {
    const double mid = (lo + hi) / 2;
    absl::StatusOr<double> eps = epsilon_at(std::exp(mid));
    ((eps.ok() && *eps <= target_epsilon) ? hi : lo) = mid;
  }
  return std::exp(hi);
}

}  // namespace cohort::privacy
