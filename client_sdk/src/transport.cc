#include "client_sdk/src/transport.h"

#include <chrono>

namespace cohort::client::internal {
namespace {

constexpr absl::Duration kLeaveTimeout = absl::Seconds(2);

absl::Duration FromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

}  // namespace

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

Transport::Transport(v1::DeviceService::StubInterface* stub, TransportOptions options)
    : stub_(stub), options_(options) {}

template <typename Request, typename Response, typename Method>
absl::StatusOr<Response> Transport::Call(Method method, const Request& request,
                                         absl::Duration timeout) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
  // Wait for the channel to connect rather than fail fast: a fail-fast call ends at once while
  // the channel reconnects, and then nothing polls the connection attempt, whose connect and
  // TLS handshake miss gRPC's connect deadline again and again (a TLS channel took minutes to
  // reach a restarted server, if ever). An unreachable server now costs the call its deadline
  // and ends in DEADLINE_EXCEEDED, transient like UNAVAILABLE.
  context.set_wait_for_ready(true);
  {
    absl::MutexLock lock(&mu_);
    if (cancelled_) return absl::CancelledError("participation cancelled");
    in_flight_ = &context;
  }
  Response response;
  grpc::Status status = (stub_->*method)(&context, request, &response);
  {
    absl::MutexLock lock(&mu_);
    in_flight_ = nullptr;
    if (cancelled_) return absl::CancelledError("participation cancelled");
  }
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

absl::StatusOr<v1::CheckInResponse> Transport::CheckIn(const v1::CheckInRequest& request) {
  return Call<v1::CheckInRequest, v1::CheckInResponse>(
      &v1::DeviceService::StubInterface::CheckIn, request, options_.rpc_timeout);
}

absl::StatusOr<v1::RoundUpdate> Transport::WaitForPhase(const v1::WaitForPhaseRequest& request) {
  return Call<v1::WaitForPhaseRequest, v1::RoundUpdate>(
      &v1::DeviceService::StubInterface::WaitForPhase, request,
      options_.rpc_timeout + FromProto(request.max_wait()));
}

absl::StatusOr<v1::FetchInferenceModelResponse> Transport::FetchInferenceModel(
    const v1::FetchInferenceModelRequest& request) {
  return Call<v1::FetchInferenceModelRequest, v1::FetchInferenceModelResponse>(
      &v1::DeviceService::StubInterface::FetchInferenceModel, request, options_.rpc_timeout);
}

absl::StatusOr<v1::ModelChunk> Transport::DownloadModel(const v1::DownloadModelRequest& request) {
  return Call<v1::DownloadModelRequest, v1::ModelChunk>(
      &v1::DeviceService::StubInterface::DownloadModel, request, options_.rpc_timeout);
}

absl::StatusOr<v1::AdvertiseKeysResponse> Transport::AdvertiseKeys(
    const v1::AdvertiseKeysRequest& request) {
  return Call<v1::AdvertiseKeysRequest, v1::AdvertiseKeysResponse>(
      &v1::DeviceService::StubInterface::AdvertiseKeys, request, options_.rpc_timeout);
}

absl::StatusOr<v1::ShareKeysResponse> Transport::ShareKeys(const v1::ShareKeysRequest& request) {
  return Call<v1::ShareKeysRequest, v1::ShareKeysResponse>(
      &v1::DeviceService::StubInterface::ShareKeys, request, options_.rpc_timeout);
}

absl::StatusOr<v1::ReportSharesResponse> Transport::ReportShares(
    const v1::ReportSharesRequest& request) {
  return Call<v1::ReportSharesRequest, v1::ReportSharesResponse>(
      &v1::DeviceService::StubInterface::ReportShares, request, options_.rpc_timeout);
}

absl::StatusOr<v1::SignSurvivorsResponse> Transport::SignSurvivors(
    const v1::SignSurvivorsRequest& request) {
  return Call<v1::SignSurvivorsRequest, v1::SignSurvivorsResponse>(
      &v1::DeviceService::StubInterface::SignSurvivors, request, options_.rpc_timeout);
}

absl::StatusOr<v1::UploadMaskedInputResponse> Transport::UploadMaskedInput(
    const v1::UploadMaskedInputRequest& request) {
  return Call<v1::UploadMaskedInputRequest, v1::UploadMaskedInputResponse>(
      &v1::DeviceService::StubInterface::UploadMaskedInput, request, options_.rpc_timeout);
}

absl::StatusOr<v1::SubmitUnmaskingResponse> Transport::SubmitUnmasking(
    const v1::SubmitUnmaskingRequest& request) {
  return Call<v1::SubmitUnmaskingRequest, v1::SubmitUnmaskingResponse>(
      &v1::DeviceService::StubInterface::SubmitUnmasking, request, options_.rpc_timeout);
}

absl::StatusOr<v1::LeaveResponse> Transport::Leave(const v1::LeaveRequest& request) {
  return Call<v1::LeaveRequest, v1::LeaveResponse>(&v1::DeviceService::StubInterface::Leave,
                                                   request, kLeaveTimeout);
}

void Transport::Cancel() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
  if (in_flight_ != nullptr) in_flight_->TryCancel();
}

void Transport::Reset() {
  absl::MutexLock lock(&mu_);
  cancelled_ = false;
}

bool Transport::cancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

}  // namespace cohort::client::internal
