#include "server/core/task_config.h"

#include <string>

#include <catch2/catch.hpp>

namespace cohort::server {
namespace {

using cohort::v1::TaskConfig;

TaskConfig Minimal() {
  TaskConfig config;
  config.set_population("keyboard");
  auto* tensor = config.mutable_layout()->add_tensors();
  tensor->set_name("dense/kernel");
  tensor->add_shape(4);
  tensor->add_shape(3);
  config.set_target_cohort_size(10);
  return config;
}

std::string ErrorOf(const TaskConfig& config) {
  auto result = ValidateTaskConfig(config);
  REQUIRE_FALSE(result.ok());
  CHECK(result.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(result.status().message());
}

TEST_CASE("ValidateTaskConfig_FillsDefaults") {
  auto config = ValidateTaskConfig(Minimal());
  REQUIRE(config.ok());
  CHECK(config->over_selection_factor() == Approx(1.3));
  CHECK(config->min_participants() == 8);
  CHECK(config->deadlines().forming().seconds() == 60);
  CHECK(config->deadlines().masked_input().seconds() == 300);
  CHECK(config->codec().encoding() == cohort::v1::UPDATE_ENCODING_QUANTIZED);
  CHECK(config->codec().bits() == 8);
  CHECK(config->optimizer().kind() == cohort::v1::ServerOptimizerConfig::KIND_FEDAVG);
  CHECK(config->optimizer().learning_rate() == 1.0);
  CHECK(config->device_cooldown().seconds() == 3600);
  CHECK(config->initial_model().has_glorot_uniform_seed());
  CHECK(SelectionTarget(*config) == 13);
  CHECK(ParameterCount(config->layout()) == 12);
}

TEST_CASE("ValidateTaskConfig_NamesTheBadField") {
  TaskConfig config = Minimal();
  config.set_target_cohort_size(0);
  CHECK(ErrorOf(config) == "config.target_cohort_size must be >= 2 and <= 100000, got 0");

  config = Minimal();
  config.set_over_selection_factor(0.5);
  CHECK(ErrorOf(config).find("config.over_selection_factor") == 0);

  config = Minimal();
  config.set_min_participants(11);
  CHECK(ErrorOf(config).find("config.min_participants") == 0);

  config = Minimal();
  config.mutable_layout()->mutable_tensors(0)->set_shape(1, 0);
  CHECK(ErrorOf(config).find("config.layout.tensors[0].shape[1]") == 0);

  config = Minimal();
  config.mutable_initial_model()->set_parameters("abc");
  CHECK(ErrorOf(config).find("config.initial_model.parameters must be 48 bytes") == 0);

  config = Minimal();
  config.mutable_deadlines()->mutable_share_keys()->set_seconds(-1);
  CHECK(ErrorOf(config).find("config.deadlines.share_keys") == 0);

  config = Minimal();
  config.mutable_codec()->set_bits(40);
  CHECK(ErrorOf(config).find("config.codec.bits") == 0);

  config = Minimal();
  config.set_population("");
  CHECK(ErrorOf(config).find("config.population") == 0);

  config = Minimal();
  config.mutable_eligibility()->set_min_battery_percent(101);
  CHECK(ErrorOf(config).find("config.eligibility.min_battery_percent") == 0);
}

TEST_CASE("ValidateTaskConfig_AdaptiveOptimizersGetThePapersDefaults") {
  TaskConfig config = Minimal();
  config.mutable_optimizer()->set_kind(cohort::v1::ServerOptimizerConfig::KIND_FEDYOGI);
  auto valid = ValidateTaskConfig(config);
  REQUIRE(valid.ok());
  CHECK(valid->optimizer().learning_rate() == 0.01);
  CHECK(valid->optimizer().beta1() == 0.9);
  CHECK(valid->optimizer().beta2() == 0.99);
  CHECK(valid->optimizer().tau() == 1e-3);
  CHECK(valid->optimizer().momentum() == 0);
}

TEST_CASE("ValidateTaskConfig_OptimizerErrorsNameTheField") {
  TaskConfig config = Minimal();
  config.mutable_optimizer()->set_kind(cohort::v1::ServerOptimizerConfig::KIND_FEDADAM);
  config.mutable_optimizer()->set_beta2(1.5);
  CHECK(ErrorOf(config) == "config.optimizer.beta2 must be in [0, 1), got 1.5");

  config = Minimal();
  config.mutable_optimizer()->set_kind(cohort::v1::ServerOptimizerConfig::KIND_FEDADAGRAD);
  config.mutable_optimizer()->set_tau(-1);
  CHECK(ErrorOf(config).find("config.optimizer.tau") == 0);

  config = Minimal();
  config.mutable_optimizer()->set_kind(cohort::v1::ServerOptimizerConfig::KIND_FEDAVG);
  config.mutable_optimizer()->set_beta1(0.9);
  CHECK(ErrorOf(config).find("config.optimizer.beta1 must be unset for KIND_FEDAVG") == 0);

  config = Minimal();
  config.mutable_optimizer()->set_learning_rate(-0.1);
  CHECK(ErrorOf(config).find("config.optimizer.learning_rate") == 0);

  // A kind from a newer build, as it arrives on the wire.
  config = Minimal();
  REQUIRE(config.mutable_optimizer()->ParseFromString(std::string("\x08\x07", 2)));
  CHECK(ErrorOf(config).find("config.optimizer.kind 7 is not known to this build") == 0);
}

TEST_CASE("ValidateTaskConfig_SecureAggregationNeedsQuantizedAndThreeDevices") {
  TaskConfig config = Minimal();
  config.mutable_secagg()->set_enabled(true);
  config.mutable_codec()->set_encoding(cohort::v1::UPDATE_ENCODING_FLOAT32);
  CHECK(ErrorOf(config).find("config.codec.encoding") == 0);

  config = Minimal();
  config.mutable_secagg()->set_enabled(true);
  config.set_target_cohort_size(2);
  CHECK(ErrorOf(config).find("config.target_cohort_size must be >= 3 with secure aggregation") ==
        0);

  // Sized for 40% dropouts and 30% corruption against a lying server, 8 devices cannot do it.
  config = Minimal();
  config.mutable_secagg()->set_enabled(true);
  config.mutable_secagg()->set_threat_model(cohort::v1::THREAT_MODEL_SEMI_MALICIOUS);
  config.mutable_secagg()->set_expected_dropout_rate(0.4);
  config.mutable_secagg()->set_corrupted_fraction(0.3);
  const std::string error = ErrorOf(config);
  CHECK(error.find("config.secagg admits no secure aggregation parameters") == 0);
  CHECK(error.find("n = 8") != std::string::npos);

  config = Minimal();
  config.set_target_cohort_size(200);
  config.mutable_secagg()->set_enabled(true);
  auto ok = ValidateTaskConfig(config);
  REQUIRE(ok.ok());
  CHECK(ok->secagg().expected_dropout_rate() == Approx(0.1));
  CHECK(ok->secagg().security_bits() == 40);
}

TEST_CASE("CheckThreatModelServed_RefusesSemiMaliciousWithoutAKeyVerifierAndSaysWhy") {
  cohort::v1::SecAggConfig secagg;
  secagg.set_enabled(true);
  secagg.set_threat_model(cohort::v1::THREAT_MODEL_SEMI_MALICIOUS);
  const absl::Status refused = CheckThreatModelServed(secagg, /*key_verifier_configured=*/false);
  CHECK(refused.code() == absl::StatusCode::kInvalidArgument);
  const std::string error(refused.message());
  CHECK(error.find("config.secagg.threat_model THREAT_MODEL_SEMI_MALICIOUS") == 0);
  CHECK(error.find("--device_ca_file") != std::string::npos);
  CHECK(error.find("lies about which devices dropped") != std::string::npos);
  CHECK(error.find("THREAT_MODEL_HONEST_BUT_CURIOUS") != std::string::npos);
  // With the malicious-server variant available it is served.
  CHECK(CheckThreatModelServed(secagg, true).ok());
  // Without secure aggregation the threat model is inert.
  secagg.set_enabled(false);
  CHECK(CheckThreatModelServed(secagg, false).ok());
}

TEST_CASE("ValidateTaskConfig_SemiMaliciousGetsAConsistencyDeadlineAndTheTablesParameters") {
  TaskConfig config = Minimal();
  config.set_target_cohort_size(200);
  config.mutable_secagg()->set_enabled(true);
  config.mutable_secagg()->set_threat_model(cohort::v1::THREAT_MODEL_SEMI_MALICIOUS);
  auto ok = ValidateTaskConfig(config);
  REQUIRE(ok.ok());
  CHECK(ok->deadlines().consistency_check().seconds() == 30);
  auto table = SecAggParameterTable(*ok);
  REQUIRE(table.ok());
  auto p = (*table)->For(200);
  REQUIRE(p.ok());
  CHECK(2 * p->threshold > p->neighbour_degree);
  CHECK(p->threshold >= 2);
}

TEST_CASE("ValidateTaskConfig_ExplicitZeroCooldownTurnsItOff") {
  TaskConfig config = Minimal();
  config.mutable_device_cooldown()->set_seconds(0);
  auto ok = ValidateTaskConfig(config);
  REQUIRE(ok.ok());
  CHECK(ok->device_cooldown().seconds() == 0);
}

}  // namespace
}  // namespace cohort::server
