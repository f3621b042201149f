#ifndef COHORT_SIM_IN_PROCESS_SERVER_H_
#define COHORT_SIM_IN_PROCESS_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/server.h"

namespace cohort::sim {

// cohort-server's own composition root (cohort::server::Server) started inside the simulation:
// in-memory store, plaintext gRPC on 127.0.0.1 with ports picked by the kernel.
//
// Start returns Server::Create's errors (UNAVAILABLE when a port cannot be bound).
// The destructor shuts down (long-polls finish, then the gRPC servers). Accessors are
// thread-safe.
class InProcessServer {
 public:
  static absl::StatusOr<std::unique_ptr<InProcessServer>> Start(const std::string& admin_token);
  ~InProcessServer();

  int device_port() const { return server_->device_port(); }
  int admin_port() const { return server_->admin_port(); }

 private:
  explicit InProcessServer(std::unique_ptr<server::Server> server) : server_(std::move(server)) {}

  std::unique_ptr<server::Server> server_;
};

}  // namespace cohort::sim

#endif  // COHORT_SIM_IN_PROCESS_SERVER_H_
