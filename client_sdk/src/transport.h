#ifndef COHORT_CLIENT_SDK_SRC_TRANSPORT_H_
#define COHORT_CLIENT_SDK_SRC_TRANSPORT_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cohort/v1/device.grpc.pb.h"
#include "grpcpp/client_context.h"

namespace cohort::client::internal {

struct TransportOptions {
  // Deadline of each unary call.
  absl::Duration rpc_timeout = absl::Seconds(30);
};

// The device's calls, over any DeviceService::StubInterface (the generated stub on a channel,
// or a recording fake in tests). Each call gets its own deadline (rpc_timeout; a WaitForPhase
// gets its max_wait on top) and returns the gRPC status as an absl::Status with the same code.
//
// Cancel() aborts the call in flight (it returns CANCELLED) and makes every later call return
// CANCELLED at once until Reset(). The stub is not owned and must outlive the transport.
//
// This class is thread-safe: Cancel() and Reset() may be called from any thread; the calls
// themselves are meant for one thread at a time.
class Transport {
 public:
  Transport(v1::DeviceService::StubInterface* stub, TransportOptions options);

  absl::StatusOr<v1::CheckInResponse> CheckIn(const v1::CheckInRequest& request);
  absl::StatusOr<v1::RoundUpdate> WaitForPhase(const v1::WaitForPhaseRequest& request);
  absl::StatusOr<v1::ModelChunk> DownloadModel(const v1::DownloadModelRequest& request);
  absl::StatusOr<v1::AdvertiseKeysResponse> AdvertiseKeys(
      const v1::AdvertiseKeysRequest& request);
  absl::StatusOr<v1::ShareKeysResponse> ShareKeys(const v1::ShareKeysRequest& request);
  absl::StatusOr<v1::ReportSharesResponse> ReportShares(const v1::ReportSharesRequest& request);
  absl::StatusOr<v1::SignSurvivorsResponse> SignSurvivors(const v1::SignSurvivorsRequest& request);
  absl::StatusOr<v1::UploadMaskedInputResponse> UploadMaskedInput(
      const v1::UploadMaskedInputRequest& request);
  absl::StatusOr<v1::SubmitUnmaskingResponse> SubmitUnmasking(
      const v1::SubmitUnmaskingRequest& request);
  // Best effort, with a short deadline (the device is leaving anyway).
  absl::StatusOr<v1::LeaveResponse> Leave(const v1::LeaveRequest& request);
  absl::StatusOr<v1::FetchInferenceModelResponse> FetchInferenceModel(
      const v1::FetchInferenceModelRequest& request);

  void Cancel();
  void Reset();
  bool cancelled() const;

 private:
  template <typename Request, typename Response, typename Method>
  absl::StatusOr<Response> Call(Method method, const Request& request, absl::Duration timeout);

  v1::DeviceService::StubInterface* const stub_;
  const TransportOptions options_;
  mutable absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* in_flight_ ABSL_GUARDED_BY(mu_) = nullptr;
};

// Converts at the edge; the message is kept as is.
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace cohort::client::internal

#endif  // COHORT_CLIENT_SDK_SRC_TRANSPORT_H_
