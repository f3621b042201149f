#include "tests/server/loopback_server.h"

#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"

namespace cohort::server::test_util {
namespace {

void SetSeconds(google::protobuf::Duration* d, absl::Duration value) {
  d->set_seconds(absl::ToInt64Seconds(value));
  d->set_nanos(static_cast<int32_t>(
      absl::ToInt64Nanoseconds(value - absl::Seconds(absl::ToInt64Seconds(value)))));
}

absl::Status FromGrpc(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

}  // namespace

absl::StatusOr<std::unique_ptr<LoopbackServer>> LoopbackServer::Start(absl::Duration tick) {
  std::unique_ptr<LoopbackServer> server(new LoopbackServer());
  ServiceHost::Options options;
  options.store = &server->store_;
  options.clock = &server->clock_;
  options.admin_token = kAdminToken;
  options.metrics = server->metrics_.get();
  options.tick_interval = tick;
  absl::StatusOr<std::unique_ptr<ServiceHost>> host = ServiceHost::Create(std::move(options));
  if (!host.ok()) return host.status();
  server->host_ = std::move(*host);
  grpc::ServerBuilder builder;
  // No SO_REUSEPORT: another test's server started on a probed "free" port must not end up
  // sharing this one and receiving half of its devices' connections.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &server->port_);
  builder.RegisterService(server->host_->device_service());
  builder.RegisterService(server->host_->admin_service());
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError("cannot start the loopback server");
  }
  if (absl::Status s = server->host_->Start(); !s.ok()) return s;
  return server;
}

LoopbackServer::~LoopbackServer() {
  if (host_ != nullptr) host_->Shutdown();
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  }
}

std::string LoopbackServer::address() const { return absl::StrCat("127.0.0.1:", port_); }

std::shared_ptr<cohort::v1::DeviceService::Stub> LoopbackServer::NewDeviceStub() const {
  grpc::ChannelArguments args;
  args.SetInt("grpc.use_local_subchannel_pool", 1);  // a fresh connection per stub
  return cohort::v1::DeviceService::NewStub(
      grpc::CreateCustomChannel(address(), grpc::InsecureChannelCredentials(), args));
}

std::unique_ptr<cohort::v1::AdminService::Stub> LoopbackServer::NewAdminStub() const {
  return cohort::v1::AdminService::NewStub(
      grpc::CreateChannel(address(), grpc::InsecureChannelCredentials()));
}

std::unique_ptr<grpc::ClientContext> LoopbackServer::AdminContext(const std::string& token) {
  auto context = std::make_unique<grpc::ClientContext>();
  if (!token.empty()) context->AddMetadata("authorization", absl::StrCat("Bearer ", token));
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return context;
}

absl::StatusOr<cohort::v1::Task> LoopbackServer::CreateTask(const cohort::v1::TaskConfig& config) {
  auto stub = NewAdminStub();
  cohort::v1::CreateTaskRequest request;
  *request.mutable_config() = config;
  cohort::v1::Task task;
  if (absl::Status s = FromGrpc(stub->CreateTask(AdminContext().get(), request, &task)); !s.ok()) {
    return s;
  }
  return task;
}

absl::Status LoopbackServer::StartRounds(const std::string& task_id, int64_t count) {
  auto stub = NewAdminStub();
  cohort::v1::StartRoundsRequest request;
  request.set_task_id(task_id);
  request.set_count(count);
  cohort::v1::Task task;
  return FromGrpc(stub->StartRounds(AdminContext().get(), request, &task));
}

absl::StatusOr<cohort::v1::Task> LoopbackServer::GetTask(const std::string& task_id) {
  auto stub = NewAdminStub();
  cohort::v1::GetTaskRequest request;
  request.set_task_id(task_id);
  cohort::v1::Task task;
  if (absl::Status s = FromGrpc(stub->GetTask(AdminContext().get(), request, &task)); !s.ok()) {
    return s;
  }
  return task;
}

absl::StatusOr<cohort::v1::Model> LoopbackServer::LatestModel(const std::string& task_id) {
  auto stub = NewAdminStub();
  cohort::v1::AdminDownloadModelRequest request;
  request.set_task_id(task_id);
  auto context = AdminContext();
  auto reader = stub->DownloadModel(context.get(), request);
  cohort::v1::Model model;
  cohort::v1::ModelPart part;
  std::string bytes;
  bool first = true;
  while (reader->Read(&part)) {
    if (first) {
      model.set_version(part.version());
      *model.mutable_layout() = part.layout();
      model.set_sha256(part.sha256());
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

absl::StatusOr<cohort::v1::Task> LoopbackServer::WaitForRoundsEnded(const std::string& task_id,
                                                                    int64_t ended,
                                                                    absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    absl::StatusOr<cohort::v1::Task> task = GetTask(task_id);
    if (!task.ok()) return task.status();
    if (task->rounds_committed() + task->rounds_failed() >= ended) return task;
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("task ", task_id, " ended only ",
                       task->rounds_committed() + task->rounds_failed(), " rounds"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

absl::StatusOr<cohort::v1::Task> LoopbackServer::WaitForPhase(const std::string& task_id,
                                                              int64_t round_number,
                                                              cohort::v1::RoundPhase phase,
                                                              absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    absl::StatusOr<cohort::v1::Task> task = GetTask(task_id);
    if (!task.ok()) return task.status();
    const cohort::v1::RoundSummary& round = task->current_round();
    if (round.round_number() == round_number && round.phase() == phase) return task;
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("task ", task_id, " has round ", round.round_number(), " in ",
                       cohort::v1::RoundPhase_Name(round.phase()), ", not round ", round_number,
                       " in ", cohort::v1::RoundPhase_Name(phase)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void LoopbackServer::AdvanceClock(absl::Duration d) {
  clock_.AdvanceTime(d);
  host_->coordinator()->AdvanceTo(clock_.Now());
}

double LoopbackServer::ParkedLongPolls() {
  for (const prometheus::MetricFamily& family : metrics_->Collect()) {
    if (family.name == "cohort_parked_long_polls" && !family.metric.empty()) {
      return family.metric.front().gauge.value;
    }
  }
  return -1;
}

cohort::v1::TaskConfig SmallTask(const std::string& population, int target, int min, bool secagg,
                                 int params, absl::Duration deadline) {
  cohort::v1::TaskConfig config;
  config.set_population(population);
  config.set_display_name(population);
  auto* tensor = config.mutable_layout()->add_tensors();
  tensor->set_name("dense/kernel");
  tensor->add_shape(params);
  config.mutable_initial_model()->set_glorot_uniform_seed(5);
  config.set_target_cohort_size(target);
  config.set_over_selection_factor(1.0);
  config.set_min_participants(min);
  auto* d = config.mutable_deadlines();
  SetSeconds(d->mutable_forming(), absl::Seconds(30));
  SetSeconds(d->mutable_advertise_keys(), deadline);
  SetSeconds(d->mutable_share_keys(), deadline);
  SetSeconds(d->mutable_masked_input(), deadline);
  SetSeconds(d->mutable_unmasking(), deadline);
  config.mutable_secagg()->set_enabled(secagg);
  if (secagg) {
    // Sized for a couple of dropouts in a handful of devices.
    config.mutable_secagg()->set_expected_dropout_rate(0.3);
    config.mutable_secagg()->set_corrupted_fraction(0.05);
    config.mutable_secagg()->set_correctness_bits(2);
  }
  config.mutable_codec()->set_encoding(cohort::v1::UPDATE_ENCODING_QUANTIZED);
  config.mutable_codec()->set_l2_clip_norm(10.0);
  config.mutable_codec()->set_quantization_range(1.0);
  config.mutable_codec()->set_bits(12);
  config.mutable_codec()->set_max_example_weight(100);
  SetSeconds(config.mutable_device_cooldown(), absl::ZeroDuration());
  return config;
}

}  // namespace cohort::server::test_util
