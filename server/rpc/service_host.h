#ifndef COHORT_SERVER_RPC_SERVICE_HOST_H_
#define COHORT_SERVER_RPC_SERVICE_HOST_H_

// The entry point of the composition root into the coordinator: builds the Coordinator, the
// DeviceService and AdminService implementations, the long-poll registry, the event hub and
// the Prometheus metrics, and runs the deadline ticker.
//
//   ServiceHost::Options options{.store = store.get(), .admin_token = token,
//                                .metrics = registry.get()};
//   COHORT_ASSIGN_OR_RETURN(auto host, ServiceHost::Create(std::move(options)));
//   device_builder.RegisterService(host->device_service());
//   admin_builder.RegisterService(host->admin_service());
//   ... BuildAndStart both servers ...
//   host->Start();      // recovers state from the store, starts the ticker
//   ...
//   host->Shutdown();   // before grpc::Server::Shutdown: finishes parked long-polls and
//                       // event streams so the servers can drain
//
// Admin auth needs no server-builder hook: AdminServiceImpl checks the bearer token itself
// (see admin_service.h for why not an interceptor or AuthMetadataProcessor).
//
// Create returns INVALID_ARGUMENT for a missing store or admin token or a short session key.
// Start returns the store's errors (UNAVAILABLE, INTERNAL) from recovery.
// Start and Shutdown are not to be called concurrently; the services are thread-safe.

#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "grpcpp/impl/codegen/service_type.h"
#include "prometheus/registry.h"
#include "secagg/key_authenticity.h"
#include "server/core/coordinator.h"
#include "server/core/offenders.h"
#include "server/store/store.h"

namespace cohort::server {

class AdminServiceImpl;
class DeviceServiceImpl;
class EventHub;
class LongPollRegistry;
class PrometheusMetrics;
class FanOutObserver;

class ServiceHost {
 public:
  struct Options {
    Store* store = nullptr;        // required, not owned
    Clock* clock = Clock::Real();  // not owned
    std::string admin_token;       // required, non-empty
    std::string session_key;       // >= 32 random bytes; empty -> generated
    // Salt of device pseudonyms; keep it stable across restarts so cool-downs survive them
    // (e.g. from a file next to the admin token). Empty -> derived from session_key.
    std::string pseudonym_salt;
    // PEM of the operator's device CA; empty: semi-malicious tasks are refused.
    std::string device_ca_pem;
    // When a device excluded from rounds is refused for a while.
    OffenderPolicy offenders;
    prometheus::Registry* metrics = nullptr;  // optional, not owned
    absl::Duration tick_interval = absl::Milliseconds(50);
    // Upper bound of a WaitForPhase long-poll (the protocol says 30 s).
    absl::Duration max_long_poll = absl::Seconds(30);
    // Bytes of masked input held at once over all rounds; 0 = no bound.
    int64_t upload_buffer_bytes = 0;
  };

  static absl::StatusOr<std::unique_ptr<ServiceHost>> Create(Options options);
  ~ServiceHost();

  grpc::Service* device_service();
  grpc::Service* admin_service();
  // For tests and tools that want to drive the core directly.
  Coordinator* coordinator() { return coordinator_.get(); }

  // Recovers state from the store (rounds in flight -> FAILED "server restart"), then starts
  // the long-poll notifier and the deadline ticker.
  absl::Status Start();
  // Stops the ticker; finishes parked long-polls with UNAVAILABLE and event streams with OK.
  // Idempotent.
  void Shutdown();

 private:
  explicit ServiceHost(Options options);

  Options options_;
  std::unique_ptr<PrometheusMetrics> metrics_;
  std::unique_ptr<EventHub> events_;
  std::unique_ptr<FanOutObserver> observer_;
  std::unique_ptr<secagg::KeyAuthenticityVerifier> key_verifier_;
  std::unique_ptr<Coordinator> coordinator_;
  std::unique_ptr<LongPollRegistry> long_polls_;
  std::unique_ptr<DeviceServiceImpl> device_service_;
  std::unique_ptr<AdminServiceImpl> admin_service_;
  absl::Notification stop_;
  std::thread ticker_;
  bool shut_down_ = false;
};

}  // namespace cohort::server

#endif  // COHORT_SERVER_RPC_SERVICE_HOST_H_
