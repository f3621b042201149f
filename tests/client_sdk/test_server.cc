#include "tests/client_sdk/test_server.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/server_builder.h"
#include "spdlog/spdlog.h"
#include "tests/client_sdk/memory_store.h"

namespace cohort::client::test_util {
namespace {

constexpr char kAdminToken[] = "client-sdk-test-admin-token-0123456789";

absl::Status FromGrpc(const grpc::Status& s) {
  return s.ok() ? absl::OkStatus()
                : absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

void Authorize(grpc::ClientContext* context) {
  context->AddMetadata("authorization", absl::StrCat("Bearer ", kAdminToken));
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
}

void SetSeconds(google::protobuf::Duration* d, double seconds) {
  d->set_seconds(static_cast<int64_t>(seconds));
  d->set_nanos(static_cast<int32_t>((seconds - static_cast<int64_t>(seconds)) * 1e9));
}

}  // namespace

absl::StatusOr<std::unique_ptr<TestServer>> TestServer::Start(const std::string& device_ca_pem) {
  spdlog::set_level(spdlog::level::warn);  // keep test output to what fails
  std::unique_ptr<TestServer> test(new TestServer());
  test->store_ = NewMemoryStore();
  server::ServiceHost::Options options;
  options.store = test->store_.get();
  options.clock = &test->clock_;
  options.admin_token = kAdminToken;
  options.device_ca_pem = device_ca_pem;
  absl::StatusOr<std::unique_ptr<server::ServiceHost>> host =
      server::ServiceHost::Create(std::move(options));
  if (!host.ok()) return host.status();
  test->host_ = *std::move(host);
  grpc::ServerBuilder builder;
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);  // never share a port (loopback_server.cc)
  // One listener for both services: the SDK only talks to the device service.
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &test->port_);
  builder.RegisterService(test->host_->device_service());
  builder.RegisterService(test->host_->admin_service());
  test->server_ = builder.BuildAndStart();
  if (test->server_ == nullptr || test->port_ == 0) {
    return absl::UnavailableError("cannot listen on 127.0.0.1:0");
  }
  if (absl::Status s = test->host_->Start(); !s.ok()) return s;
  test->admin_ = v1::AdminService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", test->port_), grpc::InsecureChannelCredentials()));
  return test;
}

TestServer::~TestServer() {
  {
    absl::MutexLock lock(&pump_mu_);
    pump_stop_ = true;
  }
  if (pump_.joinable()) pump_.join();
  if (host_ != nullptr) host_->Shutdown();
  if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now());
}

std::string TestServer::device_address() const { return absl::StrCat("127.0.0.1:", port_); }

std::shared_ptr<v1::DeviceService::StubInterface> TestServer::NewDeviceStub() const {
  return v1::DeviceService::NewStub(
      grpc::CreateChannel(device_address(), grpc::InsecureChannelCredentials()));
}

absl::StatusOr<std::string> TestServer::CreateTask(const v1::TaskConfig& config,
                                                   const std::string& onnx_model) {
  grpc::ClientContext context;
  Authorize(&context);
  v1::CreateTaskRequest request;
  *request.mutable_config() = config;
  request.set_onnx_model(onnx_model);
  v1::Task task;
  if (absl::Status s = FromGrpc(admin_->CreateTask(&context, request, &task)); !s.ok()) return s;
  return task.task_id();
}

absl::Status TestServer::StartRounds(const std::string& task_id, int64_t count) {
  grpc::ClientContext context;
  Authorize(&context);
  v1::StartRoundsRequest request;
  request.set_task_id(task_id);
  request.set_count(count);
  v1::Task task;
  return FromGrpc(admin_->StartRounds(&context, request, &task));
}

absl::Status TestServer::AttachCalibrationData(const std::string& task_id,
                                              const std::string& examples) {
  grpc::ClientContext context;
  Authorize(&context);
  v1::AttachCalibrationDataRequest request;
  request.set_task_id(task_id);
  request.set_examples(examples);
  v1::AttachCalibrationDataResponse response;
  return FromGrpc(admin_->AttachCalibrationData(&context, request, &response));
}

absl::StatusOr<std::vector<v1::RoundSummary>> TestServer::ListRounds(const std::string& task_id) {
  grpc::ClientContext context;
  Authorize(&context);
  v1::ListRoundsRequest request;
  request.set_task_id(task_id);
  v1::ListRoundsResponse response;
  if (absl::Status s = FromGrpc(admin_->ListRounds(&context, request, &response)); !s.ok()) {
    return s;
  }
  return std::vector<v1::RoundSummary>(response.rounds().begin(), response.rounds().end());
}

absl::StatusOr<v1::Task> TestServer::GetTask(const std::string& task_id) {
  grpc::ClientContext context;
  Authorize(&context);
  v1::GetTaskRequest request;
  request.set_task_id(task_id);
  v1::Task task;
  if (absl::Status s = FromGrpc(admin_->GetTask(&context, request, &task)); !s.ok()) return s;
  return task;
}

absl::StatusOr<std::vector<float>> TestServer::DownloadModel(const std::string& task_id,
                                                             int64_t version) {
  grpc::ClientContext context;
  Authorize(&context);
  v1::AdminDownloadModelRequest request;
  request.set_task_id(task_id);
  request.set_version(version);
  std::unique_ptr<grpc::ClientReaderInterface<v1::ModelPart>> reader =
      admin_->DownloadModel(&context, request);
  std::string bytes;
  v1::ModelPart part;
  while (reader->Read(&part)) bytes += part.data();
  if (absl::Status s = FromGrpc(reader->Finish()); !s.ok()) return s;
  std::vector<float> values(bytes.size() / sizeof(float));
  std::memcpy(values.data(), bytes.data(), values.size() * sizeof(float));
  return values;
}

void TestServer::AdvanceClock(absl::Duration d) {
  clock_.AdvanceTime(d);
  host_->coordinator()->AdvanceTo(clock_.Now());
}

void TestServer::FollowRealTime() {
  if (pump_.joinable()) return;
  pump_ = std::thread([this] {
    absl::MutexLock lock(&pump_mu_);
    while (!pump_mu_.AwaitWithTimeout(absl::Condition(&pump_stop_), absl::Milliseconds(50))) {
      const absl::Duration behind = absl::Now() - clock_.Now();
      if (behind > absl::ZeroDuration()) AdvanceClock(behind);
    }
  });
}

absl::StatusOr<v1::Task> TestServer::WaitForCommitted(const std::string& task_id, int64_t rounds,
                                                      absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    absl::StatusOr<v1::Task> task = GetTask(task_id);
    if (!task.ok()) return task.status();
    if (task->rounds_committed() >= rounds || task->rounds_failed() > 0) return task;
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat("task ", task_id, " committed ",
                                                      task->rounds_committed(), " rounds"));
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
}

v1::TaskConfig SmallTask(const std::string& population, int devices, bool secagg, int inputs,
                         int classes) {
  v1::TaskConfig config;
  config.set_population(population);
  config.set_display_name(absl::StrCat("client sdk test ", population));
  v1::TensorSpec* kernel = config.mutable_layout()->add_tensors();
  kernel->set_name("dense/kernel");
  kernel->add_shape(inputs);
  kernel->add_shape(classes);
  kernel->set_dtype(v1::DTYPE_FLOAT32);
  v1::TensorSpec* bias = config.mutable_layout()->add_tensors();
  bias->set_name("dense/bias");
  bias->add_shape(classes);
  bias->set_dtype(v1::DTYPE_FLOAT32);
  config.mutable_initial_model()->set_glorot_uniform_seed(7);
  config.mutable_training()->set_local_epochs(1);
  config.mutable_training()->set_batch_size(8);
  config.mutable_training()->set_learning_rate(0.1);
  config.set_target_cohort_size(devices);
  config.set_over_selection_factor(1.0);
  config.set_min_participants(devices);
  v1::PhaseDeadlines* d = config.mutable_deadlines();
  SetSeconds(d->mutable_forming(), 20);
  SetSeconds(d->mutable_advertise_keys(), 10);
  SetSeconds(d->mutable_share_keys(), 10);
  SetSeconds(d->mutable_masked_input(), 20);
  SetSeconds(d->mutable_unmasking(), 10);
  config.mutable_secagg()->set_enabled(secagg);
  // A handful of test devices: the parameter finder needs a tiny dropout assumption and a loose
  // correctness bound to find a threshold at n = 3.
  config.mutable_secagg()->set_expected_dropout_rate(0.001);
  config.mutable_secagg()->set_corrupted_fraction(0.001);
  config.mutable_secagg()->set_correctness_bits(1);
  config.mutable_secagg()->set_security_bits(1);
  config.mutable_codec()->set_encoding(v1::UPDATE_ENCODING_QUANTIZED);
  config.mutable_codec()->set_l2_clip_norm(10.0);
  config.mutable_codec()->set_bits(8);
  config.mutable_codec()->set_max_example_weight(100);
  // The same devices take part in consecutive rounds.
  config.mutable_device_cooldown()->set_seconds(0);
  config.mutable_optimizer()->set_kind(v1::ServerOptimizerConfig::KIND_FEDAVG);
  config.mutable_optimizer()->set_learning_rate(1.0);
  return config;
}

}  // namespace cohort::client::test_util

