#ifndef COHORT_TESTS_CLIENT_SDK_TEST_SERVER_H_
#define COHORT_TESTS_CLIENT_SDK_TEST_SERVER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cohort/v1/admin.grpc.pb.h"
#include "cohort/v1/device.grpc.pb.h"
#include "grpcpp/server.h"
#include "server/rpc/service_host.h"
#include "server/store/store.h"

namespace cohort::client::test_util {

// The real cohort server: helper-3's ServiceHost (coordinator, device and admin services) over a
// memory store, served on 127.0.0.1 with a free port, plus an admin stub that carries the bearer
// token. This class is not thread-safe except for
// the stubs it hands out.
class TestServer {
 public:
  // `device_ca_pem`: the operator's device CA, needed for semi-malicious tasks.
  static absl::StatusOr<std::unique_ptr<TestServer>> Start(const std::string& device_ca_pem = "");
  ~TestServer();

  std::string device_address() const;
  // A fresh stub on a fresh channel to the device service.
  std::shared_ptr<v1::DeviceService::StubInterface> NewDeviceStub() const;

  // Creates the task and returns its id.
  absl::StatusOr<std::string> CreateTask(const v1::TaskConfig& config);
  absl::Status StartRounds(const std::string& task_id, int64_t count);
  absl::StatusOr<v1::Task> GetTask(const std::string& task_id);
  // The parameters of model `version` (0 = latest), through the admin API.
  absl::StatusOr<std::vector<float>> DownloadModel(const std::string& task_id, int64_t version);
  // Polls until the task has committed `rounds` rounds (or failed one); DEADLINE_EXCEEDED.
  absl::StatusOr<v1::Task> WaitForCommitted(const std::string& task_id, int64_t rounds,
                                            absl::Duration timeout);

 private:
  TestServer() = default;
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
