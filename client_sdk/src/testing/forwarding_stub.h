#ifndef COHORT_CLIENT_SDK_SRC_TESTING_FORWARDING_STUB_H_
#define COHORT_CLIENT_SDK_SRC_TESTING_FORWARDING_STUB_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "cohort/v1/device.grpc.pb.h"

namespace cohort::client::test_util {

// A DeviceService::StubInterface that hands every unary call to `target` (or answers
// UNIMPLEMENTED without one). Test doubles derive from it and override the calls they fake,
// intercept or record; the async entry points are not used by the SDK and return null.
// Thread-safety: as the target's; overrides add their own locking.
class ForwardingStub : public v1::DeviceService::StubInterface {
 public:
  explicit ForwardingStub(v1::DeviceService::StubInterface* target = nullptr)
      : target_(target) {}

#define COHORT_FORWARD_(Method, Request, Response)                                          \
  grpc::Status Method(grpc::ClientContext* context, const v1::Request& request,             \
                      v1::Response* response) override {                                   \
    if (target_ == nullptr) return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, #Method);  \
    return target_->Method(context, request, response);                                     \
  }
  COHORT_FORWARD_(CheckIn, CheckInRequest, CheckInResponse)
  COHORT_FORWARD_(WaitForPhase, WaitForPhaseRequest, RoundUpdate)
  COHORT_FORWARD_(DownloadModel, DownloadModelRequest, ModelChunk)
  COHORT_FORWARD_(AdvertiseKeys, AdvertiseKeysRequest, AdvertiseKeysResponse)
  COHORT_FORWARD_(ShareKeys, ShareKeysRequest, ShareKeysResponse)
  COHORT_FORWARD_(ReportShares, ReportSharesRequest, ReportSharesResponse)
  COHORT_FORWARD_(SignSurvivors, SignSurvivorsRequest, SignSurvivorsResponse)
  COHORT_FORWARD_(UploadMaskedInput, UploadMaskedInputRequest, UploadMaskedInputResponse)
  COHORT_FORWARD_(SubmitUnmasking, SubmitUnmaskingRequest, SubmitUnmaskingResponse)
  COHORT_FORWARD_(Leave, LeaveRequest, LeaveResponse)
  COHORT_FORWARD_(FetchInferenceModel, FetchInferenceModelRequest, FetchInferenceModelResponse)
#undef COHORT_FORWARD_

 protected:
  v1::DeviceService::StubInterface* target() const { return target_; }

 private:
#define COHORT_NO_ASYNC_(Method, Request, Response)                                          \
  grpc::ClientAsyncResponseReaderInterface<v1::Response>* Async##Method##Raw(                \
      grpc::ClientContext*, const v1::Request&, grpc::CompletionQueue*) override {           \
    return nullptr;                                                                          \
  }                                                                                          \
  grpc::ClientAsyncResponseReaderInterface<v1::Response>* PrepareAsync##Method##Raw(         \
      grpc::ClientContext*, const v1::Request&, grpc::CompletionQueue*) override {           \
    return nullptr;                                                                          \
  }
  COHORT_NO_ASYNC_(CheckIn, CheckInRequest, CheckInResponse)
  COHORT_NO_ASYNC_(WaitForPhase, WaitForPhaseRequest, RoundUpdate)
  COHORT_NO_ASYNC_(DownloadModel, DownloadModelRequest, ModelChunk)
  COHORT_NO_ASYNC_(AdvertiseKeys, AdvertiseKeysRequest, AdvertiseKeysResponse)
  COHORT_NO_ASYNC_(ShareKeys, ShareKeysRequest, ShareKeysResponse)
  COHORT_NO_ASYNC_(ReportShares, ReportSharesRequest, ReportSharesResponse)
  COHORT_NO_ASYNC_(SignSurvivors, SignSurvivorsRequest, SignSurvivorsResponse)
  COHORT_NO_ASYNC_(UploadMaskedInput, UploadMaskedInputRequest, UploadMaskedInputResponse)
  COHORT_NO_ASYNC_(SubmitUnmasking, SubmitUnmaskingRequest, SubmitUnmaskingResponse)
  COHORT_NO_ASYNC_(Leave, LeaveRequest, LeaveResponse)
  COHORT_NO_ASYNC_(FetchInferenceModel, FetchInferenceModelRequest, FetchInferenceModelResponse)
#undef COHORT_NO_ASYNC_

  v1::DeviceService::StubInterface* const target_;
};

}  // namespace cohort::client::test_util

#endif  // COHORT_CLIENT_SDK_SRC_TESTING_FORWARDING_STUB_H_
