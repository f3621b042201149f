#ifndef COHORT_TESTS_SERVER_LOOPBACK_SERVER_H_
#define COHORT_TESTS_SERVER_LOOPBACK_SERVER_H_

// The coordinator's services (ServiceHost) on a real grpc::Server at 127.0.0.1:<free port>,
// in process, over a recording in-memory store, with stubs for devices and operators.
//
//   COHORT_ASSIGN_OR_RETURN(auto server, LoopbackServer::Start());
//   auto admin = server->AdminStub();          // carries the bearer token
//   auto device = server->NewDeviceStub();     // a fresh channel
//
// This class is thread-safe except for construction and destruction.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cohort/v1/admin.grpc.pb.h"
#include "cohort/v1/device.grpc.pb.h"
#include "grpcpp/server.h"
#include "prometheus/registry.h"
#include "server/core/testing/fake_store.h"
#include "server/rpc/service_host.h"

namespace cohort::server::test_util {

inline constexpr char kAdminToken[] = "test-admin-token-0123456789";

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

  FakeStore& store() { return store_; }
  ServiceHost& host() { return *host_; }
  prometheus::Registry& metrics() { return *metrics_; }

 private:
  LoopbackServer() = default;
  FakeStore store_;
  std::shared_ptr<prometheus::Registry> metrics_ = std::make_shared<prometheus::Registry>();
  std::unique_ptr<ServiceHost> host_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

// A small task: `params` float parameters in one tensor, `target` devices selected (no
// over-selection), `min` needed, short deadlines, QUANTIZED codec with clip 10 and range 1.
cohort::v1::TaskConfig SmallTask(const std::string& population, int target, int min, bool secagg,
                                 int params = 8, absl::Duration deadline = absl::Seconds(3));

}  // namespace cohort::server::test_util

#endif  // COHORT_TESTS_SERVER_LOOPBACK_SERVER_H_
