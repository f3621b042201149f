#ifndef COHORT_SIM_ADMIN_CLIENT_H_
#define COHORT_SIM_ADMIN_CLIENT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client_sdk/trainer/eigen_trainer.h"
#include "cohort/v1/admin.grpc.pb.h"
#include "grpcpp/channel.h"

namespace cohort::sim {

// A downloaded model version.
struct ModelVersion {
  int64_t version = 0;
  client::ModelLayout layout;
  std::vector<float> parameters;
};

// The few admin API calls cohort-sim makes, with the bearer token attached and gRPC statuses
// turned into absl ones (the code kept, the message prefixed with the method). Each call has a
// 30 s deadline. This class is thread-safe (the stub is).
class AdminClient {
 public:
  AdminClient(std::shared_ptr<grpc::Channel> channel, std::string token);

  // `onnx_model`, when not empty, is an ONNX file the server imports as the task's graph and
  // initial parameters (the config then has neither).
  absl::StatusOr<cohort::v1::Task> CreateTask(const cohort::v1::TaskConfig& config,
                                              const std::string& onnx_model = "");
  absl::StatusOr<cohort::v1::Task> GetTask(const std::string& task_id);
  absl::StatusOr<cohort::v1::Task> StartRounds(const std::string& task_id, int64_t count);
  absl::StatusOr<cohort::v1::Task> PauseTask(const std::string& task_id);
  // `examples`: little-endian float32 inputs of the task's graph (docs/inference.md).
  absl::Status AttachCalibrationData(const std::string& task_id, const std::string& examples);
  // Newest first, at most `page_size`.
  absl::StatusOr<std::vector<cohort::v1::RoundSummary>> ListRounds(const std::string& task_id,
                                                                   int32_t page_size);
  // Reassembles the streamed parts and checks offsets, total size and SHA-256 (DATA_LOSS when
  // they disagree).
  absl::StatusOr<ModelVersion> DownloadModel(const std::string& task_id, int64_t version);

 private:
  // Bearer token, deadline, and wait-for-ready (see Transport::Call in the SDK for why).
  void Prepare(grpc::ClientContext* context, absl::Duration deadline = absl::Seconds(30)) const;

  std::unique_ptr<cohort::v1::AdminService::Stub> stub_;
  std::string token_;
};

// grpc::Status -> absl::Status with the same code; `what` prefixes the message.
absl::Status FromGrpc(const grpc::Status& status, const std::string& what);

}  // namespace cohort::sim

#endif  // COHORT_SIM_ADMIN_CLIENT_H_
