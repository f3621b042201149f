#include "server/core/dp_task.h"

#include <cmath>
#include <string>

#include <catch2/catch.hpp>

#include "codec/dp_codec.h"
#include "privacy/accountant.h"
#include "secagg/testing/fake_random_source.h"
#include "server/core/task_config.h"

namespace cohort::server {
namespace {

using cohort::v1::TaskConfig;

// A DP task: 100 target devices (130 selected, 80 the fewest a round commits with), a model of
// 1000 parameters, distributed discrete Gaussian at 20 bits.
TaskConfig DpTask(
    cohort::v1::DpMechanism mechanism = cohort::v1::DP_MECHANISM_DISTRIBUTED_DISCRETE_GAUSSIAN) {
  TaskConfig config;
  config.set_population("dp");
  auto* tensor = config.mutable_layout()->add_tensors();
  tensor->set_name("dense/kernel");
  tensor->add_shape(1000);
  config.set_target_cohort_size(100);
  const bool distributed = mechanism != cohort::v1::DP_MECHANISM_CENTRAL_GAUSSIAN;
  config.mutable_secagg()->set_enabled(distributed);
  if (!distributed) config.mutable_codec()->set_encoding(cohort::v1::UPDATE_ENCODING_FLOAT32);
  config.mutable_codec()->set_l2_clip_norm(0.5);
  auto* dp = config.mutable_dp();
  dp->set_mechanism(mechanism);
  dp->set_delta(1e-5);
  dp->set_noise_multiplier(1.5);
  dp->set_epsilon_budget(10);
  return config;
}

std::string ErrorOf(const TaskConfig& config) {
  auto result = ValidateTaskConfig(config);
  REQUIRE_FALSE(result.ok());
  CHECK(result.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(result.status().message());
}

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST_CASE("ValidateDpConfig_FillsDefaultsAndLeavesNonDpTasksAlone") {
  auto config = ValidateTaskConfig(DpTask());
  REQUIRE(config.ok());
  CHECK(config->dp().bits() == 20);
  CHECK(config->dp().wrap_bits() == 20);
  CHECK(config->dp().rounding_beta() == Approx(std::exp(-0.5)));
  CHECK(config->dp().weighting() == cohort::v1::DP_WEIGHTING_UNIFORM);
  TaskConfig plain = DpTask();
  plain.clear_dp();
  auto none = ValidateTaskConfig(plain);
  REQUIRE(none.ok());
  CHECK(none->dp().mechanism() == cohort::v1::DP_MECHANISM_NONE);
  CHECK_FALSE(DpEnabled(*none));
}

TEST_CASE("ValidateDpConfig_RefusesMechanismsTheRestOfTheConfigCannotServe") {
  TaskConfig config = DpTask();
  config.mutable_secagg()->set_enabled(false);
  CHECK(Contains(ErrorOf(config), "needs secure aggregation"));
  config = DpTask(cohort::v1::DP_MECHANISM_CENTRAL_GAUSSIAN);
  config.mutable_codec()->set_encoding(cohort::v1::UPDATE_ENCODING_QUANTIZED);
  CHECK(Contains(ErrorOf(config), "UPDATE_ENCODING_FLOAT32"));
  config = DpTask(cohort::v1::DP_MECHANISM_CENTRAL_GAUSSIAN);
  config.mutable_secagg()->set_enabled(true);
  config.mutable_codec()->set_encoding(cohort::v1::UPDATE_ENCODING_QUANTIZED);
  CHECK(Contains(ErrorOf(config), "plain rounds"));
  config = DpTask();
  config.mutable_dp()->set_delta(0);
  CHECK(Contains(ErrorOf(config), "config.dp.delta"));
  config = DpTask();
  config.mutable_dp()->set_target_epsilon(3);
  config.mutable_dp()->set_target_rounds(10);
  CHECK(Contains(ErrorOf(config), "not both"));
  config = DpTask();
  config.mutable_dp()->set_epsilon_budget(0);
  CHECK(Contains(ErrorOf(config), "config.dp.epsilon_budget"));
}

TEST_CASE("ValidateDpConfig_RefusesABudgetTheFirstRoundAlreadyBreaksNamingTheNumbers") {
  TaskConfig config = DpTask();
  config.mutable_dp()->set_noise_multiplier(0.3);
  config.mutable_dp()->set_epsilon_budget(1);
  const std::string error = ErrorOf(config);
  CHECK(Contains(error, "one round at noise multiplier 0.3"));
  CHECK(Contains(error, "80 to 130 contributors"));
  CHECK(Contains(error, "budget of 1"));
}

TEST_CASE("ValidateDpConfig_RefusesATargetTheRingCannotReach") {
  TaskConfig config = DpTask();
  config.mutable_dp()->set_noise_multiplier(0);
  config.mutable_dp()->set_target_epsilon(0.05);
  config.mutable_dp()->set_target_rounds(1000);
  config.mutable_dp()->set_bits(10);
  const std::string error = ErrorOf(config);
  CHECK(Contains(error, "out of reach"));
  CHECK(Contains(error, "10-bit"));
}

TEST_CASE("ValidateDpConfig_CalibratesATargetSoThatItsRoundsFitAndOneMoreDoesNot") {
  for (auto mechanism :
       {cohort::v1::DP_MECHANISM_DISTRIBUTED_DISCRETE_GAUSSIAN,
        cohort::v1::DP_MECHANISM_DISTRIBUTED_SKELLAM, cohort::v1::DP_MECHANISM_CENTRAL_GAUSSIAN}) {
    TaskConfig target = DpTask(mechanism);
    target.mutable_dp()->set_noise_multiplier(0);
    target.mutable_dp()->set_epsilon_budget(0);
    target.mutable_dp()->set_target_epsilon(3);
    target.mutable_dp()->set_target_rounds(20);
    auto config = ValidateTaskConfig(target);
    INFO(cohort::v1::DpMechanism_Name(mechanism));
    REQUIRE(config.ok());
    CHECK(config->dp().noise_multiplier() > 1);
    CHECK(config->dp().epsilon_budget() == 3);
    // The budget check lets exactly the 20 planned worst-case rounds run.
    cohort::v1::PrivacyBudget budget = InitialPrivacyBudget(*config);
    secagg::FakeRandomSource random(1);
    int rounds = 0;
    while (CheckNextRound(*config, 1000, &budget).ok()) {
      auto dp = ResolveRoundDp(*config, 1000, budget.clip_norm(), SelectionTarget(*config), random);
      REQUIRE(dp.ok());
      ChargeRound(*config, *dp, nullptr, &budget);
      REQUIRE(budget.epsilon_spent() <= 3);
      ++rounds;
      REQUIRE(rounds < 100);
    }
    CHECK(rounds == 20);
    CHECK(budget.exhausted());
    CHECK(Contains(budget.stop_reason(), "round 21 would bring epsilon"));
    CHECK(Contains(budget.stop_reason(), "budget of 3"));
  }
}

TEST_CASE("CheckNextRound_WorstCaseBoundsEveryRoundTheTaskCanRun") {
  // Whatever the number of admitted devices (80..130), a round's actual curve lies below the
  // worst case the budget check used, at every order; with adaptive clipping too, whose integer
  // count magnitude makes the actual sensitivity jump with the scale.
  for (bool adaptive : {false, true}) {
    TaskConfig input = DpTask();
    input.mutable_dp()->mutable_adaptive_clipping()->set_enabled(adaptive);
    auto config = ValidateTaskConfig(input);
    REQUIRE(config.ok());
    cohort::v1::PrivacyBudget budget = InitialPrivacyBudget(*config);
    REQUIRE(CheckNextRound(*config, 1000, &budget).ok());
    const double worst_epsilon = budget.next_round_epsilon();
    secagg::FakeRandomSource random(2);
    for (int admitted = 80; admitted <= 130; admitted += 5) {
      auto dp = ResolveRoundDp(*config, 1000, budget.clip_norm(), admitted, random);
      REQUIRE(dp.ok());
      cohort::v1::PrivacyBudget charged = InitialPrivacyBudget(*config);
      ChargeRound(*config, *dp, nullptr, &charged);
      INFO("adaptive " << adaptive << " admitted " << admitted);
      CHECK(charged.epsilon_spent() <= worst_epsilon);
    }
  }
}

TEST_CASE("ChargeRound_ComposesLikeTheAccountantAndMovesTheAdaptiveClip") {
  TaskConfig input = DpTask();
  input.mutable_dp()->mutable_adaptive_clipping()->set_enabled(true);
  auto config = ValidateTaskConfig(input);
  REQUIRE(config.ok());
  secagg::FakeRandomSource random(3);
  auto dp = ResolveRoundDp(*config, 1000, 0.5, 100, random);
  REQUIRE(dp.ok());
  CHECK(dp->count_magnitude() > 0);
  CHECK(dp->rotation_seed().size() == 32);
  cohort::v1::PrivacyBudget budget = InitialPrivacyBudget(*config);
  codec::AggregateResult mostly_unclipped;
  mostly_unclipped.contributors = 100;
  mostly_unclipped.has_unclipped_count = true;
  mostly_unclipped.unclipped_count = 90;  // 0.9 > 0.5: the clip norm is too large
  const auto first = ChargeRound(*config, *dp, &mostly_unclipped, &budget);
  CHECK(first.charged());
  CHECK(first.unclipped_fraction() == Approx(0.9));
  CHECK(budget.clip_norm() == Approx(0.5 * std::exp(-0.2 * 0.4)));
  codec::AggregateResult mostly_clipped = mostly_unclipped;
  mostly_clipped.unclipped_count = 10;
  ChargeRound(*config, *dp, &mostly_clipped, &budget);
  CHECK(budget.clip_norm() == Approx(0.5 * std::exp(-0.2 * 0.4) * std::exp(0.2 * 0.4)));
  // Two rounds of the same curve: the accountant's epsilon of twice the curve.
  const std::vector<double> orders = privacy::DefaultOrders();
  std::vector<double> curve = privacy::RoundRdpCurve(codec::ToRoundParams(*dp), orders);
  for (double& v : curve) v *= 2;
  CHECK(budget.rounds_charged() == 2);
  CHECK(budget.epsilon_spent() == Approx(privacy::EpsilonFromRdp(orders, curve, 1e-5).epsilon));
  CHECK(budget.epsilon_spent_standard() > budget.epsilon_spent());
}

}  // namespace
}  // namespace cohort::server
