#include "sim/options.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/address.h"
#include "model/zoo.h"
#include "secagg/parameter_finder.h"
#include "sim/metrics.h"

namespace cohort::sim {
namespace {

absl::Status Bad(const std::string& flag, const std::string& want, const std::string& got) {
  return absl::InvalidArgumentError(absl::StrCat("--", flag, " must be ", want, ", got ", got));
}

void SetDuration(absl::Duration d, google::protobuf::Duration* out) {
  const int64_t nanos = absl::ToInt64Nanoseconds(d);
  out->set_seconds(nanos / 1000000000);
  out->set_nanos(static_cast<int32_t>(nanos % 1000000000));
}

// --optimizer values and the server optimizer each names.
const std::map<std::string, cohort::v1::ServerOptimizerConfig::Kind>& OptimizerKinds() {
  static const auto* const kinds =
      new std::map<std::string, cohort::v1::ServerOptimizerConfig::Kind>{
          {"fedavg", cohort::v1::ServerOptimizerConfig::KIND_FEDAVG},
          {"fedavgm", cohort::v1::ServerOptimizerConfig::KIND_FEDAVGM},
          {"fedadagrad", cohort::v1::ServerOptimizerConfig::KIND_FEDADAGRAD},
          {"fedadam", cohort::v1::ServerOptimizerConfig::KIND_FEDADAM},
          {"fedyogi", cohort::v1::ServerOptimizerConfig::KIND_FEDYOGI}};
  return *kinds;
}

}  // namespace

ModelRecipe DefaultRecipe(const std::string& model) {
  ModelRecipe recipe;
  if (model == "cnn") {
    recipe.rounds = 100;
    recipe.local_epochs = 1;
    recipe.client_lr = 0.1;
    recipe.batch_size = 16;
    recipe.optimizer = "fedadam";
    recipe.server_lr = 0.02;
    recipe.server_lr_decay = "cosine";
  }
  return recipe;
}

double EffectiveServerLr(const SimOptions& options) {
  if (options.server_lr > 0) return options.server_lr;
  return options.optimizer == "fedavg" || options.optimizer == "fedavgm" ? 1.0 : 0.03;
}

int TargetCohortSize(const SimOptions& options) {
  if (options.cohort_size > 0) return options.cohort_size;
  return std::max(1, static_cast<int>(std::ceil(options.cohort_fraction * options.devices - 1e-9)));
}

int SelectedCohortSize(const SimOptions& options) {
  return static_cast<int>(std::ceil(TargetCohortSize(options) * options.over_selection - 1e-9));
}

int MinParticipants(const SimOptions& o) {
  if (o.min_participants > 0) return o.min_participants;
  const int floor = o.secagg ? 3 : 2;
  return std::max(floor, static_cast<int>(std::ceil(0.8 * TargetCohortSize(o) - 1e-9)));
}

absl::StatusOr<double> SecAggDropoutRate(const SimOptions& o) {
  if (o.secagg_dropout_rate > 0) return o.secagg_dropout_rate;
  return std::min(0.45, std::max(0.1, o.dropout));
}

namespace {

bool SecAggParametersExist(const SimOptions& o, double dropout_rate, int correctness_bits) {
  for (int n : {MinParticipants(o), SelectedCohortSize(o)}) {
    secagg::ParameterOptions p;
    p.num_participants = n;
    p.dropout_rate = dropout_rate;
    p.correctness_bits = correctness_bits;
    if (!secagg::FindParameters(p).ok()) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<int> SecAggCorrectnessBits(const SimOptions& o) {
  const double rate = *SecAggDropoutRate(o);
  if (o.secagg_correctness_bits > 0) {
    if (!SecAggParametersExist(o, rate, o.secagg_correctness_bits)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "no SecAgg+ parameters exist for ", MinParticipants(o), "..", SelectedCohortSize(o),
          " participants at --secagg_dropout_rate ", rate, " with --secagg_correctness_bits ",
          o.secagg_correctness_bits, "; lower it or raise --cohort_size/--min_participants"));
    }
    return o.secagg_correctness_bits;
  }
  for (int bits = 20; bits >= 1; --bits) {
    if (SecAggParametersExist(o, rate, bits)) return bits;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "no SecAgg+ parameters exist for ", MinParticipants(o), "..", SelectedCohortSize(o),
      " participants at an expected dropout rate of ", rate,
      ": raise --cohort_size/--min_participants or lower --secagg_dropout_rate"));
}

absl::Status ValidateSimOptions(const SimOptions& o) {
  if (o.devices < 1) return Bad("devices", ">= 1", absl::StrCat(o.devices));
  if (o.rounds < 1) return Bad("rounds", ">= 1", absl::StrCat(o.rounds));
  if (o.cohort_size < 0) return Bad("cohort_size", ">= 0", absl::StrCat(o.cohort_size));
  if (!(o.cohort_fraction > 0.0 && o.cohort_fraction <= 1.0)) {
    return Bad("cohort_fraction", "in (0, 1]", absl::StrCat(o.cohort_fraction));
  }
  if (!(o.over_selection >= 1.0)) {
    return Bad("over_selection", ">= 1", absl::StrCat(o.over_selection));
  }
  if (SelectedCohortSize(o) > o.devices) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--cohort_size/--cohort_fraction with --over_selection select ", SelectedCohortSize(o),
        " devices per round but --devices is ", o.devices));
  }
  if (o.min_participants < 0 || o.min_participants > TargetCohortSize(o)) {
    return Bad("min_participants", absl::StrCat("in [0, ", TargetCohortSize(o), "]"),
               absl::StrCat(o.min_participants));
  }
  if (o.partition != "iid" && o.partition != "dirichlet") {
    return Bad("partition", "iid or dirichlet", o.partition);
  }
  if (!(o.alpha > 0.0) || !std::isfinite(o.alpha)) {
    return Bad("alpha", "> 0", absl::StrCat(o.alpha));
  }
  if (o.model != "mlp" && o.model != "softmax" && o.model != "cnn" && !IsOnnxModel(o)) {
    return Bad("model", "mlp, softmax, cnn or the path of an .onnx file", o.model);
  }
  if (o.hidden < 1) return Bad("hidden", ">= 1", absl::StrCat(o.hidden));
  if (o.local_epochs < 1) return Bad("local_epochs", ">= 1", absl::StrCat(o.local_epochs));
  if (o.batch_size < 1) return Bad("batch_size", ">= 1", absl::StrCat(o.batch_size));
  if (!(o.client_lr > 0.0)) return Bad("client_lr", "> 0", absl::StrCat(o.client_lr));
  if (!(o.server_lr >= 0.0)) return Bad("server_lr", ">= 0", absl::StrCat(o.server_lr));
  if (o.server_lr_decay != "constant" && o.server_lr_decay != "cosine" &&
      o.server_lr_decay != "linear") {
    return Bad("server_lr_decay", "constant, cosine or linear", o.server_lr_decay);
  }
  if (!(o.server_lr_final_fraction >= 0.0 && o.server_lr_final_fraction <= 1.0)) {
    return Bad("server_lr_final_fraction", "in [0, 1]", absl::StrCat(o.server_lr_final_fraction));
  }
  if (!OptimizerKinds().contains(o.optimizer)) {
    return Bad("optimizer", "fedavg, fedavgm, fedadagrad, fedadam or fedyogi", o.optimizer);
  }
  if (!(o.server_tau >= 0.0)) return Bad("server_tau", ">= 0", absl::StrCat(o.server_tau));
  if (o.bits < 2 || o.bits > 16) return Bad("bits", "in [2, 16]", absl::StrCat(o.bits));
  if (!(o.clip > 0.0)) return Bad("clip", "> 0", absl::StrCat(o.clip));
  if (o.secagg && !o.quantize) {
    return absl::InvalidArgumentError(
        "--float32 sends plain updates, which secure aggregation cannot sum: add --no-secagg");
  }
  if (o.max_example_weight < 1) {
    return Bad("max_example_weight", ">= 1", absl::StrCat(o.max_example_weight));
  }
  if (!(o.dropout >= 0.0 && o.dropout < 1.0)) {
    return Bad("dropout", "in [0, 1)", absl::StrCat(o.dropout));
  }
  if (!(o.secagg_dropout_rate >= 0.0 && o.secagg_dropout_rate < 0.5)) {
    return Bad("secagg_dropout_rate", "in [0, 0.5)", absl::StrCat(o.secagg_dropout_rate));
  }
  if (o.secagg_correctness_bits < 0 || o.secagg_correctness_bits > 128) {
    return Bad("secagg_correctness_bits", "in [0, 128]", absl::StrCat(o.secagg_correctness_bits));
  }
  if (o.secagg && MinParticipants(o) < 3) {
    return Bad("min_participants", ">= 3 with secure aggregation", absl::StrCat(MinParticipants(o)));
  }
  if (o.secagg) {
    if (absl::StatusOr<int> bits = SecAggCorrectnessBits(o); !bits.ok()) return bits.status();
  }
  if (o.dp != "none" && o.dp != "ddg" && o.dp != "skellam" && o.dp != "central") {
    return Bad("dp", "none, ddg, skellam or central", o.dp);
  }
  if (o.dp != "none") {
    if ((o.dp_noise_multiplier > 0) == (o.dp_target_epsilon > 0)) {
      return absl::InvalidArgumentError(
          "--dp needs exactly one of --dp_noise_multiplier and --dp_target_epsilon (> 0)");
    }
    if (!(o.dp_delta > 0 && o.dp_delta < 1)) {
      return Bad("dp_delta", "in (0, 1)", absl::StrCat(o.dp_delta));
    }
    if (o.dp_budget < 0) return Bad("dp_budget", ">= 0", absl::StrCat(o.dp_budget));
    if (o.dp_noise_multiplier > 0 && o.dp_budget == 0) {
      return absl::InvalidArgumentError(
          "--dp_noise_multiplier needs --dp_budget (the total epsilon)");
    }
    if (o.dp_bits < 8 || o.dp_bits > 62)
      return Bad("dp_bits", "in [8, 62]", absl::StrCat(o.dp_bits));
    if (o.dp_weighting != "uniform" && o.dp_weighting != "capped") {
      return Bad("dp_weighting", "uniform or capped", o.dp_weighting);
    }
    const bool distributed = o.dp != "central";
    if (distributed && !o.secagg) {
      return absl::InvalidArgumentError(
          absl::StrCat("--dp=", o.dp,
                       " adds its noise under secure aggregation: drop --no-secagg, or use "
                       "--dp=central"));
    }
    if (!distributed && (o.secagg || o.quantize)) {
      return absl::InvalidArgumentError(
          "--dp=central is for plain rounds: add --no-secagg --float32");
    }
    if (o.dp_adaptive_clipping && !distributed) {
      return absl::InvalidArgumentError("--dp_adaptive_clipping needs --dp=ddg or --dp=skellam");
    }
  }
  if (o.device_threads < 0) return Bad("device_threads", ">= 0", absl::StrCat(o.device_threads));
  if (!(o.holdout >= 0 && o.holdout < 0.9)) return Bad("holdout", "in [0, 0.9)", absl::StrCat(o.holdout));
  if (!o.server.empty() && (o.admin_server.empty() || o.admin_token.empty())) {
    return absl::InvalidArgumentError(
        "--server needs --admin_server and --admin_token (or --admin_token_file)");
  }
  if (!o.task_id.empty() && o.server.empty()) {
    return absl::InvalidArgumentError(
        "--task needs --server (the in-process server starts empty and has no tasks to join)");
  }
  if (!o.tls_ca_file.empty() && o.server.empty()) {
    return absl::InvalidArgumentError(
        "--tls_ca needs --server (the in-process server speaks plaintext on loopback)");
  }
  if (o.tls_ca_file.empty()) {
    for (auto [flag, address] :
         {std::pair{"--server", o.server}, std::pair{"--admin_server", o.admin_server}}) {
      if (!address.empty() && !IsLoopbackAddress(address)) {
        return absl::InvalidArgumentError(absl::StrCat(
            flag, " '", address,
            "' is not a loopback address: the admin token and the devices' updates would travel "
            "in plaintext; give --tls_ca with the CA of the server's certificate"));
      }
    }
  }
  for (auto [name, d] : {std::pair{"forming_deadline", o.forming_deadline},
                         std::pair{"key_phase_deadline", o.key_phase_deadline},
                         std::pair{"masked_input_deadline", o.masked_input_deadline}}) {
    if (d <= absl::ZeroDuration()) return Bad(name, "> 0", absl::FormatDuration(d));
  }
  return absl::OkStatus();
}

bool IsOnnxModel(const SimOptions& options) { return absl::EndsWith(options.model, ".onnx"); }

cohort::v1::ModelGraph SimModelGraph(const SimOptions& options) {
  constexpr int64_t kSide = 28;
  constexpr int64_t kClasses = 10;
  if (options.model == "softmax") return model::SoftmaxRegressionGraph(kSide * kSide, kClasses);
  if (options.model == "cnn") return model::CnnGraph(kSide, kClasses);
  if (options.model == "mlp") return model::MlpGraph(kSide * kSide, options.hidden, kClasses);
  return cohort::v1::ModelGraph();
}

cohort::v1::TaskConfig MakeTaskConfig(const SimOptions& o) {
  cohort::v1::TaskConfig config;
  config.set_population(o.population);
  config.set_display_name(absl::StrFormat("cohort-sim %s %s%s seed %d", o.model, o.partition,
                                          o.partition == "dirichlet"
                                              ? absl::StrFormat("(%g)", o.alpha)
                                              : std::string(),
                                          o.seed));
  if (!IsOnnxModel(o)) {
    *config.mutable_graph() = SimModelGraph(o);
    config.mutable_initial_model()->set_glorot_uniform_seed(o.seed);
  }
  // Federated evaluation sums its counts without noise, which a DP task refuses
  // (docs/privacy.md): with --dp the holdout is kept out of training but not evaluated.
  config.mutable_evaluation()->set_enabled(o.holdout > 0 && o.dp == "none");
  cohort::v1::TrainingParams* training = config.mutable_training();
  training->set_local_epochs(o.local_epochs);
  training->set_batch_size(o.batch_size);
  training->set_learning_rate(o.client_lr);
  config.set_target_cohort_size(TargetCohortSize(o));
  config.set_over_selection_factor(o.over_selection);
  if (o.min_participants > 0) config.set_min_participants(o.min_participants);

  cohort::v1::PhaseDeadlines* deadlines = config.mutable_deadlines();
  SetDuration(o.forming_deadline, deadlines->mutable_forming());
  SetDuration(o.key_phase_deadline, deadlines->mutable_advertise_keys());
  SetDuration(o.key_phase_deadline, deadlines->mutable_share_keys());
  SetDuration(o.masked_input_deadline, deadlines->mutable_masked_input());
  SetDuration(o.key_phase_deadline, deadlines->mutable_unmasking());

  cohort::v1::SecAggConfig* secagg = config.mutable_secagg();
  secagg->set_enabled(o.secagg);
  if (o.secagg) {
    secagg->set_expected_dropout_rate(*SecAggDropoutRate(o));
    secagg->set_correctness_bits(SecAggCorrectnessBits(o).value_or(20));
    secagg->set_threat_model(cohort::v1::THREAT_MODEL_HONEST_BUT_CURIOUS);
  }

  cohort::v1::CodecConfig* codec = config.mutable_codec();
  codec->set_encoding(o.quantize ? cohort::v1::UPDATE_ENCODING_QUANTIZED
                                 : cohort::v1::UPDATE_ENCODING_FLOAT32);
  codec->set_l2_clip_norm(o.quantize || o.dp != "none" ? o.clip : 0.0);
  codec->set_bits(o.bits);
  codec->set_max_example_weight(o.max_example_weight);

  if (o.dp != "none") {
    cohort::v1::DpConfig* dp = config.mutable_dp();
    dp->set_mechanism(o.dp == "ddg"       ? cohort::v1::DP_MECHANISM_DISTRIBUTED_DISCRETE_GAUSSIAN
                      : o.dp == "skellam" ? cohort::v1::DP_MECHANISM_DISTRIBUTED_SKELLAM
                                          : cohort::v1::DP_MECHANISM_CENTRAL_GAUSSIAN);
    dp->set_delta(o.dp_delta);
    if (o.dp_target_epsilon > 0) {
      dp->set_target_epsilon(o.dp_target_epsilon);
      dp->set_target_rounds(o.rounds);
    } else {
      dp->set_noise_multiplier(o.dp_noise_multiplier);
    }
    if (o.dp_budget > 0) dp->set_epsilon_budget(o.dp_budget);
    dp->set_bits(o.dp_bits);
    dp->set_weighting(o.dp_weighting == "capped" ? cohort::v1::DP_WEIGHTING_CAPPED
                                                 : cohort::v1::DP_WEIGHTING_UNIFORM);
    dp->mutable_adaptive_clipping()->set_enabled(o.dp_adaptive_clipping);
  }

  cohort::v1::ServerOptimizerConfig* optimizer = config.mutable_optimizer();
  const cohort::v1::ServerOptimizerConfig::Kind kind = OptimizerKinds().at(o.optimizer);
  optimizer->set_kind(kind);
  optimizer->set_learning_rate(EffectiveServerLr(o));
  if (kind == cohort::v1::ServerOptimizerConfig::KIND_FEDAVGM) {
    optimizer->set_momentum(o.server_momentum);
  }
  if (o.optimizer != "fedavg" && o.optimizer != "fedavgm") optimizer->set_tau(o.server_tau);
  if (o.server_lr_decay != "constant") {
    cohort::v1::LearningRateDecay* decay = optimizer->mutable_decay();
    decay->set_kind(o.server_lr_decay == "cosine" ? cohort::v1::LearningRateDecay::KIND_COSINE
                                                  : cohort::v1::LearningRateDecay::KIND_LINEAR);
    // The rate reaches its floor at the last round: round r (from 1) applies step r - 1 when
    // every round commits (a failed round does not step the optimizer).
    decay->set_steps(std::max(1, o.rounds - 1));
    decay->set_final_fraction(o.server_lr_final_fraction);
  }
  // Every simulated device may serve in consecutive rounds: with 100 devices and 13 per round a
  // cooldown would only slow the run down.
  SetDuration(absl::ZeroDuration(), config.mutable_device_cooldown());
  return config;
}

std::string OptionsJson(const SimOptions& o) {
  return absl::StrFormat(
      "{\"server\": %s, \"population\": %s, \"data_dir\": %s, \"partition\": %s, \"alpha\": %g, "
      "\"holdout\": %g, \"devices\": %d, \"rounds\": %d, \"target_cohort_size\": %d, \"selected_per_round\": %d, "
      "\"over_selection\": %g, \"model\": %s, \"hidden\": %d, \"local_epochs\": %d, "
      "\"batch_size\": %d, \"client_lr\": %g, \"server_lr\": %g, \"server_lr_decay\": %s, "
      "\"server_lr_final_fraction\": %g, \"optimizer\": %s, "
      "\"secagg\": %s, \"quantize\": %s, \"bits\": %d, \"clip\": %g, \"max_example_weight\": %d, "
      "\"dropout\": %g, \"secagg_dropout_rate\": %g, \"secagg_correctness_bits\": %d, "
      "\"dp\": %s, \"dp_noise_multiplier\": %g, \"dp_target_epsilon\": %g, \"dp_delta\": %g, "
      "\"dp_budget\": %g, \"dp_bits\": %d, \"dp_adaptive_clipping\": %s, "
      "\"dp_weighting\": %s, \"seed\": %d}",
      JsonString(o.server.empty() ? "in-process" : o.server), JsonString(o.population),
      JsonString(o.data_dir), JsonString(o.partition), o.alpha, o.holdout, o.devices, o.rounds,
      TargetCohortSize(o), SelectedCohortSize(o), o.over_selection, JsonString(o.model), o.hidden,
      o.local_epochs, o.batch_size, o.client_lr, EffectiveServerLr(o), JsonString(o.server_lr_decay),
      o.server_lr_final_fraction, JsonString(o.optimizer),
      o.secagg ? "true" : "false", o.quantize ? "true" : "false", o.bits, o.clip,
      o.max_example_weight, o.dropout, *SecAggDropoutRate(o),
      o.secagg ? SecAggCorrectnessBits(o).value_or(0) : 0, JsonString(o.dp), o.dp_noise_multiplier,
      o.dp_target_epsilon, o.dp_delta, o.dp_budget, o.dp_bits,
      o.dp_adaptive_clipping ? "true" : "false", JsonString(o.dp_weighting), o.seed);
}

}  // namespace cohort::sim
