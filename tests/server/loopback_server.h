#ifndef COHORT_TESTS_SERVER_LOOPBACK_SERVER_H_
#define COHORT_TESTS_SERVER_LOOPBACK_SERVER_H_

// The coordinator's services (ServiceHost) on a real grpc::Server at 127.0.0.1:<free port>,
// in process, over the in-memory store (behind a fault-injecting decorator), with stubs for
// devices and operators.
//
//   COHORT_ASSIGN_OR_RETURN(auto server, LoopbackServer::Start());
//   auto admin = server->AdminStub();          // carries the bearer token
//   auto device = server->NewDeviceStub();     // a fresh channel
//   ...wait until every device but the silent one is done with the phase...
//   server->PassPhaseDeadline();               // now the silent device is dropped
//
// The server's clock is simulated: it starts at the real time and moves only when the test
// moves it. On two cores shared with other builds an honest device can take seconds to answer,
// and a real-time deadline would drop it; here no deadline passes unless the test says so, and
// a test that needs one to pass first waits for the event that makes it the right moment.
//
// This class is thread-safe except for construction and destruction.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "cohort/v1/admin.grpc.pb.h"
#include "cohort/v1/device.grpc.pb.h"
#include "grpcpp/server.h"
#include "prometheus/registry.h"
#include "server/rpc/service_host.h"
#include "server/store/testing/fault_injecting_store.h"

namespace cohort::server::test_util {

inline constexpr char kAdminToken[] = "test-admin-token-0123456789";
// The phase deadlines of SmallTask: they pass only when the test moves the clock.
inline constexpr absl::Duration kPhaseDeadline = absl::Seconds(60);

class LoopbackServer {
 public:
  static absl::StatusOr<std::unique_ptr<LoopbackServer>> Start(
      absl::Duration tick = absl::Milliseconds(20));
  ~LoopbackServer();

  std::string address() const;
  std::shared_ptr<cohort::v1::DeviceService::Stub> NewDeviceStub() const;
  // Unauthenticated stub; use AdminContext() for calls.
  std::unique_ptr<cohort::v1::AdminService::Stub> NewAdminStub() const;
  // A context with the bearer token and a 10 s deadline.
  static std::unique_ptr<grpc::ClientContext> AdminContext(const std::string& token = kAdminToken);

  // Admin helpers: CreateTask, StartRounds(count), and waiting for the task to settle.
  absl::StatusOr<cohort::v1::Task> CreateTask(const cohort::v1::TaskConfig& config);
  absl::Status StartRounds(const std::string& task_id, int64_t count);
  absl::StatusOr<cohort::v1::Task> GetTask(const std::string& task_id);
  absl::StatusOr<cohort::v1::Model> LatestModel(const std::string& task_id);
  // Polls until rounds_committed + rounds_failed >= `ended`.
  absl::StatusOr<cohort::v1::Task> WaitForRoundsEnded(const std::string& task_id, int64_t ended,
                                                      absl::Duration timeout);
  // Polls until the round in flight is round `round_number` in `phase`.
  absl::StatusOr<cohort::v1::Task> WaitForPhase(const std::string& task_id, int64_t round_number,
                                                cohort::v1::RoundPhase phase,
                                                absl::Duration timeout);

  // Moves the server's clock by `d` and enforces deadlines at once (the ticker would too, a
  // tick later).
  void AdvanceClock(absl::Duration d);
  // Moves the clock past a SmallTask phase deadline (kPhaseDeadline).
  void PassPhaseDeadline() { AdvanceClock(kPhaseDeadline + absl::Seconds(1)); }
  SimulatedClock& clock() { return clock_; }
  // WaitForPhase calls parked on the server now (the cohort_parked_long_polls gauge).
  double ParkedLongPolls();

  // The production InMemoryStore behind a fault-injecting decorator.
  FaultInjectingStore& store() { return store_; }
  ServiceHost& host() { return *host_; }
  prometheus::Registry& metrics() { return *metrics_; }

 private:
  LoopbackServer() = default;
  SimulatedClock clock_{absl::Now()};
  FaultInjectingStore store_;
  std::shared_ptr<prometheus::Registry> metrics_ = std::make_shared<prometheus::Registry>();
  std::unique_ptr<ServiceHost> host_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

// A small task: `params` float parameters in one tensor, `target` devices selected (no
// over-selection), `min` needed, phase deadlines `deadline`, QUANTIZED codec with clip 10 and
// range 1.
cohort::v1::TaskConfig SmallTask(const std::string& population, int target, int min, bool secagg,
                                 int params = 8, absl::Duration deadline = kPhaseDeadline);

}  // namespace cohort::server::test_util

#endif  // COHORT_TESTS_SERVER_LOOPBACK_SERVER_H_
