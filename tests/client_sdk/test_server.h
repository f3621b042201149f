#ifndef COHORT_TESTS_CLIENT_SDK_TEST_SERVER_H_
#define COHORT_TESTS_CLIENT_SDK_TEST_SERVER_H_

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "cohort/v1/admin.grpc.pb.h"
#include "cohort/v1/device.grpc.pb.h"
#include "grpcpp/server.h"
#include "server/rpc/service_host.h"
#include "server/store/store.h"

namespace cohort::client::test_util {

// The real cohort server: ServiceHost (coordinator, device and admin services) over the
// in-memory store, served on 127.0.0.1 with a free port, plus an admin stub that carries the
// bearer token. The server's clock is simulated and never moves: no phase deadline passes, so an
// SDK device slowed down by a loaded machine is never dropped (none of these tests needs a
// deadline to pass; each phase closes when every device has acted).
// This class is not thread-safe except for the stubs it hands out.
class TestServer {
 public:
  // `device_ca_pem`: the operator's device CA, needed for semi-malicious tasks.
  static absl::StatusOr<std::unique_ptr<TestServer>> Start(const std::string& device_ca_pem = "");
  ~TestServer();

  std::string device_address() const;
  // A fresh stub on a fresh channel to the device service.
  std::shared_ptr<v1::DeviceService::StubInterface> NewDeviceStub() const;

  // Creates the task (from `onnx_model` when not empty) and returns its id.
  absl::StatusOr<std::string> CreateTask(const v1::TaskConfig& config,
                                         const std::string& onnx_model = "");
  absl::Status AttachCalibrationData(const std::string& task_id, const std::string& examples);
  // The task's rounds, newest first.
  absl::StatusOr<std::vector<v1::RoundSummary>> ListRounds(const std::string& task_id);
  absl::Status StartRounds(const std::string& task_id, int64_t count);
  absl::StatusOr<v1::Task> GetTask(const std::string& task_id);
  // The parameters of model `version` (0 = latest), through the admin API.
  absl::StatusOr<std::vector<float>> DownloadModel(const std::string& task_id, int64_t version);
  // Moves the server's clock by `d` and enforces deadlines at once.
  void AdvanceClock(absl::Duration d);
  // From now on the server's clock keeps up with real time (a thread moves it every 50 ms), so
  // phase deadlines pass on their own. For the few tests whose scenario is a device that never
  // answers and that cannot name the moment to move the clock; every other test keeps the clock
  // still and moves it itself.
  void FollowRealTime();
  // Polls until the task has committed `rounds` rounds (or failed one); DEADLINE_EXCEEDED.
  absl::StatusOr<v1::Task> WaitForCommitted(const std::string& task_id, int64_t rounds,
                                            absl::Duration timeout);

 private:
  TestServer() = default;
  SimulatedClock clock_{absl::Now()};
  absl::Mutex pump_mu_;
  bool pump_stop_ ABSL_GUARDED_BY(pump_mu_) = false;
  std::thread pump_;
  std::unique_ptr<server::Store> store_;
  std::unique_ptr<server::ServiceHost> host_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::unique_ptr<v1::AdminService::Stub> admin_;
};

// Softmax regression over `inputs` features and `classes` classes, `devices` per round
// (over-selection 1, every device needed), short deadlines, QUANTIZED codec; secure
// aggregation when `secagg`.
v1::TaskConfig SmallTask(const std::string& population, int devices, bool secagg, int inputs = 4,
                         int classes = 3);

}  // namespace cohort::client::test_util

#endif  // COHORT_TESTS_CLIENT_SDK_TEST_SERVER_H_
