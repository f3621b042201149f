#include "sim/admin_client.h"

#include <openssl/sha.h>

#include <bit>
#include <chrono>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "grpcpp/client_context.h"

namespace cohort::sim {

absl::Status FromGrpc(const grpc::Status& status, const std::string& what) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat(what, ": ", status.error_message()));
}

AdminClient::AdminClient(std::shared_ptr<grpc::Channel> channel, std::string token)
    : stub_(cohort::v1::AdminService::NewStub(std::move(channel))), token_(std::move(token)) {}

void AdminClient::Prepare(grpc::ClientContext* context, absl::Duration deadline) const {
  context->AddMetadata("authorization", absl::StrCat("Bearer ", token_));
  context->set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(deadline));
  // A fail-fast call leaves a reconnecting TLS channel unpolled, and its handshake with a
  // restarted server then misses gRPC's connect deadline over and over.
  context->set_wait_for_ready(true);
}

absl::StatusOr<cohort::v1::Task> AdminClient::CreateTask(const cohort::v1::TaskConfig& config,
                                                         const std::string& onnx_model) {
  grpc::ClientContext context;
  Prepare(&context);
  cohort::v1::CreateTaskRequest request;
  *request.mutable_config() = config;
  request.set_onnx_model(onnx_model);
  cohort::v1::Task task;
  const grpc::Status status = stub_->CreateTask(&context, request, &task);
  if (!status.ok()) return FromGrpc(status, "CreateTask");
  return task;
}

absl::StatusOr<cohort::v1::Task> AdminClient::GetTask(const std::string& task_id) {
  grpc::ClientContext context;
  Prepare(&context);
  cohort::v1::GetTaskRequest request;
  request.set_task_id(task_id);
  cohort::v1::Task task;
  const grpc::Status status = stub_->GetTask(&context, request, &task);
  if (!status.ok()) return FromGrpc(status, "GetTask");
  return task;
}

absl::StatusOr<cohort::v1::Task> AdminClient::StartRounds(const std::string& task_id,
                                                          int64_t count) {
  grpc::ClientContext context;
  Prepare(&context);
  cohort::v1::StartRoundsRequest request;
  request.set_task_id(task_id);
  request.set_count(count);
  cohort::v1::Task task;
  const grpc::Status status = stub_->StartRounds(&context, request, &task);
  if (!status.ok()) return FromGrpc(status, "StartRounds");
  return task;
}

absl::StatusOr<cohort::v1::Task> AdminClient::PauseTask(const std::string& task_id) {
  grpc::ClientContext context;
  Prepare(&context);
  cohort::v1::PauseTaskRequest request;
  request.set_task_id(task_id);
  cohort::v1::Task task;
  const grpc::Status status = stub_->PauseTask(&context, request, &task);
  if (!status.ok()) return FromGrpc(status, "PauseTask");
  return task;
}

absl::Status AdminClient::AttachCalibrationData(const std::string& task_id,
                                                const std::string& examples) {
  grpc::ClientContext context;
  Prepare(&context);
  cohort::v1::AttachCalibrationDataRequest request;
  request.set_task_id(task_id);
  request.set_examples(examples);
  cohort::v1::AttachCalibrationDataResponse response;
  const grpc::Status status = stub_->AttachCalibrationData(&context, request, &response);
  if (!status.ok()) return FromGrpc(status, "AttachCalibrationData");
  return absl::OkStatus();
}

absl::StatusOr<std::vector<cohort::v1::RoundSummary>> AdminClient::ListRounds(
    const std::string& task_id, int32_t page_size) {
  grpc::ClientContext context;
  // The simulator polls this every 200 ms: an unreachable server is reported within seconds.
  Prepare(&context, absl::Seconds(5));
  cohort::v1::ListRoundsRequest request;
  request.set_task_id(task_id);
  request.set_page_size(page_size);
  cohort::v1::ListRoundsResponse response;
  const grpc::Status status = stub_->ListRounds(&context, request, &response);
  if (!status.ok()) return FromGrpc(status, "ListRounds");
  return std::vector<cohort::v1::RoundSummary>(response.rounds().begin(), response.rounds().end());
}

absl::StatusOr<ModelVersion> AdminClient::DownloadModel(const std::string& task_id,
                                                        int64_t version) {
  grpc::ClientContext context;
  Prepare(&context);
  cohort::v1::AdminDownloadModelRequest request;
  request.set_task_id(task_id);
  request.set_version(version);
  auto reader = stub_->DownloadModel(&context, request);
  cohort::v1::ModelPart part;
  ModelVersion model;
  std::string bytes;
  std::string sha256;
  int64_t total = -1;
  bool first = true;
  while (reader->Read(&part)) {
    if (first) {
      model.version = part.version();
      for (const cohort::v1::TensorSpec& t : part.layout().tensors()) {
        model.layout.tensors.push_back(
            client::TensorSpec{t.name(), std::vector<int64_t>(t.shape().begin(), t.shape().end())});
      }
      if (part.has_graph()) model.layout.graph = part.graph().SerializeAsString();
      total = part.total_size();
      sha256 = part.sha256();
      if (total < 0 || total % 4 != 0) {
        return absl::DataLossError(absl::StrCat("DownloadModel: total_size ", total));
      }
      bytes.reserve(total);
      first = false;
    }
    if (part.offset() != static_cast<int64_t>(bytes.size())) {
      return absl::DataLossError(absl::StrCat("DownloadModel: part at offset ", part.offset(),
                                              ", expected ", bytes.size()));
    }
    bytes += part.data();
  }
  const grpc::Status status = reader->Finish();
  if (!status.ok()) return FromGrpc(status, "DownloadModel");
  if (first || static_cast<int64_t>(bytes.size()) != total) {
    return absl::DataLossError(absl::StrCat("DownloadModel: got ", bytes.size(), " of ", total,
                                            " bytes of version ", version));
  }
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  if (!sha256.empty() &&
      sha256 != std::string(reinterpret_cast<const char*>(digest), SHA256_DIGEST_LENGTH)) {
    return absl::DataLossError(
        absl::StrCat("DownloadModel: SHA-256 mismatch for version ", model.version));
  }
  // The wire format is little-endian float32, which is also the in-memory format here (x86-64,
  // aarch64); a big-endian host would need a byte swap.
  static_assert(std::endian::native == std::endian::little);
  model.parameters.resize(bytes.size() / 4);
  std::memcpy(model.parameters.data(), bytes.data(), bytes.size());
  return model;
}

}  // namespace cohort::sim
