#include "sim/in_process_server.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#if defined(COHORT_SIM_IN_MEMORY_STORE)
#include "server/store/in_memory_store.h"
#else
// TEMPORARY until server/store's InMemoryStore lands: the core's in-memory test store.
#include "server/core/testing/fake_store.h"
#endif

namespace cohort::sim {
namespace {

std::unique_ptr<server::Store> MakeMemoryStore() {
#if defined(COHORT_SIM_IN_MEMORY_STORE)
  return std::make_unique<server::InMemoryStore>();
#else
  return std::make_unique<server::test_util::FakeStore>();
#endif
}

absl::StatusOr<std::unique_ptr<grpc::Server>> Serve(grpc::Service* service, int* port) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), port);
  builder.RegisterService(service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || *port == 0) {
    return absl::UnavailableError("cannot listen on 127.0.0.1:0");
  }
  return server;
}

}  // namespace

absl::StatusOr<std::unique_ptr<InProcessServer>> InProcessServer::Start(
    const std::string& admin_token) {
  std::unique_ptr<InProcessServer> s(new InProcessServer());
  s->store_ = MakeMemoryStore();
  server::ServiceHost::Options options;
  options.store = s->store_.get();
  options.admin_token = admin_token;
  COHORT_ASSIGN_OR_RETURN(s->host_, server::ServiceHost::Create(std::move(options)));
  COHORT_ASSIGN_OR_RETURN(s->device_server_, Serve(s->host_->device_service(), &s->device_port_));
  COHORT_ASSIGN_OR_RETURN(s->admin_server_, Serve(s->host_->admin_service(), &s->admin_port_));
  COHORT_RETURN_IF_ERROR(s->host_->Start());
  return s;
}

InProcessServer::~InProcessServer() {
  // Parked long-polls first, so the gRPC servers can drain.
  if (host_ != nullptr) host_->Shutdown();
  const auto now = std::chrono::system_clock::now();
  if (device_server_ != nullptr) device_server_->Shutdown(now);
  if (admin_server_ != nullptr) admin_server_->Shutdown(now);
  device_server_.reset();
  admin_server_.reset();
  host_.reset();
}

}  // namespace cohort::sim
