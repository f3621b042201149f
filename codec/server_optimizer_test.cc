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

TEST_CASE("FedAvg_AddsTheLearningRateTimesTheDeltaAsTheNextVersion") {
  FedAvg optimizer(0.5);
  auto next = optimizer.Apply(ModelOf({1.0f, -2.0f}), std::vector<float>{2.0f, 4.0f});
  REQUIRE(next.ok());
  CHECK(next->version() == 4);
  CHECK(Values(*next) == std::vector<float>{2.0f, 0.0f});
  CHECK(next->layout().tensors(0).name() == "w");
  CHECK(VerifyChecksum(*next).ok());
}

TEST_CASE("FedAvgM_MatchesAKnownAnswerOverThreeRounds") {
  // v1 = 1, v2 = 0.9 + 1 = 1.9, v3 = 1.71 + 1 = 2.71 (delta 1 each round, momentum 0.9);
  // x = 0.5 * (1 + 1.9 + 2.71) = 2.805 after three rounds at learning rate 0.5.
  // A second coordinate sees delta -2, 0, 0: v = -2, -1.8, -1.62; x = 0.5 * -5.42 = -2.71.
  FedAvgM optimizer(2, /*learning_rate=*/0.5, /*momentum=*/0.9);
  cohort::v1::Model model = ModelOf({0.0f, 0.0f}, 0);
  const std::vector<std::vector<float>> deltas = {{1, -2}, {1, 0}, {1, 0}};
  const std::vector<std::vector<double>> expected = {{0.5, -1.0}, {1.45, -1.9}, {2.805, -2.71}};
  for (size_t round = 0; round < deltas.size(); ++round) {
    auto next = optimizer.Apply(model, deltas[round]);
    REQUIRE(next.ok());
    model = *next;
    CHECK(model.version() == static_cast<int64_t>(round + 1));
    const std::vector<float> x = Values(model);
    CHECK(x[0] == Approx(expected[round][0]).epsilon(1e-6));
    CHECK(x[1] == Approx(expected[round][1]).epsilon(1e-6));
  }
  CHECK(optimizer.velocity()[0] == Approx(2.71));
}

TEST_CASE("FedAvgM_WithZeroMomentumIsFedAvg") {
  FedAvgM momentum(2, 1.0, 0.0);
  FedAvg plain(1.0);
  cohort::v1::Model a = ModelOf({0.5f, 0.25f});
  cohort::v1::Model b = a;
  for (int round = 0; round < 3; ++round) {
    const std::vector<float> delta = {0.1f * round, -0.2f};
    a = *momentum.Apply(a, delta);
    b = *plain.Apply(b, delta);
  }
  CHECK(a.parameters() == b.parameters());
}

TEST_CASE("Apply_RefusesADeltaOfTheWrongLengthOrNotFinite") {
  FedAvg optimizer;
  auto wrong = optimizer.Apply(ModelOf({1.0f, 2.0f}), std::vector<float>{1.0f});
  REQUIRE(wrong.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Contains(wrong.status(), "the average delta has 1 values"));
  auto nan = optimizer.Apply(ModelOf({1.0f, 2.0f}), std::vector<float>{1.0f, std::nanf("")});
  REQUIRE(nan.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Contains(nan.status(), "average_delta[1]"));
}

TEST_CASE("Apply_RefusesAModelWhoseBytesDoNotMatchItsLayout") {
  cohort::v1::Model model = ModelOf({1.0f, 2.0f});
  model.mutable_parameters()->append("xy");
  CHECK(FedAvg().Apply(model, std::vector<float>{0, 0}).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("FedAvgM_RefusedStepLeavesTheVelocityUnchanged") {
  FedAvgM optimizer(1, 1.0, 0.5);
  REQUIRE(optimizer.Apply(ModelOf({0.0f}), std::vector<float>{2.0f}).ok());
  CHECK(optimizer.velocity()[0] == 2.0);
  // Overflows float32: refused, velocity kept.
  auto overflow = optimizer.Apply(ModelOf({std::numeric_limits<float>::max()}),
                                  std::vector<float>{std::numeric_limits<float>::max()});
  REQUIRE(overflow.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Contains(overflow.status(), "overflow"));
  CHECK(optimizer.velocity()[0] == 2.0);
  // A model of another size is refused too.
  CHECK(optimizer.Apply(ModelOf({0.0f, 0.0f}), std::vector<float>{1, 1}).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("CreateServerOptimizer_DefaultsToFedAvgAtLearningRateOne") {
  auto optimizer = CreateServerOptimizer(ServerOptimizerConfig(), 2);
  REQUIRE(optimizer.ok());
  auto next = (*optimizer)->Apply(ModelOf({1.0f, 1.0f}), std::vector<float>{0.5f, -0.5f});
  REQUIRE(next.ok());
  CHECK(Values(*next) == std::vector<float>{1.5f, 0.5f});
}

TEST_CASE("CreateServerOptimizer_FedAvgMDefaultsToMomentum09") {
  ServerOptimizerConfig config;
  config.set_kind(ServerOptimizerConfig::KIND_FEDAVGM);
  auto optimizer = CreateServerOptimizer(config, 1);
  REQUIRE(optimizer.ok());
  cohort::v1::Model model = ModelOf({0.0f});
  model = *(*optimizer)->Apply(model, std::vector<float>{1.0f});
  model = *(*optimizer)->Apply(model, std::vector<float>{1.0f});
  CHECK(Values(model)[0] == Approx(2.9f));
}

TEST_CASE("CreateServerOptimizer_RefusesABadLearningRateOrMomentum") {
  ServerOptimizerConfig config;
  config.set_learning_rate(-1);
  CHECK(CreateServerOptimizer(config, 1).status().code() == absl::StatusCode::kInvalidArgument);
  config.set_learning_rate(std::numeric_limits<double>::infinity());
  CHECK(CreateServerOptimizer(config, 1).status().code() == absl::StatusCode::kInvalidArgument);
  config.set_learning_rate(1);
  config.set_kind(ServerOptimizerConfig::KIND_FEDAVGM);
  config.set_momentum(1.0);
  auto s = CreateServerOptimizer(config, 1).status();
  REQUIRE(s.code() == absl::StatusCode::kInvalidArgument);
  CHECK(Contains(s, "optimizer.momentum"));
  CHECK(CreateServerOptimizer(ServerOptimizerConfig(), 0).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("CreateServerOptimizer_UnknownKindIsUnimplementedNamingIt") {
  // A kind from a newer proto (e.g. FedAdam = 3), as it arrives on the wire: field 1 = 3.
  ServerOptimizerConfig config;
  REQUIRE(config.ParseFromString(std::string("\x08\x03", 2)));
  auto s = CreateServerOptimizer(config, 1).status();
  INFO(s.ToString());
  REQUIRE(s.code() == absl::StatusCode::kUnimplemented);
  CHECK(Contains(s, "kind 3"));
}

}  // namespace
}  // namespace cohort::codec
