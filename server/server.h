#ifndef COHORT_SERVER_SERVER_H_
#define COHORT_SERVER_SERVER_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/server.h"
#include "prometheus/exposer.h"
#include "prometheus/registry.h"
#include "server/options.h"
#include "server/rpc/service_host.h"
#include "server/store/store.h"

namespace cohort::server {

// The composition root: wires the store, the coordinator's services, the two gRPC servers
// (device and admin, each with health checking and reflection), TLS and metrics.
//
//   COHORT_ASSIGN_OR_RETURN(auto server, Server::Create(options));
//   server->Wait();  // until Shutdown() is called from another thread
//
// Start-up order: (migrations when migrate_on_start) -> store -> coordinator services -> both
// gRPC servers -> recovery (rounds in flight become FAILED "server restart") and the deadline
// ticker. Shutdown reverses it: health NOT_SERVING, parked long-polls and event streams finish,
// then the servers drain.
//
// Create returns INVALID_ARGUMENT for bad options, UNAVAILABLE when a port cannot be bound or
// the store cannot be reached, FAILED_PRECONDITION for a database schema that does not match.
// Shutdown and the port accessors are thread-safe.
class Server {
 public:
  static absl::StatusOr<std::unique_ptr<Server>> Create(Options options);
  ~Server();

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  int device_port() const { return device_port_; }
  int admin_port() const { return admin_port_; }
  // 0 when metrics are off.
  int metrics_port() const { return metrics_port_; }

  // Blocks until Shutdown() has completed.
  void Wait();
  // Marks the services NOT_SERVING, lets calls in flight finish for up to `grace`, then stops.
  // Idempotent.
  void Shutdown(absl::Duration grace = absl::Seconds(5));

 private:
  explicit Server(Options options);
  absl::Status Start();

  Options options_;
  // Members are destroyed in reverse: the servers first, then the exposer, the services, the
  // store, and last the registry the services' metrics live in.
  std::shared_ptr<prometheus::Registry> metrics_ = std::make_shared<prometheus::Registry>();
  std::unique_ptr<Store> store_;
  std::unique_ptr<ServiceHost> host_;
  std::unique_ptr<prometheus::Exposer> metrics_exposer_;
  std::unique_ptr<grpc::Server> device_server_;
  std::unique_ptr<grpc::Server> admin_server_;
  int device_port_ = 0;
  int admin_port_ = 0;
  int metrics_port_ = 0;
  std::once_flag shutdown_once_;
};

}  // namespace cohort::server

#endif  // COHORT_SERVER_SERVER_H_
