// A model from the ML world, end to end: the PyTorch-exported LeNet fixture becomes a task, a
// federation of SDK devices trains it over SecAgg+ with federated evaluation, and the committed
// model goes back out as ONNX and imports with the same weights.

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "base/version.h"
#include "client_sdk/trainer/eigen_trainer.h"
#include "cohort/client/client.h"
#include "model/onnx/onnx_import.h"
#include "onnx/onnx_pb.h"
#include "secagg/signed_messages.h"
#include "secagg/signing.h"
#include "testing/subprocess.h"
#include "tests/client_sdk/bar_federation.h"
#include "tests/client_sdk/test_server.h"

namespace cohort::client {
namespace {

using test_util::BarDevice;
using test_util::MakeBarDevices;
using test_util::RunOnceEverywhere;
using test_util::SmallTask;
using test_util::TestServer;

constexpr int kDevices = 3;
constexpr int kExamples = 40;
constexpr double kHoldout = 0.25;

std::string ReadFixture(const std::string& name) {
  std::ifstream in(std::string(COHORT_FIXTURE_DIR) + "/onnx/" + name, std::ios::binary);
  REQUIRE(in.good());
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

TEST_CASE("OnnxModel_IsTrainedBySdkDevicesOverSecAggAndComesBackAsOnnx") {
  auto server = TestServer::Start();
  REQUIRE(server.ok());
  v1::TaskConfig config = SmallTask("onnx-lenet", kDevices, /*secagg=*/true);
  config.clear_layout();  // the ONNX file brings the graph and the initial weights
  config.clear_initial_model();
  config.mutable_evaluation()->set_enabled(true);
  config.mutable_training()->set_learning_rate(0.05);
  const std::string onnx = ReadFixture("lenet.onnx");
  absl::StatusOr<std::string> task_id = (*server)->CreateTask(config, onnx);
  INFO(task_id.status().ToString());
  REQUIRE(task_id.ok());
  absl::StatusOr<model::ImportedModel> fixture = model::ImportOnnx(onnx);
  REQUIRE(fixture.ok());
  absl::StatusOr<v1::Task> task = (*server)->GetTask(*task_id);
  REQUIRE(task.ok());
  CHECK(task->config().graph().SerializeAsString() == fixture->graph.SerializeAsString());
  absl::StatusOr<std::vector<float>> initial = (*server)->DownloadModel(*task_id, 0);
  REQUIRE(initial.ok());
  CHECK(*initial == fixture->parameters);

  cohort::testing::TempDir dir;
  absl::StatusOr<std::vector<BarDevice>> made =
      MakeBarDevices(**server, "onnx-lenet", kDevices, kExamples, kHoldout, dir);
  REQUIRE(made.ok());
  std::vector<BarDevice>& devices = *made;

  // What federated evaluation of version 0 must sum to, computed by each device directly.
  const ModelLayout layout = GraphLayout(fixture->graph).value();
  int64_t expected_examples = 0;
  int64_t expected_correct = 0;
  double expected_loss = 0;
  for (BarDevice& d : devices) {
    absl::StatusOr<EvaluationResult> e = d.trainer->Evaluate(layout, *initial);
    REQUIRE(e.ok());
    expected_examples += e->num_examples;
    expected_correct += e->num_correct;
    expected_loss += e->loss * static_cast<double>(e->num_examples);
  }
  CHECK(expected_examples == kDevices * 10);

  constexpr int kRounds = 2;
  REQUIRE((*server)->StartRounds(*task_id, kRounds).ok());
  for (int round = 1; round <= kRounds; ++round) {
    const std::vector<absl::StatusOr<ParticipationOutcome>> results = RunOnceEverywhere(devices);
    for (const auto& r : results) {
      INFO((r.ok() ? r->reason : r.status().ToString()));
      REQUIRE(r.ok());
      CHECK(r->kind == OutcomeKind::kContributed);
      CHECK(r->new_model_version == round);
    }
  }
  task = (*server)->WaitForCommitted(*task_id, kRounds, absl::Seconds(30));
  REQUIRE(task.ok());
  REQUIRE(task->rounds_committed() == kRounds);

  absl::StatusOr<std::vector<v1::RoundSummary>> rounds = (*server)->ListRounds(*task_id);
  REQUIRE(rounds.ok());
  REQUIRE(rounds->size() == 2);
  const v1::RoundSummary& first = rounds->back();
  REQUIRE(first.round_number() == 1);
  REQUIRE(first.has_evaluation());
  CHECK(first.evaluation().contributors() == kDevices);
  CHECK(first.evaluation().examples() == expected_examples);
  CHECK(first.evaluation().correct() == expected_correct);
  // 8-bit loss levels of max_loss 16: within one level per example.
  CHECK(std::abs(first.evaluation().mean_loss() * expected_examples - expected_loss) <=
        expected_examples * 16.0 / 255.0);

  absl::StatusOr<std::vector<float>> trained = (*server)->DownloadModel(*task_id, kRounds);
  REQUIRE(trained.ok());
  CHECK(*trained != fixture->parameters);
  absl::StatusOr<std::string> exported = model::ExportOnnx(task->config().graph(), *trained);
  REQUIRE(exported.ok());
  absl::StatusOr<model::ImportedModel> back = model::ImportOnnx(*exported);
  REQUIRE(back.ok());
  CHECK(back->graph.SerializeAsString() == fixture->graph.SerializeAsString());
  CHECK(back->parameters == *trained);
}

TEST_CASE("OnnxModel_UnsupportedOperatorIsRefusedAndNothingIsCreated") {
  auto server = TestServer::Start();
  REQUIRE(server.ok());
  v1::TaskConfig config = SmallTask("onnx-bad", kDevices, /*secagg=*/true);
  config.clear_layout();
  config.clear_initial_model();
  onnx::ModelProto model;
  REQUIRE(model.ParseFromString(ReadFixture("lenet.onnx")));
  REQUIRE(model.graph().node(1).op_type() == "Relu");
  model.mutable_graph()->mutable_node(1)->set_op_type("Selu");  // an operator Cohort does not run
  absl::StatusOr<std::string> created = (*server)->CreateTask(config, model.SerializeAsString());
  REQUIRE_FALSE(created.ok());
  CHECK(created.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(created.status().message().find("(Selu): operator not supported") != std::string::npos);
  absl::StatusOr<std::string> garbage = (*server)->CreateTask(config, "not a model");
  CHECK(garbage.status().code() == absl::StatusCode::kInvalidArgument);
  // The population has no task: a device checking in finds nothing to join.
  auto stub = (*server)->NewDeviceStub();
  grpc::ClientContext context;
  v1::CheckInRequest request;
  request.set_population("onnx-bad");
  request.set_device_id("onnx-bad-device-0123456789abcdef");
  request.set_sdk_version(cohort::kProtocolVersion);
  const secagg::SigningKey key = *secagg::SigningKey::FromSeed(std::string(32, 'd'));
  request.set_device_public_key(key.verifying_key().ToBytes());
  request.set_device_key_signature(
      *key.Sign(secagg::CheckInMessage(request.population(), request.device_id())));
  v1::CheckInResponse response;
  CHECK(stub->CheckIn(&context, request, &response).error_code() == grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace cohort::client
