#include "tests/recovery/server_process.h"

#include <signal.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "grpcpp/grpcpp.h"

namespace cohort::recovery_test {
namespace {

using cohort::testing::PortFromPortFile;

absl::Status FromGrpc(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

std::unique_ptr<grpc::ClientContext> AdminContext() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->AddMetadata("authorization", absl::StrCat("Bearer ", kAdminToken));
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return context;
}

}  // namespace

AdminClient::AdminClient(const std::string& address)
    : stub_(cohort::v1::AdminService::NewStub(
          grpc::CreateChannel(address, grpc::InsecureChannelCredentials()))) {}

absl::StatusOr<cohort::v1::Task> AdminClient::CreateTask(const cohort::v1::TaskConfig& config) {
  cohort::v1::CreateTaskRequest request;
  *request.mutable_config() = config;
  cohort::v1::Task task;
  if (absl::Status s = FromGrpc(stub_->CreateTask(AdminContext().get(), request, &task));
      !s.ok()) {
    return s;
  }
  return task;
}

absl::Status AdminClient::StartRounds(const std::string& task_id, int64_t count) {
  cohort::v1::StartRoundsRequest request;
  request.set_task_id(task_id);
  request.set_count(count);
  cohort::v1::Task task;
  return FromGrpc(stub_->StartRounds(AdminContext().get(), request, &task));
}

absl::StatusOr<cohort::v1::Task> AdminClient::GetTask(const std::string& task_id) {
  cohort::v1::GetTaskRequest request;
  request.set_task_id(task_id);
  cohort::v1::Task task;
  if (absl::Status s = FromGrpc(stub_->GetTask(AdminContext().get(), request, &task)); !s.ok()) {
    return s;
  }
  return task;
}

absl::StatusOr<std::vector<cohort::v1::RoundSummary>> AdminClient::ListRounds(
    const std::string& task_id) {
  cohort::v1::ListRoundsRequest request;
  request.set_task_id(task_id);
  cohort::v1::ListRoundsResponse response;
  if (absl::Status s = FromGrpc(stub_->ListRounds(AdminContext().get(), request, &response));
      !s.ok()) {
    return s;
  }
  return std::vector<cohort::v1::RoundSummary>(response.rounds().begin(), response.rounds().end());
}

absl::StatusOr<cohort::v1::Model> AdminClient::LatestModel(const std::string& task_id) {
  cohort::v1::AdminDownloadModelRequest request;
  request.set_task_id(task_id);
  auto context = AdminContext();
  auto reader = stub_->DownloadModel(context.get(), request);
  cohort::v1::Model model;
  cohort::v1::ModelPart part;
  std::string bytes;
  bool first = true;
  while (reader->Read(&part)) {
    if (first) {
      model.set_version(part.version());
      *model.mutable_layout() = part.layout();
      model.set_sha256(part.sha256());
      model.set_optimizer_kind(part.optimizer_kind());
      model.set_optimizer_state_version(part.optimizer_state_version());
      first = false;
    }
    if (part.offset() != static_cast<int64_t>(bytes.size())) {
      return absl::DataLossError("model parts out of order");
    }
    bytes += part.data();
  }
  if (absl::Status s = FromGrpc(reader->Finish()); !s.ok()) return s;
  model.set_parameters(std::move(bytes));
  return model;
}

absl::StatusOr<cohort::v1::Task> AdminClient::WaitForTask(
    const std::string& task_id, const std::function<bool(const cohort::v1::Task&)>& done,
    absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    absl::StatusOr<cohort::v1::Task> task = GetTask(task_id);
    if (task.ok() && done(*task)) return task;
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("task ", task_id, " did not get there: ",
                       task.ok() ? task->ShortDebugString() : task.status().ToString()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(const testing::TempDir& dir,
                                                                    const std::string& store_uri) {
  std::ofstream(dir.File("admin.token")) << kAdminToken << "\n";
  std::ofstream(dir.File("pseudonym.salt")) << "recovery-test-pseudonym-salt\n";
  const std::string port_file = dir.File("ports");
  std::remove(port_file.c_str());
  absl::StatusOr<testing::Subprocess> process = testing::Subprocess::Start(
      {COHORT_SERVER_BINARY, "serve", "--device_listen=127.0.0.1:0",
       "--admin_listen=127.0.0.1:0", "--store=" + store_uri, "--migrate_on_start",
       "--admin_token_file=" + dir.File("admin.token"),
       "--pseudonym_salt_file=" + dir.File("pseudonym.salt"), "--port_file=" + port_file,
       "--log_level=info"});
  if (!process.ok()) return process.status();
  std::unique_ptr<ServerProcess> server(new ServerProcess(std::move(*process)));
  absl::StatusOr<std::string> ports = testing::WaitForFile(port_file, absl::Seconds(30));
  if (!ports.ok()) {
    return absl::DeadlineExceededError(
        absl::StrCat("cohort-server did not start: ", server->Output()));
  }
  server->device_port_ = PortFromPortFile(*ports, "device_port");
  server->admin_ = std::make_unique<AdminClient>(
      absl::StrCat("127.0.0.1:", PortFromPortFile(*ports, "admin_port")));
  return server;
}

std::shared_ptr<cohort::v1::DeviceService::Stub> ServerProcess::NewDeviceStub() const {
  grpc::ChannelArguments args;
  args.SetInt("grpc.use_local_subchannel_pool", 1);  // a fresh connection per stub
  return cohort::v1::DeviceService::NewStub(
      grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", device_port_),
                                grpc::InsecureChannelCredentials(), args));
}

absl::Status ServerProcess::Kill() {
  if (absl::Status s = process_.Signal(SIGKILL); !s.ok()) return s;
  return process_.Wait(absl::Seconds(10)).status();
}

}  // namespace cohort::recovery_test
