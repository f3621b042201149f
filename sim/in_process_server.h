#ifndef COHORT_SIM_IN_PROCESS_SERVER_H_
#define COHORT_SIM_IN_PROCESS_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/server.h"
#include "server/rpc/service_host.h"
#include "server/store/store.h"

namespace cohort::sim {

// The coordinator as cohort-server runs it (ServiceHost: device and admin services over the
// core, deadline ticker, long-polls), with an in-memory store, serving plaintext gRPC on
// 127.0.0.1 with ports picked by the kernel. For simulations and tests.
//
// Start returns UNAVAILABLE when a port cannot be bound, and ServiceHost's errors.
// The destructor shuts down (long-polls finish, then the gRPC servers). Accessors are
// thread-safe.
class InProcessServer {
 public:
  static absl::StatusOr<std::unique_ptr<InProcessServer>> Start(const std::string& admin_token);
  ~InProcessServer();

  int device_port() const { return device_port_; }
  int admin_port() const { return admin_port_; }

 private:
  InProcessServer() = default;

  std::unique_ptr<server::Store> store_;
  std::unique_ptr<server::ServiceHost> host_;
  std::unique_ptr<grpc::Server> device_server_;
  std::unique_ptr<grpc::Server> admin_server_;
  int device_port_ = 0;
  int admin_port_ = 0;
};

}  // namespace cohort::sim

#endif  // COHORT_SIM_IN_PROCESS_SERVER_H_
