#include "client_sdk/src/transport.h"

#include <chrono>
#include <vector>

#include <catch2/catch.hpp>

#include "client_sdk/src/testing/forwarding_stub.h"

namespace cohort::client::internal {
namespace {

// Records every call's deadline and request; answers with a scripted status.
class RecordingStub : public test_util::ForwardingStub {
 public:
  grpc::Status CheckIn(grpc::ClientContext* context, const v1::CheckInRequest& request,
                       v1::CheckInResponse* response) override {
    deadlines.push_back(context->deadline());
    check_ins.push_back(request);
    if (!status.ok()) return status;
    response->mutable_accepted()->set_session_token("tok");
    return grpc::Status::OK;
  }
  grpc::Status WaitForPhase(grpc::ClientContext* context, const v1::WaitForPhaseRequest&,
                            v1::RoundUpdate* response) override {
    deadlines.push_back(context->deadline());
    if (cancel_during_call != nullptr) cancel_during_call->Cancel();
    response->set_phase(v1::ROUND_PHASE_FORMING);
    return status;
  }

  grpc::Status status = grpc::Status::OK;
  Transport* cancel_during_call = nullptr;
  std::vector<std::chrono::system_clock::time_point> deadlines;
  std::vector<v1::CheckInRequest> check_ins;
};

TEST_CASE("Transport_PassesRequestAndResponseThrough") {
  RecordingStub stub;
  Transport transport(&stub, {.rpc_timeout = absl::Seconds(7)});
  v1::CheckInRequest request;
  request.set_population("pop");
  absl::StatusOr<v1::CheckInResponse> response = transport.CheckIn(request);
  REQUIRE(response.ok());
  CHECK(response->accepted().session_token() == "tok");
  REQUIRE(stub.check_ins.size() == 1);
  CHECK(stub.check_ins[0].population() == "pop");
}

TEST_CASE("Transport_MapsGrpcCodesToAbslCodes") {
  RecordingStub stub;
  stub.status = grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "shedding load");
  Transport transport(&stub, {});
  absl::StatusOr<v1::CheckInResponse> response = transport.CheckIn({});
  CHECK(response.status().code() == absl::StatusCode::kResourceExhausted);
  CHECK(response.status().message() == "shedding load");
}

TEST_CASE("Transport_LongPollDeadlineAddsMaxWaitToTheCallTimeout") {
  RecordingStub stub;
  Transport transport(&stub, {.rpc_timeout = absl::Seconds(5)});
  REQUIRE(transport.CheckIn({}).ok());
  v1::WaitForPhaseRequest poll;
  poll.mutable_max_wait()->set_seconds(600);
  REQUIRE(transport.WaitForPhase(poll).ok());
  REQUIRE(stub.deadlines.size() == 2);
  // The unary call's deadline is ~5 s away, the long-poll's ~605 s: far apart however slow
  // the machine.
  CHECK(stub.deadlines[1] - stub.deadlines[0] > std::chrono::seconds(500));
  CHECK(stub.deadlines[0] - std::chrono::system_clock::now() < std::chrono::seconds(6));
}

TEST_CASE("Transport_CancelMakesTheCallInFlightAndLaterCallsReturnCancelled") {
  RecordingStub stub;
  Transport transport(&stub, {});
  stub.cancel_during_call = &transport;
  CHECK(transport.WaitForPhase({}).status().code() == absl::StatusCode::kCancelled);
  stub.cancel_during_call = nullptr;
  CHECK(transport.CheckIn({}).status().code() == absl::StatusCode::kCancelled);
  CHECK(stub.check_ins.empty());  // never reached the stub
  transport.Reset();
  CHECK(transport.CheckIn({}).ok());
}

}  // namespace
}  // namespace cohort::client::internal
