// The SDK keeping the device's inference artifact current against the real server on loopback:
// one small call when nothing changed, a corrupt chunk detected and fetched again, a download
// cut short resumed where it stopped, and a new artifact after each commit.

#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/synchronization/mutex.h"
#include "client_sdk/src/client_impl.h"
#include "client_sdk/src/testing/forwarding_stub.h"
#include "client_sdk/trainer/eigen_trainer.h"
#include "codec/model.h"
#include "cohort/v1/inference.pb.h"
#include "model/zoo.h"
#include "testing/subprocess.h"
#include "tests/client_sdk/test_server.h"

namespace cohort::client {
namespace {

using test_util::SmallTask;
using test_util::TestServer;

// Counts and tampers with FetchInferenceModel on its way to the server.
class FetchProxy : public test_util::ForwardingStub {
 public:
  explicit FetchProxy(std::shared_ptr<v1::DeviceService::StubInterface> target)
      : ForwardingStub(target.get()), target_(std::move(target)) {}

  grpc::Status FetchInferenceModel(grpc::ClientContext* c,
                                   const v1::FetchInferenceModelRequest& r,
                                   v1::FetchInferenceModelResponse* out) override {
    {
      absl::MutexLock lock(&mu_);
      requests_.push_back(r);
      if (fail_after_ >= 0 && static_cast<int>(requests_.size()) > fail_after_) {
        fail_after_ = -1;
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "link down");
      }
    }
    grpc::Status s = ForwardingStub::FetchInferenceModel(c, r, out);
    absl::MutexLock lock(&mu_);
    if (s.ok() && corrupt_next_ && out->has_chunk() && !out->chunk().data().empty()) {
      corrupt_next_ = false;
      (*out->mutable_chunk()->mutable_data())[0] ^= 0x40;
    }
    return s;
  }

  std::vector<v1::FetchInferenceModelRequest> TakeRequests() {
    absl::MutexLock lock(&mu_);
    return std::exchange(requests_, {});
  }
  void CorruptNextChunk() {
    absl::MutexLock lock(&mu_);
    corrupt_next_ = true;
  }
  // The call after the next `n` fails with UNAVAILABLE.
  void FailAfter(int n) {
    absl::MutexLock lock(&mu_);
    requests_.clear();
    fail_after_ = n;
  }

 private:
  std::shared_ptr<v1::DeviceService::StubInterface> target_;
  absl::Mutex mu_;
  std::vector<v1::FetchInferenceModelRequest> requests_;
  bool corrupt_next_ = false;
  int fail_after_ = -1;
};

struct Setup {
  std::unique_ptr<TestServer> server;
  std::string task_id;
  cohort::testing::TempDir dir;
  std::shared_ptr<FetchProxy> proxy;
  std::unique_ptr<EigenTrainer> trainer;
  std::unique_ptr<Client> client;

  explicit Setup(int64_t chunk_bytes) {
    server = *TestServer::Start();
    v1::TaskConfig config = SmallTask("fetch", 2, /*secagg=*/false);
    config.clear_layout();
    *config.mutable_graph() = model::MlpGraph(4, 16, 3);
    task_id = *server->CreateTask(config);
    proxy = std::make_shared<FetchProxy>(server->NewDeviceStub());
    trainer = *EigenTrainer::Create(std::vector<float>(8 * 4, 0.5f), std::vector<int32_t>(8, 1), 4,
                                    1);
    Config c;
    c.server_address = server->device_address();
    c.population = "fetch";
    c.device_id_provider = [] { return std::string("fetch-device-0123456789"); };
    c.storage_dir = dir.File("device");
    c.download_chunk_bytes = chunk_bytes;
    client = *internal::CreateClientWithStub(c, trainer.get(), proxy);
  }
};

TEST_CASE("UpdateInferenceModel_FetchesOnceThenOneSmallCallWhileUnchanged") {
  Setup s(/*chunk_bytes=*/100);
  absl::StatusOr<InferenceModelUpdate> first = s.client->UpdateInferenceModel(InferenceFormat::kFloat32);
  REQUIRE(first.ok());
  CHECK(first->changed);
  CHECK(first->model_version == 0);
  const auto requests = s.proxy->TakeRequests();
  CHECK(requests.size() > 3);  // chunks of 100 bytes
  CHECK(requests.front().held_sha256().empty());
  v1::InferenceModel artifact;
  std::string bytes;
  {
    std::ifstream in(first->path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  REQUIRE(artifact.ParseFromString(bytes));
  CHECK(artifact.format() == v1::INFERENCE_FORMAT_FLOAT32);
  CHECK(artifact.float_parameters() == codec::FloatsToBytes(*s.server->DownloadModel(s.task_id, 0)));

  absl::StatusOr<InferenceModelUpdate> again = s.client->UpdateInferenceModel(InferenceFormat::kFloat32);
  REQUIRE(again.ok());
  CHECK_FALSE(again->changed);
  CHECK(again->model_version == 0);
  CHECK(again->path == first->path);
  const auto second = s.proxy->TakeRequests();
  REQUIRE(second.size() == 1);
  CHECK(second[0].held_sha256() == codec::Sha256(bytes));
}

TEST_CASE("UpdateInferenceModel_DetectsACorruptChunkAndFetchesAgain") {
  Setup s(/*chunk_bytes=*/0);
  s.proxy->CorruptNextChunk();
  absl::StatusOr<InferenceModelUpdate> update = s.client->UpdateInferenceModel(InferenceFormat::kFloat32);
  REQUIRE(update.ok());
  CHECK(update->changed);
  const auto requests = s.proxy->TakeRequests();
  CHECK(requests.size() == 2);  // one whole (corrupted) download, one good one
  std::ifstream in(update->path, std::ios::binary);
  const std::string bytes(std::istreambuf_iterator<char>(in), {});
  v1::InferenceModel artifact;
  CHECK(artifact.ParseFromString(bytes));
}

TEST_CASE("UpdateInferenceModel_ResumesADownloadCutShort") {
  Setup s(/*chunk_bytes=*/64);
  s.proxy->FailAfter(2);
  absl::StatusOr<InferenceModelUpdate> cut = s.client->UpdateInferenceModel(InferenceFormat::kFloat32);
  CHECK(cut.status().code() == absl::StatusCode::kUnavailable);
  s.proxy->TakeRequests();
  absl::StatusOr<InferenceModelUpdate> resumed = s.client->UpdateInferenceModel(InferenceFormat::kFloat32);
  REQUIRE(resumed.ok());
  CHECK(resumed->changed);
  const auto requests = s.proxy->TakeRequests();
  REQUIRE_FALSE(requests.empty());
  CHECK(requests.front().offset() == 128);  // two 64-byte chunks were kept
  CHECK_FALSE(requests.front().artifact_sha256().empty());
}

TEST_CASE("UpdateInferenceModel_GetsEachCommittedVersionAndTheInt8Artifact") {
  Setup s(/*chunk_bytes=*/0);
  REQUIRE(s.client->UpdateInferenceModel(InferenceFormat::kFloat32).ok());
  CHECK(s.client->UpdateInferenceModel(InferenceFormat::kInt8).status().code() ==
        absl::StatusCode::kFailedPrecondition);
  std::vector<float> calibration;
  for (int i = 0; i < 40; ++i) calibration.push_back(0.05f * static_cast<float>(i));
  REQUIRE(s.server->AttachCalibrationData(s.task_id, codec::FloatsToBytes(calibration)).ok());

  // One plain round of two devices commits version 1.
  cohort::testing::TempDir dirs;
  std::vector<std::unique_ptr<EigenTrainer>> trainers;
  std::vector<std::unique_ptr<Client>> devices;
  for (int i = 0; i < 2; ++i) {
    trainers.push_back(*EigenTrainer::Create(std::vector<float>(8 * 4, 0.25f * (i + 1)),
                                             std::vector<int32_t>(8, i), 4, i + 1));
    Config c;
    c.server_address = s.server->device_address();
    c.population = "fetch";
    c.device_id_provider = [i] { return "fetch-trainer-0123456789-" + std::to_string(i); };
    c.storage_dir = dirs.File("d" + std::to_string(i));
    devices.push_back(*Client::Create(c, trainers.back().get()));
    devices.back()->SetEligibility({true, true, true, 90});
  }
  REQUIRE(s.server->StartRounds(s.task_id, 1).ok());
  std::vector<std::thread> threads;
  for (auto& d : devices) threads.emplace_back([&d] { (void)d->RunOnce(); });
  for (auto& t : threads) t.join();
  REQUIRE(s.server->WaitForCommitted(s.task_id, 1, absl::Seconds(30))->rounds_committed() == 1);

  absl::StatusOr<InferenceModelUpdate> v1 = s.client->UpdateInferenceModel(InferenceFormat::kFloat32);
  REQUIRE(v1.ok());
  CHECK(v1->changed);
  CHECK(v1->model_version == 1);
  absl::StatusOr<InferenceModelUpdate> int8 = s.client->UpdateInferenceModel(InferenceFormat::kInt8);
  REQUIRE(int8.ok());
  CHECK(int8->changed);
  CHECK(int8->model_version == 1);
  CHECK(int8->path != v1->path);
}

}  // namespace
}  // namespace cohort::client
