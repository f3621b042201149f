#include "server/core/task_config.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "codec/server_optimizer.h"
#include "google/protobuf/duration.pb.h"
#include "model/graph.h"
#include "secagg/parameter_finder.h"
#include "server/core/dp_task.h"

namespace cohort::server {
namespace {

using cohort::v1::TaskConfig;

constexpr int64_t kMaxParameters = int64_t{1} << 28;  // 1 GiB of float32

absl::Status Invalid(absl::string_view field, absl::string_view requirement,
                     absl::string_view got) {
  return absl::InvalidArgumentError(
      absl::StrCat("config.", field, " must be ", requirement, ", got ", got));
}

absl::Duration FromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

void SetDuration(google::protobuf::Duration* d, absl::Duration value) {
  d->set_seconds(absl::ToInt64Seconds(value));
  d->set_nanos(static_cast<int32_t>(
      absl::ToInt64Nanoseconds(value - absl::Seconds(absl::ToInt64Seconds(value)))));
}

absl::Status CheckDeadline(cohort::v1::PhaseDeadlines* deadlines, absl::string_view name, bool has,
                           google::protobuf::Duration* d, absl::Duration fallback) {
  (void)deadlines;
  if (!has) {
    SetDuration(d, fallback);
    return absl::OkStatus();
  }
  const absl::Duration value = FromProto(*d);
  if (value <= absl::ZeroDuration() || value > absl::Hours(24)) {
    return Invalid(absl::StrCat("deadlines.", name), "in (0s, 24h]", absl::FormatDuration(value));
  }
  return absl::OkStatus();
}

bool SameTensors(const cohort::v1::ModelLayout& a, const cohort::v1::ModelLayout& b) {
  if (a.tensors_size() != b.tensors_size()) return false;
  for (int i = 0; i < a.tensors_size(); ++i) {
    if (a.tensors(i).name() != b.tensors(i).name() ||
        !std::equal(a.tensors(i).shape().begin(), a.tensors(i).shape().end(),
                    b.tensors(i).shape().begin(), b.tensors(i).shape().end())) {
      return false;
    }
  }
  return true;
}

// Checks the graph and puts the layout it implies in place of the operator's.
absl::Status ResolveGraph(TaskConfig& config) {
  absl::StatusOr<model::GraphInfo> info = model::AnalyzeGraph(config.graph());
  if (!info.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("config.", info.status().message()));
  }
  if (config.layout().tensors_size() > 0 && !SameTensors(config.layout(), info->layout)) {
    return Invalid("layout", "empty or the layout config.graph implies",
                   absl::StrCat(config.layout().tensors_size(), " tensors that differ from the ",
                                info->layout.tensors_size(), " of the graph"));
  }
  *config.mutable_layout() = info->layout;
  *config.mutable_graph() = model::CanonicalGraph(config.graph());
  return absl::OkStatus();
}

bool ValidPopulation(const std::string& p) {
  if (p.empty() || p.size() > 128) return false;
  for (char c : p) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
          c == '/')) {
      return false;
    }
  }
  return true;
}

}  // namespace

absl::Status CheckThreatModelServed(const cohort::v1::SecAggConfig& secagg,
                                    bool key_verifier_configured) {
  if (!secagg.enabled() || secagg.threat_model() != cohort::v1::THREAT_MODEL_SEMI_MALICIOUS ||
      key_verifier_configured) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      "config.secagg.threat_model THREAT_MODEL_SEMI_MALICIOUS needs authenticated device keys, "
      "and this server has no key-authenticity verifier (start it with --device_ca_file): "
      "without one a server that lies about which devices dropped, or invents devices, can "
      "recover one device's update (docs/secagg.md, \"Threat model\"); use "
      "THREAT_MODEL_HONEST_BUT_CURIOUS or configure the device CA");
}

absl::StatusOr<std::shared_ptr<const secagg::ParameterTable>> SecAggParameterTable(
    const TaskConfig& config) {
  const auto& secagg = config.secagg();
  secagg::ParameterOptions options;
  options.dropout_rate = secagg.expected_dropout_rate();
  options.corrupted_fraction = secagg.corrupted_fraction();
  options.threat_model = secagg.threat_model() == cohort::v1::THREAT_MODEL_SEMI_MALICIOUS
                             ? secagg::ThreatModel::kSemiMalicious
                             : secagg::ThreatModel::kHonestButCurious;
  options.security_bits = secagg.security_bits();
  options.correctness_bits = secagg.correctness_bits();
  absl::StatusOr<secagg::ParameterTable> table =
      secagg::ParameterTable::Build(options, config.min_participants(), SelectionTarget(config));
  if (!table.ok()) return table.status();
  return std::make_shared<const secagg::ParameterTable>(*std::move(table));
}

int64_t ParameterCount(const cohort::v1::ModelLayout& layout) {
  int64_t total = 0;
  for (const auto& tensor : layout.tensors()) {
    int64_t n = 1;
    for (int64_t dim : tensor.shape()) {
      if (dim < 1 || n > kMaxParameters / dim) return -1;
      n *= dim;
    }
    total += n;
    if (total > kMaxParameters) return -1;
  }
  return total;
}

int32_t SelectionTarget(const TaskConfig& config) {
  return static_cast<int32_t>(
      std::ceil(config.target_cohort_size() * config.over_selection_factor() - 1e-9));
}

absl::StatusOr<TaskConfig> ValidateTaskConfig(TaskConfig config) {
  if (!ValidPopulation(config.population())) {
    return Invalid("population", "1 to 128 characters of [A-Za-z0-9._/-]",
                   absl::StrCat("'", config.population(), "'"));
  }
  // Model: a graph (which sets the layout) or a layout alone.
  if (config.has_graph()) {
    if (absl::Status s = ResolveGraph(config); !s.ok()) return s;
  }
  if (config.layout().tensors_size() == 0) {
    return Invalid("layout.tensors", "non-empty", "no tensors");
  }
  std::set<std::string> names;
  for (int i = 0; i < config.layout().tensors_size(); ++i) {
    auto* tensor = config.mutable_layout()->mutable_tensors(i);
    const std::string field = absl::StrCat("layout.tensors[", i, "]");
    if (tensor->name().empty()) return Invalid(field + ".name", "non-empty", "''");
    if (!names.insert(tensor->name()).second) {
      return Invalid(field + ".name", "unique", absl::StrCat("duplicate '", tensor->name(), "'"));
    }
    for (int j = 0; j < tensor->shape_size(); ++j) {
      if (tensor->shape(j) < 1) {
        return Invalid(absl::StrCat(field, ".shape[", j, "]"), ">= 1",
                       absl::StrCat(tensor->shape(j)));
      }
    }
    if (tensor->dtype() == cohort::v1::DTYPE_UNSPECIFIED) {
      tensor->set_dtype(cohort::v1::DTYPE_FLOAT32);
    }
    if (tensor->dtype() != cohort::v1::DTYPE_FLOAT32) {
      return Invalid(field + ".dtype", "DTYPE_FLOAT32", absl::StrCat(tensor->dtype()));
    }
  }
  const int64_t params = ParameterCount(config.layout());
  if (params < 1) {
    return Invalid("layout", absl::StrCat("at most ", kMaxParameters, " parameters"),
                   "more (or an overflowing shape)");
  }
  // Initial model.
  switch (config.initial_model().init_case()) {
    case cohort::v1::ModelInit::kParameters:
      if (static_cast<int64_t>(config.initial_model().parameters().size()) != params * 4) {
        return Invalid("initial_model.parameters",
                       absl::StrCat(params * 4, " bytes (", params, " float32 of the layout)"),
                       absl::StrCat(config.initial_model().parameters().size(), " bytes"));
      }
      break;
    case cohort::v1::ModelInit::kGlorotUniformSeed:
      break;
    case cohort::v1::ModelInit::INIT_NOT_SET:
      config.mutable_initial_model()->set_glorot_uniform_seed(1);
      break;
  }
  // Training.
  auto* training = config.mutable_training();
  if (training->local_epochs() == 0) training->set_local_epochs(1);
  if (training->local_epochs() < 1 || training->local_epochs() > 1000) {
    return Invalid("training.local_epochs", "in [1, 1000]", absl::StrCat(training->local_epochs()));
  }
  if (training->batch_size() == 0) training->set_batch_size(32);
  if (training->batch_size() < 1) {
    return Invalid("training.batch_size", ">= 1", absl::StrCat(training->batch_size()));
  }
  if (training->learning_rate() == 0) training->set_learning_rate(0.05);
  if (!(training->learning_rate() > 0) || !std::isfinite(training->learning_rate())) {
    return Invalid("training.learning_rate", "> 0", absl::StrCat(training->learning_rate()));
  }
  // Secure aggregation (before cohort sizes: it raises their minimum).
  auto* secagg = config.mutable_secagg();
  const int32_t min_cohort = secagg->enabled() ? 3 : 2;
  if (secagg->enabled()) {
    if (secagg->expected_dropout_rate() == 0) secagg->set_expected_dropout_rate(0.1);
    if (!(secagg->expected_dropout_rate() >= 0 && secagg->expected_dropout_rate() < 0.5)) {
      return Invalid("secagg.expected_dropout_rate", "in [0, 0.5)",
                     absl::StrCat(secagg->expected_dropout_rate()));
    }
    if (secagg->corrupted_fraction() == 0) secagg->set_corrupted_fraction(0.05);
    if (!(secagg->corrupted_fraction() >= 0 && secagg->corrupted_fraction() < 0.5)) {
      return Invalid("secagg.corrupted_fraction", "in [0, 0.5)",
                     absl::StrCat(secagg->corrupted_fraction()));
    }
    if (secagg->threat_model() == cohort::v1::THREAT_MODEL_UNSPECIFIED) {
      secagg->set_threat_model(cohort::v1::THREAT_MODEL_HONEST_BUT_CURIOUS);
    }
    if (secagg->security_bits() == 0) secagg->set_security_bits(40);
    if (secagg->security_bits() < 1 || secagg->security_bits() > 128) {
      return Invalid("secagg.security_bits", "in [1, 128]", absl::StrCat(secagg->security_bits()));
    }
    if (secagg->correctness_bits() == 0) secagg->set_correctness_bits(20);
    if (secagg->correctness_bits() < 1 || secagg->correctness_bits() > 128) {
      return Invalid("secagg.correctness_bits", "in [1, 128]",
                     absl::StrCat(secagg->correctness_bits()));
    }
  }
  // Cohort sizes.
  if (config.target_cohort_size() < min_cohort || config.target_cohort_size() > 100000) {
    return Invalid(
        "target_cohort_size",
        absl::StrCat(">= ", min_cohort, secagg->enabled() ? " with secure aggregation" : "",
                     " and <= 100000"),
        absl::StrCat(config.target_cohort_size()));
  }
  if (config.over_selection_factor() == 0) config.set_over_selection_factor(1.3);
  if (!(config.over_selection_factor() >= 1 && config.over_selection_factor() <= 10)) {
    return Invalid("over_selection_factor", "in [1, 10]",
                   absl::StrCat(config.over_selection_factor()));
  }
  if (config.min_participants() == 0) {
    config.set_min_participants(std::max<int32_t>(
        min_cohort, static_cast<int32_t>(std::ceil(0.8 * config.target_cohort_size() - 1e-9))));
  }
  if (config.min_participants() < min_cohort ||
      config.min_participants() > config.target_cohort_size()) {
    return Invalid("min_participants",
                   absl::StrCat("in [", min_cohort,
                                ", target_cohort_size = ", config.target_cohort_size(), "]"),
                   absl::StrCat(config.min_participants()));
  }
  // Deadlines.
  auto* d = config.mutable_deadlines();
  const bool has_forming = d->has_forming();
  const bool has_advertise = d->has_advertise_keys();
  const bool has_share = d->has_share_keys();
  const bool has_masked = d->has_masked_input();
  const bool has_unmasking = d->has_unmasking();
  if (auto s = CheckDeadline(d, "forming", has_forming, d->mutable_forming(), absl::Seconds(60));
      !s.ok()) {
    return s;
  }
  if (auto s = CheckDeadline(d, "advertise_keys", has_advertise, d->mutable_advertise_keys(),
                             absl::Seconds(30));
      !s.ok()) {
    return s;
  }
  if (auto s =
          CheckDeadline(d, "share_keys", has_share, d->mutable_share_keys(), absl::Seconds(30));
      !s.ok()) {
    return s;
  }
  if (auto s = CheckDeadline(d, "masked_input", has_masked, d->mutable_masked_input(),
                             absl::Seconds(300));
      !s.ok()) {
    return s;
  }
  if (auto s =
          CheckDeadline(d, "unmasking", has_unmasking, d->mutable_unmasking(), absl::Seconds(30));
      !s.ok()) {
    return s;
  }
  if (secagg->enabled() && secagg->threat_model() == cohort::v1::THREAT_MODEL_SEMI_MALICIOUS) {
    const bool has_consistency = d->has_consistency_check();  // before mutable_ creates it
    if (auto s = CheckDeadline(d, "consistency_check", has_consistency,
                               d->mutable_consistency_check(), absl::Seconds(30));
        !s.ok()) {
      return s;
    }
  }
  // Codec.
  auto* codec = config.mutable_codec();
  if (codec->encoding() == cohort::v1::UPDATE_ENCODING_UNSPECIFIED) {
    codec->set_encoding(cohort::v1::UPDATE_ENCODING_QUANTIZED);
  }
  if (secagg->enabled() && codec->encoding() != cohort::v1::UPDATE_ENCODING_QUANTIZED) {
    return Invalid("codec.encoding", "UPDATE_ENCODING_QUANTIZED with secure aggregation",
                   cohort::v1::UpdateEncoding_Name(codec->encoding()));
  }
  if (!(codec->l2_clip_norm() >= 0) || !std::isfinite(codec->l2_clip_norm())) {
    return Invalid("codec.l2_clip_norm", ">= 0", absl::StrCat(codec->l2_clip_norm()));
  }
  if (!(codec->quantization_range() >= 0) || !std::isfinite(codec->quantization_range())) {
    return Invalid("codec.quantization_range", ">= 0", absl::StrCat(codec->quantization_range()));
  }
  if (codec->l2_clip_norm() == 0 && codec->quantization_range() == 0) {
    codec->set_l2_clip_norm(1.0);
  }
  if (codec->bits() == 0) codec->set_bits(8);
  if (codec->bits() < 2 || codec->bits() > 16) {
    return Invalid("codec.bits", "in [2, 16]", absl::StrCat(codec->bits()));
  }
  if (codec->max_example_weight() == 0) codec->set_max_example_weight(1000);
  if (codec->max_example_weight() < 1 || codec->max_example_weight() > (1 << 20)) {
    return Invalid("codec.max_example_weight", "in [1, 1048576]",
                   absl::StrCat(codec->max_example_weight()));
  }
  // Optimizer: the codec owns its rules and defaults; its messages name "optimizer.<field>".
  absl::StatusOr<cohort::v1::ServerOptimizerConfig> optimizer =
      codec::ValidateServerOptimizerConfig(config.optimizer());
  if (!optimizer.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("config.", optimizer.status().message()));
  }
  *config.mutable_optimizer() = *std::move(optimizer);
  // Cool-down.
  if (!config.has_device_cooldown()) {
    SetDuration(config.mutable_device_cooldown(), absl::Hours(1));
  } else if (FromProto(config.device_cooldown()) < absl::ZeroDuration()) {
    return Invalid("device_cooldown", ">= 0s",
                   absl::FormatDuration(FromProto(config.device_cooldown())));
  }
  // Inference publishing.
  auto* inference = config.mutable_inference();
  if (inference->max_download_starts_per_second() == 0) {
    inference->set_max_download_starts_per_second(50);
  }
  if (!(inference->max_download_starts_per_second() > 0 &&
        inference->max_download_starts_per_second() <= 1e6)) {
    return Invalid("inference.max_download_starts_per_second", "in (0, 1e6]",
                   absl::StrCat(inference->max_download_starts_per_second()));
  }
  // Evaluation.
  if (config.evaluation().max_loss() < 0 || !std::isfinite(config.evaluation().max_loss())) {
    return Invalid("evaluation.max_loss", ">= 0", absl::StrCat(config.evaluation().max_loss()));
  }
  // Eligibility.
  const int32_t battery = config.eligibility().min_battery_percent();
  if (battery < 0 || battery > 100) {
    return Invalid("eligibility.min_battery_percent", "in [0, 100]", absl::StrCat(battery));
  }
  // Differential privacy: after the codec and secure aggregation, which it depends on.
  if (absl::Status s = ValidateDpConfig(&config); !s.ok()) return s;
  // Secure aggregation parameters must exist for every cohort size a round may start with.
  if (secagg->enabled()) {
    if (absl::StatusOr<std::shared_ptr<const secagg::ParameterTable>> table =
            SecAggParameterTable(config);
        !table.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("config.secagg admits no secure aggregation parameters for some cohort "
                       "size between min_participants and the selection target (lower "
                       "correctness_bits or expected_dropout_rate, or raise min_participants): ",
                       table.status().message()));
    }
  }
  return config;
}

}  // namespace cohort::server
