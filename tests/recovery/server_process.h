#ifndef COHORT_TESTS_RECOVERY_SERVER_PROCESS_H_
#define COHORT_TESTS_RECOVERY_SERVER_PROCESS_H_

// The cohort-server binary as a child process on loopback, and an operator's view of it over the
// admin API, for tests that kill and restart the server or its database.
//
//   auto server = ServerProcess::Start(dir, uri);       // serve --store=uri --migrate_on_start
//   auto task = server->admin().CreateTask(config);
//   server->Kill();                                      // SIGKILL, no shutdown path at all
//
// Not thread-safe, except that device stubs may be used from any thread.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cohort/v1/admin.grpc.pb.h"
#include "cohort/v1/device.grpc.pb.h"
#include "testing/subprocess.h"

namespace cohort::recovery_test {

inline constexpr char kAdminToken[] = "recovery-test-admin-token-0123";

// Admin calls with the bearer token and a 10 s deadline; gRPC errors become absl statuses.
class AdminClient {
 public:
  explicit AdminClient(const std::string& address);

  absl::StatusOr<cohort::v1::Task> CreateTask(const cohort::v1::TaskConfig& config);
  absl::Status StartRounds(const std::string& task_id, int64_t count);
  absl::StatusOr<cohort::v1::Task> GetTask(const std::string& task_id);
  absl::StatusOr<std::vector<cohort::v1::RoundSummary>> ListRounds(const std::string& task_id);
  // The latest model, reassembled from DownloadModel's parts (with the optimizer kind and state
  // version the first part carries).
  absl::StatusOr<cohort::v1::Model> LatestModel(const std::string& task_id);
  // Polls GetTask until `done(task)`; DEADLINE_EXCEEDED with the last task state otherwise.
  absl::StatusOr<cohort::v1::Task> WaitForTask(
      const std::string& task_id, const std::function<bool(const cohort::v1::Task&)>& done,
      absl::Duration timeout);

 private:
  std::unique_ptr<cohort::v1::AdminService::Stub> stub_;
};

class ServerProcess {
 public:
  // Writes the token and salt files into `dir` (the same salt on every start, as an operator's
  // Secret would) and starts `cohort-server serve` on free loopback ports.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(const testing::TempDir& dir,
                                                              const std::string& store_uri);

  int device_port() const { return device_port_; }
  AdminClient& admin() { return *admin_; }
  // A device stub on its own connection.
  std::shared_ptr<cohort::v1::DeviceService::Stub> NewDeviceStub() const;

  // SIGKILL and reap.
  absl::Status Kill();
  // What the server logged so far.
  std::string Output() const { return process_.Output(); }

 private:
  explicit ServerProcess(testing::Subprocess process) : process_(std::move(process)) {}

  testing::Subprocess process_;
  int device_port_ = 0;
  std::unique_ptr<AdminClient> admin_;
};

}  // namespace cohort::recovery_test

#endif  // COHORT_TESTS_RECOVERY_SERVER_PROCESS_H_
