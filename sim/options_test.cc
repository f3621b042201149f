#include "sim/options.h"

#include <catch2/catch.hpp>

#include "absl/strings/match.h"

namespace cohort::sim {
namespace {

TEST_CASE("SimOptions_Defaults_AreTheReadmeRun") {
  const SimOptions o;
  CHECK(ValidateSimOptions(o).ok());
  CHECK(o.devices == 100);
  CHECK(o.rounds == 50);
  CHECK(TargetCohortSize(o) == 10);
  CHECK(SelectedCohortSize(o) == 13);
  CHECK(o.secagg);
  CHECK(o.quantize);
  CHECK(o.bits == 8);
  CHECK(o.partition == "dirichlet");
  CHECK(o.alpha == 0.5);
}

TEST_CASE("DefaultRecipe_CnnTrainsOneEpochWithFedAdamForAHundredRounds") {
  const ModelRecipe mlp = DefaultRecipe("mlp");
  const SimOptions defaults;
  CHECK(mlp.rounds == defaults.rounds);
  CHECK(mlp.local_epochs == defaults.local_epochs);
  CHECK(mlp.client_lr == defaults.client_lr);
  CHECK(mlp.optimizer == defaults.optimizer);
  CHECK(mlp.batch_size == defaults.batch_size);
  CHECK(mlp.server_lr == defaults.server_lr);
  const ModelRecipe cnn = DefaultRecipe("cnn");
  CHECK(cnn.rounds == 100);
  CHECK(cnn.local_epochs == 1);
  CHECK(cnn.batch_size == 16);
  CHECK(cnn.optimizer == "fedadam");
  CHECK(cnn.server_lr == 0.02);
  CHECK(cnn.server_lr_decay == "cosine");
  CHECK(mlp.server_lr_decay == defaults.server_lr_decay);
  SimOptions o;
  o.model = "cnn";
  CHECK(SimModelGraph(o).layers_size() == 10);
}

TEST_CASE("ValidateSimOptions_BadValue_IsInvalidArgumentNamingTheFlag") {
  auto message_for = [](auto mutate) {
    SimOptions o;
    mutate(o);
    const absl::Status status = ValidateSimOptions(o);
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    return std::string(status.message());
  };
  CHECK(absl::StrContains(message_for([](SimOptions& o) { o.alpha = 0; }), "--alpha"));
  CHECK(absl::StrContains(message_for([](SimOptions& o) { o.devices = 0; }), "--devices"));
  CHECK(absl::StrContains(message_for([](SimOptions& o) { o.bits = 1; }), "--bits"));
  CHECK(absl::StrContains(message_for([](SimOptions& o) { o.dropout = 1.0; }), "--dropout"));
  CHECK(absl::StrContains(message_for([](SimOptions& o) { o.model = "resnet"; }), "--model"));
  CHECK(absl::StrContains(message_for([](SimOptions& o) { o.holdout = 0.95; }), "--holdout"));
  CHECK(absl::StrContains(message_for([](SimOptions& o) { o.quantize = false; }), "--no-secagg"));
  CHECK(absl::StrContains(message_for([](SimOptions& o) { o.cohort_size = 90; }), "--devices"));
  CHECK(absl::StrContains(message_for([](SimOptions& o) { o.server = "h:1"; }), "--admin_server"));
  CHECK(absl::StrContains(message_for([](SimOptions& o) { o.server_lr_decay = "step"; }),
                          "--server_lr_decay"));
  CHECK(absl::StrContains(message_for([](SimOptions& o) { o.server_lr_final_fraction = 2; }),
                          "--server_lr_final_fraction"));
}

TEST_CASE("MakeTaskConfig_ServerLrDecayReachesItsFloorAtTheLastRound") {
  SimOptions o;
  CHECK_FALSE(MakeTaskConfig(o).optimizer().has_decay());  // constant by default
  o.rounds = 100;
  o.server_lr_decay = "cosine";
  o.server_lr_final_fraction = 0.1;
  const cohort::v1::LearningRateDecay decay = MakeTaskConfig(o).optimizer().decay();
  CHECK(decay.kind() == cohort::v1::LearningRateDecay::KIND_COSINE);
  CHECK(decay.steps() == 99);  // round 100 applies the optimizer's step 99
  CHECK(decay.final_fraction() == 0.1);
  o.rounds = 1;
  o.server_lr_decay = "linear";
  CHECK(MakeTaskConfig(o).optimizer().decay().steps() == 1);
  CHECK(MakeTaskConfig(o).optimizer().decay().kind() ==
        cohort::v1::LearningRateDecay::KIND_LINEAR);
}

TEST_CASE("ValidateSimOptions_PlaintextLeavesLoopbackOnlyWithTls") {
  SimOptions o;
  o.server = "127.0.0.1:8443";
  o.admin_server = "[::1]:8444";
  o.admin_token = "token";
  CHECK(ValidateSimOptions(o).ok());

  o.admin_server = "cohort.example.com:8444";  // the token would cross the network in clear
  absl::Status status = ValidateSimOptions(o);
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(status.message(), "--admin_server 'cohort.example.com:8444'"));
  CHECK(absl::StrContains(status.message(), "--tls_ca"));

  o.admin_server = "127.0.0.1:8444";
  o.server = "10.0.0.7:8443";
  CHECK(absl::StrContains(ValidateSimOptions(o).message(), "--server '10.0.0.7:8443'"));

  o.tls_ca_file = "ca.pem";
  CHECK(ValidateSimOptions(o).ok());

  SimOptions in_process;
  in_process.tls_ca_file = "ca.pem";
  CHECK(absl::StrContains(ValidateSimOptions(in_process).message(), "--tls_ca needs --server"));
}

TEST_CASE("MakeTaskConfig_CarriesModelTrainingCodecAndSecAgg") {
  SimOptions o;
  o.model = "softmax";
  o.secagg = false;
  o.quantize = false;
  const cohort::v1::TaskConfig c = MakeTaskConfig(o);
  REQUIRE(c.graph().layers_size() == 1);
  CHECK(c.graph().layers(0).name() == "dense");
  CHECK(c.graph().input_shape(0) == 784);
  CHECK(c.layout().tensors_size() == 0);  // the server derives it from the graph
  CHECK(c.evaluation().enabled());        // --holdout 0.1 by default
  CHECK(c.target_cohort_size() == 10);
  CHECK(c.over_selection_factor() == 1.3);
  CHECK(c.training().local_epochs() == o.local_epochs);
  CHECK(c.training().learning_rate() == o.client_lr);
  CHECK_FALSE(c.secagg().enabled());
  CHECK(c.codec().encoding() == cohort::v1::UPDATE_ENCODING_FLOAT32);
  CHECK(c.initial_model().glorot_uniform_seed() == o.seed);
  const cohort::v1::TaskConfig mlp = MakeTaskConfig(SimOptions());
  CHECK(mlp.graph().layers_size() == 3);
  o.model = "cnn";
  o.holdout = 0;
  const cohort::v1::TaskConfig cnn = MakeTaskConfig(o);
  CHECK(cnn.graph().layers(0).has_conv2d());
  CHECK_FALSE(cnn.evaluation().enabled());
  o.model = "model.onnx";
  const cohort::v1::TaskConfig onnx = MakeTaskConfig(o);
  CHECK_FALSE(onnx.has_graph());  // the request carries the file
  CHECK_FALSE(onnx.has_initial_model());
  CHECK(mlp.secagg().enabled());
  CHECK(mlp.codec().encoding() == cohort::v1::UPDATE_ENCODING_QUANTIZED);
  CHECK(mlp.codec().bits() == 8);
  CHECK(mlp.codec().l2_clip_norm() == 1.0);
}

}  // namespace
}  // namespace cohort::sim

namespace cohort::sim {
namespace {

TEST_CASE("ValidateSimOptions_DpFlagsMustDescribeAServableMechanism") {
  auto message_for = [](auto mutate) {
    SimOptions o;
    o.dp = "ddg";
    o.dp_target_epsilon = 3;
    mutate(o);
    const absl::Status status = ValidateSimOptions(o);
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    return std::string(status.message());
  };
  CHECK(absl::StrContains(message_for([](SimOptions& o) { o.dp = "laplace"; }), "--dp"));
  CHECK(absl::StrContains(message_for([](SimOptions& o) { o.dp_noise_multiplier = 1; }),
                          "exactly one of"));
  CHECK(absl::StrContains(message_for([](SimOptions& o) { o.secagg = false; }), "--dp=central"));
  CHECK(absl::StrContains(message_for([](SimOptions& o) { o.dp = "central"; }), "--no-secagg"));
  CHECK(absl::StrContains(message_for([](SimOptions& o) { o.dp_delta = 0; }), "--dp_delta"));
  CHECK(absl::StrContains(message_for([](SimOptions& o) {
                            o.dp_target_epsilon = 0;
                            o.dp_noise_multiplier = 1.2;
                          }),
                          "--dp_budget"));
}

TEST_CASE("MakeTaskConfig_DpSetsTheMechanismAndTurnsFederatedEvaluationOff") {
  SimOptions o;
  o.dp = "skellam";
  o.dp_target_epsilon = 3;
  o.dp_bits = 18;
  REQUIRE(ValidateSimOptions(o).ok());
  const cohort::v1::TaskConfig config = MakeTaskConfig(o);
  CHECK(config.dp().mechanism() == cohort::v1::DP_MECHANISM_DISTRIBUTED_SKELLAM);
  CHECK(config.dp().target_epsilon() == 3);
  CHECK(config.dp().target_rounds() == o.rounds);
  CHECK(config.dp().delta() == 1e-5);
  CHECK(config.dp().bits() == 18);
  CHECK(config.codec().l2_clip_norm() == o.clip);
  // The evaluation counts would be summed without noise.
  CHECK_FALSE(config.evaluation().enabled());
  SimOptions plain;
  CHECK(MakeTaskConfig(plain).evaluation().enabled());
}

}  // namespace
}  // namespace cohort::sim
