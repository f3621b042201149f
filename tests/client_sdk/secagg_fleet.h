#ifndef COHORT_TESTS_CLIENT_SDK_SECAGG_FLEET_H_
#define COHORT_TESTS_CLIENT_SDK_SECAGG_FLEET_H_

// SDK devices in a secure-aggregation round of the real server on loopback, each talking to it
// through a man in the middle the test controls: for the tests that play a lying server
// (secagg_attacks_test.cc) and kill devices mid-round (crash_safety_test.cc).
//
//   SecAggFleet fleet({.population = "p", .devices = 5});
//   fleet.devices[0]->before = [](const std::string& method, const Message& request,
//                                 Message* response) -> std::optional<grpc::Status> { ... };
//   REQUIRE(fleet.server->StartRounds(fleet.task_id, 1).ok());
//   auto results = fleet.RunAll();
//
// Hooks run on the device's participation thread; state they share across devices needs a lock.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client_sdk/src/testing/forwarding_stub.h"
#include "client_sdk/trainer/eigen_trainer.h"
#include "cohort/client/client.h"
#include "cohort/v1/plan.pb.h"
#include "google/protobuf/message.h"
#include "secagg/testing/test_ca.h"
#include "testing/subprocess.h"
#include "tests/client_sdk/test_server.h"

namespace cohort::client::test_util {

// A device's channel with a man in the middle: each call first passes `before`, which answers
// in the server's place (returns a status, having filled `response`) or lets the call through
// (nullopt); then `after` sees the server's answer and may rewrite it or its status. `method`
// is the RPC's name ("ShareKeys"). Either hook may be empty.
class InterceptingStub : public ForwardingStub {
 public:
  using Before = std::function<std::optional<grpc::Status>(const std::string& method,
                                                           const google::protobuf::Message& request,
                                                           google::protobuf::Message* response)>;
  using After =
      std::function<void(const std::string& method, const google::protobuf::Message& request,
                         google::protobuf::Message* response, grpc::Status* status)>;

  InterceptingStub(std::shared_ptr<v1::DeviceService::StubInterface> target, Before before,
                   After after)
      : ForwardingStub(target.get()),
        owned_target_(std::move(target)),
        before_(std::move(before)),
        after_(std::move(after)) {}

#define COHORT_INTERCEPT_(Method, Request, Response)                                      \
  grpc::Status Method(grpc::ClientContext* context, const v1::Request& request,           \
                      v1::Response* response) override {                                  \
    if (before_) {                                                                        \
      if (std::optional<grpc::Status> s = before_(#Method, request, response)) return *s; \
    }                                                                                     \
    grpc::Status status = ForwardingStub::Method(context, request, response);             \
    if (after_) after_(#Method, request, response, &status);                              \
    return status;                                                                        \
  }
  COHORT_INTERCEPT_(CheckIn, CheckInRequest, CheckInResponse)
  COHORT_INTERCEPT_(WaitForPhase, WaitForPhaseRequest, RoundUpdate)
  COHORT_INTERCEPT_(DownloadModel, DownloadModelRequest, ModelChunk)
  COHORT_INTERCEPT_(AdvertiseKeys, AdvertiseKeysRequest, AdvertiseKeysResponse)
  COHORT_INTERCEPT_(ShareKeys, ShareKeysRequest, ShareKeysResponse)
  COHORT_INTERCEPT_(ReportShares, ReportSharesRequest, ReportSharesResponse)
  COHORT_INTERCEPT_(SignSurvivors, SignSurvivorsRequest, SignSurvivorsResponse)
  COHORT_INTERCEPT_(UploadMaskedInput, UploadMaskedInputRequest, UploadMaskedInputResponse)
  COHORT_INTERCEPT_(SubmitUnmasking, SubmitUnmaskingRequest, SubmitUnmaskingResponse)
  COHORT_INTERCEPT_(Leave, LeaveRequest, LeaveResponse)
#undef COHORT_INTERCEPT_

 private:
  std::shared_ptr<v1::DeviceService::StubInterface> owned_target_;
  const Before before_;
  const After after_;
};

struct FleetOptions {
  std::string population;
  int devices = 3;
  v1::ThreatModel threat_model = v1::THREAT_MODEL_HONEST_BUT_CURIOUS;
  double dropout_rate = 0.001;
  double corrupted_fraction = 0.001;
  // Phase deadlines of every secure-aggregation phase after forming.
  absl::Duration phase_deadline = absl::Seconds(10);
};

// One phone: its trainer and storage dir, and a Client whose every call goes through the hooks.
struct SdkDevice {
  int number = 0;
  std::string id;
  std::string storage_dir;
  std::unique_ptr<EigenTrainer> trainer;
  InterceptingStub::Before before;
  InterceptingStub::After after;
  std::unique_ptr<Client> client;

  // A fresh Client (a new process: new channel, same storage dir and device key). Safe to call
  // from a device's thread (no test assertions inside).
  absl::Status Connect();
  // Destroys the Client, as a killed process leaves it: what was persisted stays.
  void Kill() { client.reset(); }

  // Set by SecAggFleet.
  TestServer* server = nullptr;
  Config config;
};

struct SecAggFleet {
  explicit SecAggFleet(const FleetOptions& options);

  // Each device's participation on its own thread, `run` (default: Connect then RunOnce).
  std::vector<absl::StatusOr<ParticipationOutcome>> RunAll(
      std::function<absl::StatusOr<ParticipationOutcome>(SdkDevice&)> run = nullptr);

  std::optional<secagg::TestCa> ca;  // semi-malicious fleets
  std::unique_ptr<TestServer> server;
  std::string task_id;
  cohort::testing::TempDir dir;
  std::vector<std::unique_ptr<SdkDevice>> devices;
};

}  // namespace cohort::client::test_util

#endif  // COHORT_TESTS_CLIENT_SDK_SECAGG_FLEET_H_
