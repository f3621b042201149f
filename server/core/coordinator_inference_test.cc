// Publishing the committed model for inference through the Coordinator: calibration data, the
// session-less fetch with its unchanged answer, resumable chunks and pace steering.

#include <cmath>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "base/clock.h"
#include "base/version.h"
#include "codec/model.h"
#include "cohort/v1/inference.pb.h"
#include "model/zoo.h"
#include "secagg/testing/fake_random_source.h"
#include "server/core/coordinator.h"
#include "server/store/in_memory_store.h"

namespace cohort::server {
namespace {

constexpr int kInputs = 32;

cohort::v1::TaskConfig GraphTask(const std::string& population, double downloads_per_second) {
  cohort::v1::TaskConfig config;
  config.set_population(population);
  *config.mutable_graph() = model::MlpGraph(kInputs, 24, 3);
  config.set_target_cohort_size(3);
  config.mutable_codec()->set_l2_clip_norm(1.0);
  config.mutable_inference()->set_max_download_starts_per_second(downloads_per_second);
  return config;
}

std::string Floats(const std::vector<float>& values) { return codec::FloatsToBytes(values); }

class Fixture {
 public:
  Fixture() : rng_(3) {
    CoordinatorOptions options;
    options.store = &store;
    options.clock = &clock;
    options.random = &rng_;
    options.session_key = std::string(32, 'k');
    coordinator = *Coordinator::Create(options);
    REQUIRE(coordinator->Recover().ok());
  }

  std::string Create(const cohort::v1::TaskConfig& config) {
    cohort::v1::CreateTaskRequest request;
    *request.mutable_config() = config;
    auto task = coordinator->CreateTask(request);
    REQUIRE(task.ok());
    return task->task_id();
  }

  cohort::v1::FetchInferenceModelRequest Request(const std::string& population,
                                                 cohort::v1::InferenceFormat format) {
    cohort::v1::FetchInferenceModelRequest r;
    r.set_population(population);
    r.set_device_id("inference-device-0123456789");
    r.set_sdk_version(cohort::kProtocolVersion);
    r.set_format(format);
    return r;
  }

  // Downloads the whole artifact in chunks of `max_bytes`.
  std::string Download(cohort::v1::FetchInferenceModelRequest r, int64_t max_bytes,
                       int* calls) {
    r.set_max_bytes(max_bytes);
    std::string bytes;
    while (true) {
      auto response = coordinator->FetchInferenceModel(r);
      REQUIRE(response.ok());
      REQUIRE(response->has_chunk());
      ++*calls;
      const auto& chunk = response->chunk();
      CHECK(chunk.offset() == static_cast<int64_t>(bytes.size()));
      bytes += chunk.data();
      r.set_artifact_sha256(chunk.artifact_sha256());
      r.set_offset(static_cast<int64_t>(bytes.size()));
      if (static_cast<int64_t>(bytes.size()) == chunk.total_size()) {
        CHECK(codec::Sha256(bytes) == chunk.artifact_sha256());
        return bytes;
      }
    }
  }

  SimulatedClock clock;
  InMemoryStore store;
  std::unique_ptr<Coordinator> coordinator;

 private:
  secagg::FakeRandomSource rng_;
};

TEST_CASE("FetchInferenceModel_DownloadsInChunksThenAnswersUnchanged") {
  Fixture f;
  const std::string task_id = f.Create(GraphTask("phones", 50));
  auto request = f.Request("phones", cohort::v1::INFERENCE_FORMAT_FLOAT32);
  int calls = 0;
  const std::string bytes = f.Download(request, 100, &calls);
  CHECK(calls > 3);
  cohort::v1::InferenceModel artifact;
  REQUIRE(artifact.ParseFromString(bytes));
  CHECK(artifact.task_id() == task_id);
  CHECK(artifact.model_version() == 0);
  CHECK(artifact.graph().layers_size() == 3);
  auto model = f.coordinator->GetModel(task_id, std::nullopt);
  REQUIRE(model.ok());
  CHECK(artifact.float_parameters() == model->parameters());

  request.set_held_sha256(codec::Sha256(bytes));
  auto unchanged = f.coordinator->FetchInferenceModel(request);
  REQUIRE(unchanged.ok());
  REQUIRE(unchanged->has_unchanged());
  CHECK(unchanged->unchanged().model_version() == 0);
  CHECK(unchanged->ByteSizeLong() < 8);
}

TEST_CASE("AttachCalibrationData_EnablesTheInt8ArtifactAndRefusesBadExamples") {
  Fixture f;
  const std::string task_id = f.Create(GraphTask("phones", 50));
  auto int8_request = f.Request("phones", cohort::v1::INFERENCE_FORMAT_INT8);
  auto missing = f.coordinator->FetchInferenceModel(int8_request);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(missing.status().message().find("calibration data") != std::string::npos);

  cohort::v1::AttachCalibrationDataRequest attach;
  attach.set_task_id(task_id);
  attach.set_examples(Floats(std::vector<float>(kInputs + 1, 1.0f)));  // not whole examples
  CHECK(f.coordinator->AttachCalibrationData(attach).status().code() ==
        absl::StatusCode::kInvalidArgument);
  std::vector<float> with_nan(kInputs, 1.0f);
  with_nan[3] = std::nanf("");
  attach.set_examples(Floats(with_nan));
  CHECK(f.coordinator->AttachCalibrationData(attach).status().code() ==
        absl::StatusCode::kInvalidArgument);
  std::vector<float> examples;
  for (int i = 0; i < 10 * kInputs; ++i) examples.push_back(0.1f * static_cast<float>(i % 13));
  attach.set_examples(Floats(examples));
  auto attached = f.coordinator->AttachCalibrationData(attach);
  REQUIRE(attached.ok());
  CHECK(attached->examples() == 10);
  CHECK(*f.store.GetCalibrationData(task_id) == attach.examples());

  int calls = 0;
  const std::string int8 = f.Download(int8_request, 0, &calls);
  const std::string float32 =
      f.Download(f.Request("phones", cohort::v1::INFERENCE_FORMAT_FLOAT32), 0, &calls);
  cohort::v1::InferenceModel artifact;
  REQUIRE(artifact.ParseFromString(int8));
  CHECK(artifact.format() == cohort::v1::INFERENCE_FORMAT_INT8);
  CHECK(artifact.calibration_examples() == 10);
  CHECK(int8.size() < float32.size() * 35 / 100);  // scales and biases weigh on 867 weights

  // A layout-only task has no graph to quantize.
  cohort::v1::TaskConfig layout_only = GraphTask("other", 50);
  layout_only.clear_graph();
  auto* t = layout_only.mutable_layout()->add_tensors();
  t->set_name("w");
  t->add_shape(4);
  attach.set_task_id(f.Create(layout_only));
  CHECK(f.coordinator->AttachCalibrationData(attach).status().code() ==
        absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("FetchInferenceModel_PaceSteersDownloadStartsButNeverChunksInProgress") {
  Fixture f;
  f.Create(GraphTask("phones", 1));  // one download start per second
  auto request = f.Request("phones", cohort::v1::INFERENCE_FORMAT_FLOAT32);
  request.set_max_bytes(64);
  auto first = f.coordinator->FetchInferenceModel(request);
  REQUIRE(first.ok());
  REQUIRE(first->has_chunk());
  auto second = f.coordinator->FetchInferenceModel(request);
  REQUIRE(second.ok());
  REQUIRE(second->has_retry_later());
  CHECK(second->retry_later().min_delay().seconds() >= 1);
  CHECK(second->retry_later().max_delay().seconds() >= second->retry_later().min_delay().seconds());
  // The download already under way goes on.
  request.set_artifact_sha256(first->chunk().artifact_sha256());
  request.set_offset(static_cast<int64_t>(first->chunk().data().size()));
  auto next = f.coordinator->FetchInferenceModel(request);
  REQUIRE(next.ok());
  CHECK(next->has_chunk());
  // A second later the bucket has a start again.
  f.clock.AdvanceTime(absl::Seconds(2));
  request.clear_artifact_sha256();
  request.set_offset(0);
  auto later = f.coordinator->FetchInferenceModel(request);
  REQUIRE(later.ok());
  CHECK(later->has_chunk());
}

TEST_CASE("FetchInferenceModel_NamesWhatIsWrongWithTheRequest") {
  Fixture f;
  f.Create(GraphTask("phones", 50));
  f.Create(GraphTask("phones", 50));
  auto request = f.Request("phones", cohort::v1::INFERENCE_FORMAT_FLOAT32);
  auto ambiguous = f.coordinator->FetchInferenceModel(request);
  CHECK(ambiguous.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(ambiguous.status().message() == "population 'phones' has 2 tasks; name one in task_id");
  request.set_task_id("phones-nope");
  CHECK(f.coordinator->FetchInferenceModel(request).status().code() ==
        absl::StatusCode::kNotFound);
  auto unknown = f.Request("nobody", cohort::v1::INFERENCE_FORMAT_FLOAT32);
  CHECK(f.coordinator->FetchInferenceModel(unknown).status().code() ==
        absl::StatusCode::kNotFound);
  auto bad_id = f.Request("phones", cohort::v1::INFERENCE_FORMAT_FLOAT32);
  bad_id.set_device_id("short");
  CHECK(f.coordinator->FetchInferenceModel(bad_id).status().code() ==
        absl::StatusCode::kInvalidArgument);
  auto bad_format = f.Request("phones", cohort::v1::INFERENCE_FORMAT_UNSPECIFIED);
  bad_format.set_task_id("x");
  CHECK(f.coordinator->FetchInferenceModel(bad_format).status().code() ==
        absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace cohort::server
