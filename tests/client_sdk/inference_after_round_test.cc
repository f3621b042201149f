// The inference half end to end: SDK devices train the CNN for a round over SecAgg+, the server
// publishes the committed version as int8, a device fetches it through the SDK and runs it on
// XNNPACK, and its outputs match the server-side reference (model::SimulateInt8 on the artifact
// quantized from the committed float model) within the quantization error docs/inference.md
// states: two output codes at most, a tenth of a code on average.

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "cohort/client/inference.h"
#include "cohort/v1/inference.pb.h"
#include "model/quantize.h"
#include "model/zoo.h"
#include "tests/client_sdk/bar_federation.h"
#include "tests/client_sdk/test_server.h"

namespace cohort::client {
namespace {

using test_util::kBarClasses;
using test_util::kBarImageSide;

constexpr int kDevices = 3;
constexpr int kImages = 8;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string LittleEndianBytes(const std::vector<float>& values) {
  static_assert(std::endian::native == std::endian::little);
  std::string bytes(values.size() * sizeof(float), '\0');
  std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

TEST_CASE("CommittedCnn_FetchedAsInt8ThroughTheSdk_PredictsLikeTheServerReference") {
  auto server = test_util::TestServer::Start();
  REQUIRE(server.ok());
  v1::TaskConfig config = test_util::SmallTask("infer-cnn", kDevices, /*secagg=*/true);
  config.clear_layout();
  *config.mutable_graph() = model::SmallCnnGraph(kBarImageSide, kBarClasses);
  config.mutable_training()->set_learning_rate(0.05);
  absl::StatusOr<std::string> task_id = (*server)->CreateTask(config);
  REQUIRE(task_id.ok());

  // Representative data the operator holds: more bar images, none of them a device's.
  std::vector<float> calibration;
  std::vector<int32_t> unused_labels;
  test_util::BarImages(/*seed=*/7, 64, &calibration, &unused_labels);
  REQUIRE((*server)->AttachCalibrationData(*task_id, LittleEndianBytes(calibration)).ok());

  cohort::testing::TempDir dir;
  absl::StatusOr<std::vector<test_util::BarDevice>> devices =
      test_util::MakeBarDevices(**server, "infer-cnn", kDevices, 40, /*holdout=*/0.0, dir);
  REQUIRE(devices.ok());
  REQUIRE((*server)->StartRounds(*task_id, 1).ok());
  for (const auto& outcome : test_util::RunOnceEverywhere(*devices)) {
    INFO((outcome.ok() ? outcome->reason : outcome.status().ToString()));
    REQUIRE(outcome.ok());
    CHECK(outcome->kind == OutcomeKind::kContributed);
  }
  absl::StatusOr<v1::Task> task = (*server)->WaitForCommitted(*task_id, 1, absl::Seconds(30));
  REQUIRE(task.ok());
  REQUIRE(task->rounds_committed() == 1);

  // The device's side: fetch, load, predict.
  absl::StatusOr<InferenceModelUpdate> update =
      (*devices)[0].client->UpdateInferenceModel(InferenceFormat::kInt8);
  INFO(update.status().ToString());
  REQUIRE(update.ok());
  CHECK(update->changed);
  CHECK(update->model_version == 1);
  const std::string fetched = ReadFile(update->path);
  absl::StatusOr<std::unique_ptr<InferenceModel>> model = InferenceModel::Load(fetched);
  INFO(model.status().ToString());
  REQUIRE(model.ok());
  CHECK((*model)->info().format == InferenceFormat::kInt8);
  CHECK((*model)->info().model_version == 1);
  REQUIRE((*model)->info().input_size == kBarImageSide * kBarImageSide);
  REQUIRE((*model)->info().output_size == kBarClasses);
  std::vector<float> images;
  std::vector<int32_t> labels;
  test_util::BarImages(/*seed=*/999, kImages, &images, &labels);
  std::vector<float> predicted(kImages * kBarClasses);
  REQUIRE((*model)->Predict(images, kImages, absl::MakeSpan(predicted)).ok());

  // The server's side: the committed float model quantized with the same calibration data is
  // the artifact the device holds, and simulating it gives the reference outputs.
  absl::StatusOr<std::vector<float>> trained = (*server)->DownloadModel(*task_id, 1);
  REQUIRE(trained.ok());
  absl::StatusOr<v1::InferenceModel> reference =
      model::QuantizeModel(task->config().graph(), *trained, calibration);
  REQUIRE(reference.ok());
  v1::InferenceModel held;
  REQUIRE(held.ParseFromString(fetched));
  reference->set_task_id(held.task_id());
  reference->set_model_version(held.model_version());
  CHECK(reference->SerializeAsString() == fetched);
  std::vector<float> expected(predicted.size());
  REQUIRE(model::SimulateInt8(*reference, images, kImages, absl::MakeSpan(expected)).ok());

  // One code of the last quantized layer's output; a softmax after it moves by at most half the
  // change of its logits (its Lipschitz bound).
  const int layers = reference->layers_size();
  const bool softmax = reference->graph().layers(layers - 1).has_softmax();
  const double code = reference->layers(softmax ? layers - 2 : layers - 1).output().scale();
  const double unit = softmax ? code / 2 : code;
  double total = 0;
  double worst = 0;
  for (size_t i = 0; i < predicted.size(); ++i) {
    const double diff = std::abs(double{predicted[i]} - expected[i]);
    total += diff;
    worst = std::max(worst, diff);
  }
  INFO("worst " << worst << " mean " << total / predicted.size() << " unit " << unit);
  CHECK(worst <= 2 * unit);
  CHECK(total / predicted.size() <= 0.1 * unit);
  // And the int8 model classifies like the float model it was made from.
  absl::StatusOr<v1::InferenceModel> float_artifact =
      model::FloatArtifact(task->config().graph(), *trained);
  REQUIRE(float_artifact.ok());
  absl::StatusOr<std::unique_ptr<InferenceModel>> float_model =
      InferenceModel::Load(float_artifact->SerializeAsString());
  REQUIRE(float_model.ok());
  std::vector<float> float_outputs(predicted.size());
  REQUIRE((*float_model)->Predict(images, kImages, absl::MakeSpan(float_outputs)).ok());
  int agree = 0;
  for (int i = 0; i < kImages; ++i) {
    auto row = [&](const std::vector<float>& v) { return v.begin() + i * kBarClasses; };
    agree += std::max_element(row(predicted), row(predicted) + kBarClasses) - row(predicted) ==
             std::max_element(row(float_outputs), row(float_outputs) + kBarClasses) -
                 row(float_outputs);
  }
  CHECK(agree >= kImages - 1);
}

}  // namespace
}  // namespace cohort::client
