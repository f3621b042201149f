#include "codec/server_optimizer.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "codec/model.h"

namespace cohort::codec {
namespace {

using cohort::v1::ServerOptimizerConfig;

cohort::v1::Model ModelOf(std::vector<float> values, int64_t version = 3) {
  cohort::v1::ModelLayout layout;
  auto* t = layout.add_tensors();
  t->set_name("w");
  t->add_shape(static_cast<int64_t>(values.size()));
  auto model = MakeModel(layout, values, version);
  REQUIRE(model.ok());
  return *model;
}

std::vector<float> Values(const cohort::v1::Model& model) {
  auto values = ParametersOf(model);
  REQUIRE(values.ok());
  return *values;
}

bool Contains(const absl::Status& s, const std::string& text) {
  return std::string(s.message()).find(text) != std::string::npos;
}

std::unique_ptr<ServerOptimizer> Make(ServerOptimizerConfig config, int64_t n) {
  auto optimizer = CreateServerOptimizer(config, n);
  INFO(optimizer.status().ToString());
  REQUIRE(optimizer.ok());
  return *std::move(optimizer);
}

ServerOptimizerConfig Config(ServerOptimizerConfig::Kind kind, double lr) {
  ServerOptimizerConfig config;
  config.set_kind(kind);
  config.set_learning_rate(lr);
  return config;
}

// Runs `deltas` (one vector per round) from x = `start`; returns x after each round.
std::vector<std::vector<float>> Run(const ServerOptimizer& optimizer, std::vector<float> start,
                                    const std::vector<std::vector<float>>& deltas) {
  cohort::v1::Model model = ModelOf(std::move(start), 0);
  OptimizerState state = optimizer.InitialState();
  std::vector<std::vector<float>> out;
  for (const auto& delta : deltas) {
    auto step = optimizer.Apply(model, delta, state);
    INFO(step.status().ToString());
    REQUIRE(step.ok());
    CHECK(step->model.version() == model.version() + 1);
    CHECK(step->state.steps == state.steps + 1);
    CHECK(VerifyChecksum(step->model).ok());
    model = step->model;
    state = step->state;
    out.push_back(Values(model));
  }
  return out;
}

TEST_CASE("FedAvg_AddsTheLearningRateTimesTheDeltaAsTheNextVersion") {
  auto optimizer = Make(Config(ServerOptimizerConfig::KIND_FEDAVG, 0.5), 2);
  auto step = optimizer->Apply(ModelOf({1.0f, -2.0f}), std::vector<float>{2.0f, 4.0f},
                               optimizer->InitialState());
  REQUIRE(step.ok());
  CHECK(step->model.version() == 4);
  CHECK(Values(step->model) == std::vector<float>{2.0f, 0.0f});
  CHECK(step->model.layout().tensors(0).name() == "w");
  CHECK(VerifyChecksum(step->model).ok());
  CHECK(step->state.first.empty());
  CHECK(step->state.steps == 1);
}

TEST_CASE("FedAvgM_MatchesHandComputedStepsOverThreeRounds") {
  // v1 = 1, v2 = 0.9 + 1 = 1.9, v3 = 1.71 + 1 = 2.71 (delta 1 each round, momentum 0.9);
  // x = 0.5 * (1 + 1.9 + 2.71) = 2.805 after three rounds at learning rate 0.5.
  // A second coordinate sees delta -2, 0, 0: v = -2, -1.8, -1.62; x = 0.5 * -5.42 = -2.71.
  ServerOptimizerConfig config = Config(ServerOptimizerConfig::KIND_FEDAVGM, 0.5);
  config.set_momentum(0.9);
  auto x = Run(*Make(config, 2), {0, 0}, {{1, -2}, {1, 0}, {1, 0}});
  const std::vector<std::vector<double>> expected = {{0.5, -1.0}, {1.45, -1.9}, {2.805, -2.71}};
  for (size_t round = 0; round < expected.size(); ++round) {
    CHECK(x[round][0] == Approx(expected[round][0]).epsilon(1e-6));
    CHECK(x[round][1] == Approx(expected[round][1]).epsilon(1e-6));
  }
}

TEST_CASE("FedAvgM_WithZeroMomentumWouldBeFedAvgButZeroMeansTheDefault") {
  // 0 is "unset" (proto3): FedAvgM takes momentum 0.9, and so differs from FedAvg in round 2.
  auto m = Run(*Make(Config(ServerOptimizerConfig::KIND_FEDAVGM, 1.0), 1), {0}, {{1}, {1}});
  auto a = Run(*Make(Config(ServerOptimizerConfig::KIND_FEDAVG, 1.0), 1), {0}, {{1}, {1}});
  CHECK(m[1][0] == Approx(2.9));
  CHECK(a[1][0] == Approx(2.0));
}

// The adaptive optimizers on two coordinates over two rounds, every value worked out here from
// Reddi et al.'s Algorithm 2 with m_0 = 0 and v_0 = tau^2: eta = 0.1, beta1 = 0.9,
// beta2 = 0.99, tau = 1e-3; deltas (0.5, -0.2) then (0.01, -0.2).
constexpr double kEta = 0.1, kBeta1 = 0.9, kBeta2 = 0.99, kTau = 1e-3;
const std::vector<std::vector<float>> kDeltas = {{0.5f, -0.2f}, {0.01f, -0.2f}};

ServerOptimizerConfig AdaptiveConfig(ServerOptimizerConfig::Kind kind) {
  ServerOptimizerConfig config = Config(kind, kEta);
  config.set_beta1(kBeta1);
  if (kind != ServerOptimizerConfig::KIND_FEDADAGRAD) config.set_beta2(kBeta2);
  config.set_tau(kTau);
  return config;
}

// x after round 1 and 2 of one coordinate, given the second moments v1 and v2.
std::pair<double, double> Expected(double d1, double d2, double v1, double v2) {
  const double m1 = (1 - kBeta1) * d1;
  const double m2 = kBeta1 * m1 + (1 - kBeta1) * d2;
  const double x1 = kEta * m1 / (std::sqrt(v1) + kTau);
  const double x2 = x1 + kEta * m2 / (std::sqrt(v2) + kTau);
  return {x1, x2};
}

void CheckTwoRounds(ServerOptimizerConfig::Kind kind,
                    const std::vector<std::pair<double, double>>& expected) {
  auto x = Run(*Make(AdaptiveConfig(kind), 2), {0, 0}, kDeltas);
  for (size_t c = 0; c < 2; ++c) {
    INFO("coordinate " << c);
    CHECK(x[0][c] == Approx(expected[c].first).epsilon(1e-5));
    CHECK(x[1][c] == Approx(expected[c].second).epsilon(1e-5));
  }
}

TEST_CASE("FedAdagrad_MatchesHandComputedSteps") {
  // v accumulates squares: v1 = tau^2 + d1^2, v2 = v1 + d2^2.
  const double t2 = kTau * kTau;
  const double d0 = 0.5, e0 = 0.01, d1 = -0.2, e1 = -0.2;
  const double a1 = t2 + d0 * d0, a2 = a1 + e0 * e0;
  const double b1 = t2 + d1 * d1, b2 = b1 + e1 * e1;
  // Coordinate 0: x1 = 0.1 * 0.05 / (0.5000010 + 0.001) = 0.0099800; x2 = 0.0099800
  // + 0.1 * 0.046 / (0.5001010 + 0.001) = 0.0191598.
  CheckTwoRounds(ServerOptimizerConfig::KIND_FEDADAGRAD,
                 {Expected(d0, e0, a1, a2), Expected(d1, e1, b1, b2)});
  auto x = Run(*Make(AdaptiveConfig(ServerOptimizerConfig::KIND_FEDADAGRAD), 2), {0, 0}, kDeltas);
  CHECK(x[0][0] == Approx(0.0099800).epsilon(1e-4));
  CHECK(x[1][0] == Approx(0.0191598).epsilon(1e-4));
}

TEST_CASE("FedAdam_MatchesHandComputedSteps") {
  // v is an exponential average of squares: v1 = beta2 tau^2 + (1 - beta2) d1^2, and so on.
  const double t2 = kTau * kTau;
  auto v = [](double prev, double d) { return kBeta2 * prev + (1 - kBeta2) * d * d; };
  const double a1 = v(t2, 0.5), a2 = v(a1, 0.01);
  const double b1 = v(t2, -0.2), b2 = v(b1, -0.2);
  CheckTwoRounds(ServerOptimizerConfig::KIND_FEDADAM,
                 {Expected(0.5, 0.01, a1, a2), Expected(-0.2, -0.2, b1, b2)});
  // Coordinate 0: v1 = 0.00250099, x1 = 0.005 / 0.0510099 = 0.0980202; v2 = 0.00247698,
  // x2 = x1 + 0.0046 / 0.0507695 = 0.188626.
  auto x = Run(*Make(AdaptiveConfig(ServerOptimizerConfig::KIND_FEDADAM), 2), {0, 0}, kDeltas);
  CHECK(x[0][0] == Approx(0.0980202).epsilon(1e-4));
  CHECK(x[1][0] == Approx(0.188626).epsilon(1e-4));
}

TEST_CASE("FedYogi_MatchesHandComputedStepsOnBothSidesOfTheSign") {
  // v moves by (1 - beta2) d^2 towards d^2: up while v < d^2, down once v > d^2.
  const double t2 = kTau * kTau;
  auto v = [](double prev, double d) {
    const double d2 = d * d;
    const double sign = prev > d2 ? 1.0 : prev < d2 ? -1.0 : 0.0;
    return prev - (1 - kBeta2) * d2 * sign;
  };
  // Coordinate 0: v1 = tau^2 + 0.0025 (v < d^2: up); v2 = v1 - 0.000001 (v > 0.0001: down).
  const double a1 = v(t2, 0.5), a2 = v(a1, 0.01);
  REQUIRE(a1 == Approx(t2 + 0.01 * 0.25));
  REQUIRE(a2 == Approx(a1 - 0.01 * 0.0001));
  const double b1 = v(t2, -0.2), b2 = v(b1, -0.2);
  CheckTwoRounds(ServerOptimizerConfig::KIND_FEDYOGI,
                 {Expected(0.5, 0.01, a1, a2), Expected(-0.2, -0.2, b1, b2)});
}

TEST_CASE("Adaptive_OptimizersDifferWhereTheirSecondMomentsDo") {
  // The same deltas give three different models: each v rule is in use.
  std::vector<std::vector<float>> last;
  for (auto kind : {ServerOptimizerConfig::KIND_FEDADAGRAD, ServerOptimizerConfig::KIND_FEDADAM,
                    ServerOptimizerConfig::KIND_FEDYOGI}) {
    last.push_back(Run(*Make(AdaptiveConfig(kind), 2), {0, 0}, kDeltas).back());
  }
  CHECK(last[0] != last[1]);
  CHECK(last[1] != last[2]);
  CHECK(last[0] != last[2]);
}

TEST_CASE("Apply_RefusesADeltaOfTheWrongLengthOrNotFinite") {
  auto optimizer = Make(ServerOptimizerConfig(), 2);
  auto wrong =
      optimizer->Apply(ModelOf({1.0f, 2.0f}), std::vector<float>{1.0f}, optimizer->InitialState());
  REQUIRE(wrong.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Contains(wrong.status(), "the average delta has 1 values"));
  auto nan = optimizer->Apply(ModelOf({1.0f, 2.0f}), std::vector<float>{1.0f, std::nanf("")},
                              optimizer->InitialState());
  REQUIRE(nan.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Contains(nan.status(), "average_delta[1]"));
}

TEST_CASE("Apply_RefusesAModelWhoseBytesDoNotMatchItsLayout") {
  cohort::v1::Model model = ModelOf({1.0f, 2.0f});
  model.mutable_parameters()->append("xy");
  auto optimizer = Make(ServerOptimizerConfig(), 2);
  CHECK(optimizer->Apply(model, std::vector<float>{0, 0}, optimizer->InitialState())
            .status()
            .code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("Apply_RefusesAnOverflowingStepAndAStateOfAnotherSize") {
  auto optimizer = Make(Config(ServerOptimizerConfig::KIND_FEDAVGM, 1.0), 1);
  auto overflow = optimizer->Apply(ModelOf({std::numeric_limits<float>::max()}),
                                   std::vector<float>{std::numeric_limits<float>::max()},
                                   optimizer->InitialState());
  REQUIRE(overflow.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Contains(overflow.status(), "overflow"));
  OptimizerState wrong;
  wrong.first = {0.0, 0.0};
  auto misfit = optimizer->Apply(ModelOf({0.0f}), std::vector<float>{1}, wrong);
  REQUIRE(misfit.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Contains(misfit.status(), "optimizer state holds 2"));
  CHECK(optimizer->Apply(ModelOf({0.0f, 0.0f}), std::vector<float>{1, 1}, optimizer->InitialState())
            .status()
            .code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("StateProto_RoundTripsAndRefusesAnotherKindOrSize") {
  auto adam = Make(AdaptiveConfig(ServerOptimizerConfig::KIND_FEDADAM), 2);
  OptimizerState state;
  state.steps = 7;
  state.first = {0.25, -1.5};
  state.second = {1e-6, 3.75};
  const cohort::v1::ServerOptimizerState proto = StateToProto(adam->kind(), state);
  CHECK(proto.kind() == ServerOptimizerConfig::KIND_FEDADAM);
  auto back = StateFromProto(*adam, proto);
  REQUIRE(back.ok());
  CHECK(back->steps == 7);
  CHECK(back->first == state.first);
  CHECK(back->second == state.second);
  auto yogi = Make(AdaptiveConfig(ServerOptimizerConfig::KIND_FEDYOGI), 2);
  CHECK(Contains(StateFromProto(*yogi, proto).status(), "of kind KIND_FEDADAM"));
  auto small = Make(AdaptiveConfig(ServerOptimizerConfig::KIND_FEDADAM), 1);
  CHECK(StateFromProto(*small, proto).status().code() == absl::StatusCode::kInvalidArgument);
}

// FedAvg at rate 1 falling linearly to 0 over two steps: rates 1, 0.5, then 0 for good.
ServerOptimizerConfig LinearlyDecayingFedAvg() {
  ServerOptimizerConfig config = Config(ServerOptimizerConfig::KIND_FEDAVG, 1.0);
  config.mutable_decay()->set_kind(cohort::v1::LearningRateDecay::KIND_LINEAR);
  config.mutable_decay()->set_steps(2);
  return config;
}

TEST_CASE("Decay_EachStepUsesTheRateOfTheStepsBeforeIt") {
  auto x = Run(*Make(LinearlyDecayingFedAvg(), 1), {0}, {{1}, {1}, {1}, {1}});
  CHECK(x[0][0] == Approx(1.0));
  CHECK(x[1][0] == Approx(1.5));
  CHECK(x[2][0] == Approx(1.5));
  CHECK(x[3][0] == Approx(1.5));
}

TEST_CASE("Decay_ScalesTheAdaptiveStepAndFedAvgMsVelocityStep") {
  // Same deltas, same state: a rate halved at step 1 halves the move of step 2.
  for (ServerOptimizerConfig::Kind kind :
       {ServerOptimizerConfig::KIND_FEDAVGM, ServerOptimizerConfig::KIND_FEDADAM}) {
    ServerOptimizerConfig constant = Config(kind, 0.1);
    ServerOptimizerConfig decaying = constant;
    decaying.mutable_decay()->set_kind(cohort::v1::LearningRateDecay::KIND_LINEAR);
    decaying.mutable_decay()->set_steps(2);
    auto c = Run(*Make(constant, 1), {0}, {{0.5f}, {0.25f}});
    auto d = Run(*Make(decaying, 1), {0}, {{0.5f}, {0.25f}});
    INFO(ServerOptimizerConfig::Kind_Name(kind));
    CHECK(d[0][0] == Approx(c[0][0]));
    CHECK(d[1][0] - d[0][0] == Approx((c[1][0] - c[0][0]) / 2).epsilon(1e-5));
  }
}

TEST_CASE("Decay_AfterTheStateIsStoredAndRestored_GoesOnFromTheStoredStep") {
  // A restarted server rebuilds the optimizer and reads its state back: the schedule resumes at
  // step 1 (rate 0.5), not at step 0 (rate 1).
  auto before = Make(LinearlyDecayingFedAvg(), 1);
  auto first = before->Apply(ModelOf({0}, 0), std::vector<float>{1}, before->InitialState());
  REQUIRE(first.ok());
  const cohort::v1::ServerOptimizerState stored = StateToProto(before->kind(), first->state);
  auto after = Make(LinearlyDecayingFedAvg(), 1);
  auto restored = StateFromProto(*after, stored);
  REQUIRE(restored.ok());
  auto second = after->Apply(first->model, std::vector<float>{1}, *restored);
  REQUIRE(second.ok());
  CHECK(Values(second->model)[0] == Approx(1.5));
}

TEST_CASE("Validate_FillsEachKindsDefaults") {
  auto plain = ValidateServerOptimizerConfig(ServerOptimizerConfig());
  REQUIRE(plain.ok());
  CHECK(plain->kind() == ServerOptimizerConfig::KIND_FEDAVG);
  CHECK(plain->learning_rate() == 1.0);
  auto adam = ValidateServerOptimizerConfig(Config(ServerOptimizerConfig::KIND_FEDADAM, 0));
  REQUIRE(adam.ok());
  CHECK(adam->learning_rate() == 0.01);
  CHECK(adam->beta1() == 0.9);
  CHECK(adam->beta2() == 0.99);
  CHECK(adam->tau() == 1e-3);
  auto adagrad = ValidateServerOptimizerConfig(Config(ServerOptimizerConfig::KIND_FEDADAGRAD, 0));
  REQUIRE(adagrad.ok());
  CHECK(adagrad->beta2() == 0);
}

TEST_CASE("Validate_RefusesBadHyperParametersNamingTheField") {
  struct Case {
    ServerOptimizerConfig config;
    std::string field;
  };
  std::vector<Case> cases;
  auto with = [](ServerOptimizerConfig::Kind kind, auto set) {
    ServerOptimizerConfig c = Config(kind, 0);
    set(c);
    return c;
  };
  using C = ServerOptimizerConfig;
  cases.push_back({with(C::KIND_FEDAVG, [](C& c) { c.set_learning_rate(-1); }), "learning_rate"});
  cases.push_back({with(C::KIND_FEDADAM,
                        [](C& c) { c.set_learning_rate(std::numeric_limits<double>::infinity()); }),
                   "learning_rate"});
  cases.push_back({with(C::KIND_FEDAVGM, [](C& c) { c.set_momentum(1.0); }), "momentum"});
  cases.push_back({with(C::KIND_FEDADAM, [](C& c) { c.set_momentum(0.5); }), "momentum"});
  cases.push_back({with(C::KIND_FEDADAM, [](C& c) { c.set_beta1(1.0); }), "beta1"});
  cases.push_back({with(C::KIND_FEDYOGI, [](C& c) { c.set_beta2(-0.1); }), "beta2"});
  cases.push_back({with(C::KIND_FEDADAGRAD, [](C& c) { c.set_beta2(0.99); }), "beta2"});
  cases.push_back({with(C::KIND_FEDADAM, [](C& c) { c.set_tau(-1e-3); }), "tau"});
  cases.push_back({with(C::KIND_FEDAVG, [](C& c) { c.set_tau(1e-3); }), "tau"});
  cases.push_back({with(C::KIND_FEDADAM, [](C& c) {
                     c.mutable_decay()->set_kind(cohort::v1::LearningRateDecay::KIND_COSINE);
                   }),
                   "decay.steps"});
  for (const Case& c : cases) {
    auto s = ValidateServerOptimizerConfig(c.config).status();
    INFO(c.config.ShortDebugString() << " -> " << s.ToString());
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(Contains(s, "optimizer." + c.field));
  }
  CHECK(CreateServerOptimizer(ServerOptimizerConfig(), 0).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("Validate_RefusesAKindThisBuildDoesNotKnowNamingIt") {
  // A kind from a newer proto (say 9), as it arrives on the wire: field 1 = 9.
  ServerOptimizerConfig config;
  REQUIRE(config.ParseFromString(std::string("\x08\x09", 2)));
  auto s = ValidateServerOptimizerConfig(config).status();
  INFO(s.ToString());
  REQUIRE(s.code() == absl::StatusCode::kInvalidArgument);
  CHECK(Contains(s, "optimizer.kind 9 is not known"));
}

}  // namespace
}  // namespace cohort::codec
