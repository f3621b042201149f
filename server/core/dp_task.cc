#include "server/core/dp_task.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "codec/dp_codec.h"
#include "privacy/accountant.h"
#include "server/core/task_config.h"

namespace cohort::server {
namespace {

using cohort::v1::DpConfig;
using cohort::v1::PrivacyBudget;
using cohort::v1::TaskConfig;

constexpr double kDefaultBeta = 0.6065306597126334;  // exp(-1/2)

absl::Status Invalid(absl::string_view field, absl::string_view requirement,
                     absl::string_view got) {
  return absl::InvalidArgumentError(
      absl::StrCat("config.dp.", field, " must be ", requirement, ", got ", got));
}

std::vector<double> Scaled(std::vector<double> curve, int64_t times) {
  for (double& v : curve) v *= static_cast<double>(times);
  return curve;
}

double EpsilonOf(const std::vector<double>& orders, const std::vector<double>& curve,
                 double delta) {
  return privacy::EpsilonFromRdp(orders, curve, delta).epsilon;
}

// The worst round the task can run: every selected device admitted (the coarsest scale).
absl::StatusOr<std::vector<double>> WorstRoundCurve(const TaskConfig& config,
                                                    int64_t num_parameters, double clip_norm,
                                                    const std::vector<double>& orders) {
  privacy::DpSpec spec = DpSpecFor(config, num_parameters, clip_norm, SelectionTarget(config));
  spec.upper_bound = true;
  absl::StatusOr<privacy::DpRoundParams> round = privacy::ResolveDpRound(spec);
  if (!round.ok()) return round.status();
  return privacy::RoundRdpCurve(*round, orders);
}

}  // namespace

bool DpEnabled(const TaskConfig& config) { return codec::IsDp(config.dp().mechanism()); }

privacy::DpSpec DpSpecFor(const TaskConfig& config, int64_t num_parameters, double clip_norm,
                          int64_t max_contributors) {
  const DpConfig& dp = config.dp();
  privacy::DpSpec spec;
  spec.mechanism = codec::ToMechanism(dp.mechanism());
  spec.clip_norm = clip_norm;
  spec.noise_multiplier = dp.noise_multiplier();
  spec.dimension = num_parameters;
  spec.bits = dp.bits();
  spec.min_contributors = config.min_participants();
  spec.max_contributors = std::max<int64_t>(max_contributors, config.min_participants());
  spec.beta = dp.rounding_beta();
  spec.log2_max_wrap = -static_cast<double>(dp.wrap_bits());
  spec.clipped_count_stddev =
      dp.adaptive_clipping().enabled() ? dp.adaptive_clipping().count_stddev() : 0;
  spec.sampling_rate = dp.sampling_rate();
  return spec;
}

absl::Status ValidateDpConfig(TaskConfig* config) {
  DpConfig* dp = config->mutable_dp();
  if (dp->mechanism() == cohort::v1::DP_MECHANISM_UNSPECIFIED) {
    dp->set_mechanism(cohort::v1::DP_MECHANISM_NONE);
  }
  if (!DpEnabled(*config)) {
    if (dp->mechanism() != cohort::v1::DP_MECHANISM_NONE) {
      return Invalid("mechanism", "a DpMechanism", absl::StrCat(dp->mechanism()));
    }
    return absl::OkStatus();
  }
  const bool distributed = codec::IsDistributedDp(dp->mechanism());
  const std::string mechanism = cohort::v1::DpMechanism_Name(dp->mechanism());
  if (distributed && !config->secagg().enabled()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "config.dp.mechanism ", mechanism,
        " needs secure aggregation (config.secagg.enabled): "
        "without it the server sees every device's noise share, and each update carries only "
        "1/n of the noise"));
  }
  if (!distributed) {
    if (config->secagg().enabled()) {
      return absl::InvalidArgumentError(
          "config.dp.mechanism DP_MECHANISM_CENTRAL_GAUSSIAN is for plain rounds; with secure "
          "aggregation use DP_MECHANISM_DISTRIBUTED_DISCRETE_GAUSSIAN or _SKELLAM");
    }
    if (config->codec().encoding() != cohort::v1::UPDATE_ENCODING_FLOAT32) {
      return absl::InvalidArgumentError(absl::StrCat(
          "config.dp.mechanism DP_MECHANISM_CENTRAL_GAUSSIAN needs config.codec.encoding "
          "UPDATE_ENCODING_FLOAT32, got ",
          cohort::v1::UpdateEncoding_Name(config->codec().encoding()),
          " (quantization error would add to the sensitivity)"));
    }
    if (dp->adaptive_clipping().enabled()) {
      return Invalid("adaptive_clipping.enabled",
                     "false with DP_MECHANISM_CENTRAL_GAUSSIAN (the clipped count is summed "
                     "through the distributed mechanisms only)",
                     "true");
    }
  }
  if (config->evaluation().enabled()) {
    return absl::InvalidArgumentError(
        "config.evaluation.enabled cannot be combined with config.dp: the evaluation counts are "
        "summed without noise, so they would not be differentially private");
  }
  if (!(config->codec().l2_clip_norm() > 0)) {
    return absl::InvalidArgumentError(
        "config.codec.l2_clip_norm must be > 0 with DP: the clip norm is the sensitivity");
  }
  if (!(dp->delta() > 0 && dp->delta() < 1)) {
    return Invalid("delta", "in (0, 1) (e.g. 1e-5, or 1/N^1.1 for a population of N)",
                   absl::StrCat(dp->delta()));
  }
  if (dp->bits() == 0) dp->set_bits(20);
  if (distributed && (dp->bits() < 8 || dp->bits() > 62)) {
    return Invalid("bits", "in [8, 62]", absl::StrCat(dp->bits()));
  }
  if (dp->rounding_beta() == 0) dp->set_rounding_beta(kDefaultBeta);
  if (!(dp->rounding_beta() > 0 && dp->rounding_beta() < 1)) {
    return Invalid("rounding_beta", "in (0, 1)", absl::StrCat(dp->rounding_beta()));
  }
  if (dp->wrap_bits() == 0) dp->set_wrap_bits(20);
  if (dp->wrap_bits() < 1 || dp->wrap_bits() > 60) {
    return Invalid("wrap_bits", "in [1, 60]", absl::StrCat(dp->wrap_bits()));
  }
  if (dp->weighting() == cohort::v1::DP_WEIGHTING_UNSPECIFIED) {
    dp->set_weighting(cohort::v1::DP_WEIGHTING_UNIFORM);
  }
  if (!(dp->sampling_rate() >= 0 && dp->sampling_rate() < 1)) {
    return Invalid("sampling_rate", "in [0, 1) (0: no sampling assumption)",
                   absl::StrCat(dp->sampling_rate()));
  }
  auto* adaptive = dp->mutable_adaptive_clipping();
  if (adaptive->enabled()) {
    if (adaptive->target_unclipped_quantile() == 0) adaptive->set_target_unclipped_quantile(0.5);
    if (!(adaptive->target_unclipped_quantile() > 0 && adaptive->target_unclipped_quantile() < 1)) {
      return Invalid("adaptive_clipping.target_unclipped_quantile", "in (0, 1)",
                     absl::StrCat(adaptive->target_unclipped_quantile()));
    }
    if (adaptive->learning_rate() == 0) adaptive->set_learning_rate(0.2);
    if (!(adaptive->learning_rate() > 0 && adaptive->learning_rate() <= 10)) {
      return Invalid("adaptive_clipping.learning_rate", "in (0, 10]",
                     absl::StrCat(adaptive->learning_rate()));
    }
    if (adaptive->count_stddev() == 0) {
      adaptive->set_count_stddev(std::max(0.5, config->target_cohort_size() / 20.0));
    }
    if (!(adaptive->count_stddev() > 0) || !std::isfinite(adaptive->count_stddev())) {
      return Invalid("adaptive_clipping.count_stddev", "> 0",
                     absl::StrCat(adaptive->count_stddev()));
    }
  }
  const int64_t d = ParameterCount(config->layout());
  const std::vector<double> orders = privacy::DefaultOrders();
  const double clip = config->codec().l2_clip_norm();
  // Noise: given, or calibrated to a target.
  if (dp->noise_multiplier() != 0 && dp->target_epsilon() != 0) {
    return absl::InvalidArgumentError(
        "config.dp: set noise_multiplier or target_epsilon (with target_rounds), not both");
  }
  if (dp->target_epsilon() != 0) {
    if (!(dp->target_epsilon() > 0) || dp->target_rounds() < 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "config.dp.target_epsilon needs target_epsilon > 0 and target_rounds >= 1, got ",
          dp->target_epsilon(), " and ", dp->target_rounds()));
    }
    // Calibrated on the worst-case curve CheckNextRound will use, so the target's rounds fit.
    privacy::DpSpec spec = DpSpecFor(*config, d, clip, SelectionTarget(*config));
    spec.upper_bound = true;
    absl::StatusOr<double> z = privacy::CalibrateNoiseMultiplier(
        spec, dp->target_epsilon(), dp->delta(), dp->target_rounds(), orders);
    if (!z.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("config.dp: ", z.status().message()));
    }
    dp->set_noise_multiplier(*z);
    if (dp->epsilon_budget() == 0) dp->set_epsilon_budget(dp->target_epsilon());
  }
  if (!(dp->noise_multiplier() > 0) || !std::isfinite(dp->noise_multiplier())) {
    return Invalid("noise_multiplier", "> 0 (or set target_epsilon and target_rounds)",
                   absl::StrCat(dp->noise_multiplier()));
  }
  if (!(dp->epsilon_budget() > 0) || !std::isfinite(dp->epsilon_budget())) {
    return Invalid("epsilon_budget", "> 0 (the total epsilon the task may spend)",
                   absl::StrCat(dp->epsilon_budget()));
  }
  if (dp->target_epsilon() > dp->epsilon_budget()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("config.dp.target_epsilon %.4g is above config.dp.epsilon_budget %.4g",
                        dp->target_epsilon(), dp->epsilon_budget()));
  }
  absl::StatusOr<std::vector<double>> worst = WorstRoundCurve(*config, d, clip, orders);
  if (!worst.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("config.dp: ", worst.status().message()));
  }
  const double one = EpsilonOf(orders, *worst, dp->delta());
  if (one > dp->epsilon_budget()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "config.dp: one round at noise multiplier %.4g with %d to %d contributors spends "
        "epsilon %.4g at delta %.3g, more than the budget of %.4g; raise the noise multiplier, "
        "min_participants or the budget",
        dp->noise_multiplier(), config->min_participants(), SelectionTarget(*config), one,
        dp->delta(), dp->epsilon_budget()));
  }
  if (dp->target_rounds() > 0) {
    const double planned = EpsilonOf(orders, Scaled(*worst, dp->target_rounds()), dp->delta());
    if (planned > dp->epsilon_budget()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "config.dp: %d rounds at noise multiplier %.4g spend epsilon %.4g at delta %.3g, more "
          "than the budget of %.4g",
          dp->target_rounds(), dp->noise_multiplier(), planned, dp->delta(), dp->epsilon_budget()));
    }
  }
  return absl::OkStatus();
}

PrivacyBudget InitialPrivacyBudget(const TaskConfig& config) {
  PrivacyBudget budget;
  if (!DpEnabled(config)) return budget;
  budget.set_mechanism(config.dp().mechanism());
  budget.set_delta(config.dp().delta());
  budget.set_epsilon_budget(config.dp().epsilon_budget());
  budget.set_clip_norm(config.codec().l2_clip_norm());
  for (double order : privacy::DefaultOrders()) {
    budget.add_rdp_orders(order);
    budget.add_rdp(0);
  }
  return budget;
}

absl::Status CheckNextRound(const TaskConfig& config, int64_t num_parameters,
                            PrivacyBudget* budget) {
  const std::vector<double> orders(budget->rdp_orders().begin(), budget->rdp_orders().end());
  absl::StatusOr<privacy::RdpAccountant> acc = privacy::RdpAccountant::Restore(
      orders, std::vector<double>(budget->rdp().begin(), budget->rdp().end()));
  absl::StatusOr<std::vector<double>> worst =
      acc.ok() ? WorstRoundCurve(config, num_parameters, budget->clip_norm(), orders)
               : absl::StatusOr<std::vector<double>>(acc.status());
  if (!worst.ok()) {
    budget->set_exhausted(true);
    budget->set_stop_reason(absl::StrCat("privacy accounting failed: ", worst.status().message()));
    return absl::FailedPreconditionError(budget->stop_reason());
  }
  const double next = acc->EpsilonAfter(*worst, 1, budget->delta()).epsilon;
  budget->set_next_round_epsilon(next);
  if (next <= budget->epsilon_budget()) return absl::OkStatus();
  budget->set_exhausted(true);
  budget->set_stop_reason(absl::StrFormat(
      "privacy budget: round %d would bring epsilon from %.4g to %.4g at delta %.3g, above the "
      "budget of %.4g; no more rounds run",
      budget->rounds_charged() + 1, budget->epsilon_spent(), next, budget->delta(),
      budget->epsilon_budget()));
  return absl::FailedPreconditionError(budget->stop_reason());
}

absl::StatusOr<cohort::v1::DpParams> ResolveRoundDp(const TaskConfig& config,
                                                    int64_t num_parameters, double clip_norm,
                                                    int32_t admitted,
                                                    secagg::RandomSource& random) {
  absl::StatusOr<privacy::DpRoundParams> round =
      privacy::ResolveDpRound(DpSpecFor(config, num_parameters, clip_norm, admitted));
  if (!round.ok()) return round.status();
  cohort::v1::DpParams dp = codec::ToProto(*round);
  dp.set_weighting(config.dp().weighting());
  std::string seed(32, '\0');
  random.Fill(absl::MakeSpan(reinterpret_cast<uint8_t*>(seed.data()), seed.size()));
  dp.set_rotation_seed(seed);
  return dp;
}

cohort::v1::RoundPrivacy DescribeRound(const cohort::v1::DpParams& dp) {
  cohort::v1::RoundPrivacy p;
  p.set_mechanism(dp.mechanism());
  p.set_clip_norm(dp.clip_norm());
  p.set_bits(dp.bits());
  p.set_noise_stddev(codec::ToRoundParams(dp).noise_stddev());
  p.set_accounted_contributors(dp.accounted_contributors());
  p.set_log2_wrap_probability(dp.log2_wrap_probability());
  return p;
}

cohort::v1::RoundPrivacy ChargeRound(const TaskConfig& config, const cohort::v1::DpParams& dp,
                                     const codec::AggregateResult* result, PrivacyBudget* budget) {
  cohort::v1::RoundPrivacy p = DescribeRound(dp);
  const std::vector<double> orders(budget->rdp_orders().begin(), budget->rdp_orders().end());
  const std::vector<double> curve = privacy::RoundRdpCurve(codec::ToRoundParams(dp), orders);
  absl::StatusOr<privacy::RdpAccountant> acc = privacy::RdpAccountant::Restore(
      orders, std::vector<double>(budget->rdp().begin(), budget->rdp().end()));
  if (!acc.ok()) acc = privacy::RdpAccountant(orders);  // never happens: checked at open
  acc->Compose(curve);
  budget->clear_rdp();
  for (double v : acc->rdp()) budget->add_rdp(v);
  budget->set_rounds_charged(budget->rounds_charged() + 1);
  budget->set_epsilon_spent(acc->Epsilon(budget->delta()).epsilon);
  budget->set_epsilon_spent_standard(
      acc->Epsilon(budget->delta(), privacy::Conversion::kStandard).epsilon);
  p.set_charged(true);
  p.set_round_epsilon(privacy::EpsilonFromRdp(orders, curve, budget->delta()).epsilon);
  p.set_epsilon_spent(budget->epsilon_spent());
  const auto& adaptive = config.dp().adaptive_clipping();
  if (adaptive.enabled() && result != nullptr && result->has_unclipped_count &&
      result->contributors > 0) {
    // Andrew et al. 2021: geometric update towards the target quantile, from the noisy count.
    const double fraction = result->unclipped_count / result->contributors;
    p.set_unclipped_fraction(fraction);
    const double next =
        budget->clip_norm() *
        std::exp(-adaptive.learning_rate() * (fraction - adaptive.target_unclipped_quantile()));
    budget->set_clip_norm(std::clamp(next, 1e-6, 1e6));
  }
  return p;
}

}  // namespace cohort::server
