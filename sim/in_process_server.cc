#include "sim/in_process_server.h"

#include "base/status_macros.h"

namespace cohort::sim {

absl::StatusOr<std::unique_ptr<InProcessServer>> InProcessServer::Start(
    const std::string& admin_token) {
  server::Options options;
  options.device_listen_address = "127.0.0.1:0";
  options.admin_listen_address = "127.0.0.1:0";
  options.admin_token = admin_token;
  options.store = "memory";
  COHORT_ASSIGN_OR_RETURN(auto server, server::Server::Create(std::move(options)));
  return std::unique_ptr<InProcessServer>(new InProcessServer(std::move(server)));
}

InProcessServer::~InProcessServer() { server_->Shutdown(absl::ZeroDuration()); }

}  // namespace cohort::sim
