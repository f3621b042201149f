#include "server/rpc/device_service.h"

#include <algorithm>
#include <vector>

#include "base/logging.h"
#include "server/rpc/model_chunk_buffer.h"
#include "server/rpc/status_util.h"

namespace cohort::server {

// A WaitForPhase call in flight. Finished exactly once by whoever unparks it (or by the
// handler before it is parked); deletes itself in OnDone.
class WaitReactor : public grpc::ServerUnaryReactor {
 public:
  WaitReactor(LongPollRegistry* registry, PrometheusMetrics* metrics,
              const cohort::v1::WaitForPhaseRequest* request, cohort::v1::RoundUpdate* response)
      : registry_(registry), metrics_(metrics), request_(request), response_(response) {}

  const cohort::v1::WaitForPhaseRequest& request() const { return *request_; }
  // When the long-poll answers with the current state at the latest (set once, when parked).
  absl::Time expires = absl::InfiniteFuture();

  void Complete(const absl::StatusOr<cohort::v1::RoundUpdate>& update) {
    if (update.ok()) *response_ = *update;
    const grpc::Status status = ToGrpcStatus(update.status());
    if (metrics_ != nullptr) metrics_->OnDeviceCall("WaitForPhase", status.error_code());
    Finish(status);
  }
  void CompleteWith(const grpc::Status& status) {
    if (metrics_ != nullptr) metrics_->OnDeviceCall("WaitForPhase", status.error_code());
    Finish(status);
  }

  void OnCancel() override {
    if (registry_->Unpark(this)) CompleteWith(grpc::Status::CANCELLED);
  }
  void OnDone() override { delete this; }

 private:
  LongPollRegistry* const registry_;
  PrometheusMetrics* const metrics_;
  const cohort::v1::WaitForPhaseRequest* const request_;
  cohort::v1::RoundUpdate* const response_;
};

LongPollRegistry::LongPollRegistry(Coordinator* coordinator, PrometheusMetrics* metrics)
    : coordinator_(coordinator), metrics_(metrics) {}

LongPollRegistry::~LongPollRegistry() { Shutdown(); }

void LongPollRegistry::Start() {
  absl::MutexLock lock(&mu_);
  if (thread_.joinable() || stop_) return;
  thread_ = std::thread([this] { Loop(); });
}

bool LongPollRegistry::shutting_down() const {
  absl::MutexLock lock(&mu_);
  return stop_;
}

void LongPollRegistry::Shutdown() {
  std::vector<WaitReactor*> all;
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    for (const auto& [reactor, entry] : parked_) all.push_back(reactor);
    parked_.clear();
    by_round_.clear();
    if (metrics_ != nullptr) metrics_->parked_long_polls().Set(0);
  }
  for (WaitReactor* reactor : all) {
    reactor->CompleteWith(grpc::Status(grpc::StatusCode::UNAVAILABLE, "server shutting down"));
  }
  if (thread_.joinable()) thread_.join();
}

void LongPollRegistry::Park(WaitReactor* reactor, const std::string& round_id, absl::Time expires) {
  bool refused = false;
  {
    absl::MutexLock lock(&mu_);
    if (stop_) {
      refused = true;
    } else {
      parked_[reactor] = Entry{round_id, expires};
      by_round_.emplace(round_id, reactor);
      if (metrics_ != nullptr) metrics_->parked_long_polls().Increment();
    }
  }
  if (refused) {
    reactor->CompleteWith(grpc::Status(grpc::StatusCode::UNAVAILABLE, "server shutting down"));
  }
}

bool LongPollRegistry::Unpark(WaitReactor* reactor) {
  absl::MutexLock lock(&mu_);
  auto it = parked_.find(reactor);
  if (it == parked_.end()) return false;
  auto range = by_round_.equal_range(it->second.round_id);
  for (auto r = range.first; r != range.second; ++r) {
    if (r->second == reactor) {
      by_round_.erase(r);
      break;
    }
  }
  parked_.erase(it);
  if (metrics_ != nullptr) metrics_->parked_long_polls().Decrement();
  return true;
}

void LongPollRegistry::Wake(const std::string& round_id) {
  absl::MutexLock lock(&mu_);
  woken_.insert(round_id);
}

void LongPollRegistry::Resolve(WaitReactor* reactor, bool expired) {
  if (expired) {
    reactor->Complete(coordinator_->CurrentUpdate(reactor->request().session_token()));
    return;
  }
  absl::StatusOr<Coordinator::Poll> poll = coordinator_->PollPhase(reactor->request());
  if (!poll.ok()) {
    reactor->Complete(poll.status());
    return;
  }
  if (poll->update.has_value()) {
    reactor->Complete(*poll->update);
    return;
  }
  // Still nothing for this device (the change concerned others): park again, same expiry.
  Park(reactor, poll->round_id, reactor->expires);
}

void LongPollRegistry::Loop() {
  // Sleeps until a Wake (absl::Mutex re-evaluates the condition when Wake releases mu_), the
  // nearest expiry, or at most a second. Wake itself only inserts into a set, so it is cheap
  // enough to run under the coordinator's lock.
  constexpr absl::Duration kMaxSleep = absl::Seconds(1);
  while (true) {
    std::vector<std::pair<WaitReactor*, bool>> due;
    {
      absl::MutexLock lock(&mu_);
      absl::Duration sleep = kMaxSleep;
      const absl::Time before = absl::Now();
      for (const auto& [reactor, entry] : parked_) {
        sleep = std::min(sleep, entry.expires - before);
      }
      if (sleep > absl::ZeroDuration()) {
        mu_.AwaitWithTimeout(absl::Condition(this, &LongPollRegistry::HasWork), sleep);
      }
      if (stop_) return;
      const absl::Time now = absl::Now();
      std::set<std::string> woken;
      woken.swap(woken_);
      for (auto it = parked_.begin(); it != parked_.end();) {
        const bool expired = now >= it->second.expires;
        if (expired || woken.count(it->second.round_id) > 0) {
          WaitReactor* reactor = it->first;
          auto range = by_round_.equal_range(it->second.round_id);
          for (auto r = range.first; r != range.second; ++r) {
            if (r->second == reactor) {
              by_round_.erase(r);
              break;
            }
          }
          it = parked_.erase(it);
          if (metrics_ != nullptr) metrics_->parked_long_polls().Decrement();
          due.emplace_back(reactor, expired);
        } else {
          ++it;
        }
      }
    }
    for (const auto& [reactor, expired] : due) Resolve(reactor, expired);
  }
}

DeviceServiceImpl::DeviceServiceImpl(Coordinator* coordinator, LongPollRegistry* long_polls,
                                     PrometheusMetrics* metrics)
    : coordinator_(coordinator), long_polls_(long_polls), metrics_(metrics) {}

grpc::ServerUnaryReactor* DeviceServiceImpl::Done(grpc::CallbackServerContext* context,
                                                  const char* method, const absl::Status& status) {
  const grpc::Status grpc_status = ToGrpcStatus(status);
  if (metrics_ != nullptr) metrics_->OnDeviceCall(method, grpc_status.error_code());
  if (!status.ok()) {
    COHORT_LOG_DEBUG("device call refused method={} code={} message={}", method,
                     absl::StatusCodeToString(status.code()), std::string(status.message()));
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc_status);
  return reactor;
}

grpc::ServerUnaryReactor* DeviceServiceImpl::CheckIn(grpc::CallbackServerContext* context,
                                                     const cohort::v1::CheckInRequest* request,
                                                     cohort::v1::CheckInResponse* response) {
  absl::StatusOr<cohort::v1::CheckInResponse> result = coordinator_->CheckIn(*request);
  if (result.ok()) *response = std::move(*result);
  return Done(context, "CheckIn", result.status());
}

grpc::ServerUnaryReactor* DeviceServiceImpl::WaitForPhase(
    grpc::CallbackServerContext* context, const cohort::v1::WaitForPhaseRequest* request,
    cohort::v1::RoundUpdate* response) {
  auto* reactor = new WaitReactor(long_polls_, metrics_, request, response);
  (void)context;
  absl::StatusOr<Coordinator::Poll> poll = coordinator_->PollPhase(*request);
  if (!poll.ok()) {
    reactor->Complete(poll.status());
    return reactor;
  }
  if (poll->update.has_value()) {
    reactor->Complete(*poll->update);
    return reactor;
  }
  reactor->expires = absl::Now() + poll->max_wait;
  long_polls_->Park(reactor, poll->round_id, reactor->expires);
  // Close the race with a change between the poll and the park: poll once more.
  absl::StatusOr<Coordinator::Poll> again = coordinator_->PollPhase(*request);
  if ((!again.ok() || again->update.has_value()) && long_polls_->Unpark(reactor)) {
    if (!again.ok()) {
      reactor->Complete(again.status());
    } else {
      reactor->Complete(*again->update);
    }
  }
  return reactor;
}

grpc::ServerUnaryReactor* DeviceServiceImpl::DownloadModel(grpc::CallbackServerContext* context,
                                                           const grpc::ByteBuffer* request,
                                                           grpc::ByteBuffer* response) {
  absl::StatusOr<cohort::v1::DownloadModelRequest> parsed = ParseDownloadModelRequest(*request);
  if (!parsed.ok()) return Done(context, "DownloadModel", parsed.status());
  absl::StatusOr<ModelChunkView> result = coordinator_->DownloadModel(*parsed);
  if (result.ok()) *response = ModelChunkBuffer(*result);
  return Done(context, "DownloadModel", result.status());
}

grpc::ServerUnaryReactor* DeviceServiceImpl::AdvertiseKeys(
    grpc::CallbackServerContext* context, const cohort::v1::AdvertiseKeysRequest* request,
    cohort::v1::AdvertiseKeysResponse*) {
  return Done(context, "AdvertiseKeys", coordinator_->AdvertiseKeys(*request));
}

grpc::ServerUnaryReactor* DeviceServiceImpl::ShareKeys(grpc::CallbackServerContext* context,
                                                       const cohort::v1::ShareKeysRequest* request,
                                                       cohort::v1::ShareKeysResponse*) {
  return Done(context, "ShareKeys", coordinator_->ShareKeys(*request));
}

grpc::ServerUnaryReactor* DeviceServiceImpl::ReportShares(
    grpc::CallbackServerContext* context, const cohort::v1::ReportSharesRequest* request,
    cohort::v1::ReportSharesResponse*) {
  return Done(context, "ReportShares", coordinator_->ReportShares(*request));
}

grpc::ServerUnaryReactor* DeviceServiceImpl::SignSurvivors(
    grpc::CallbackServerContext* context, const cohort::v1::SignSurvivorsRequest* request,
    cohort::v1::SignSurvivorsResponse*) {
  return Done(context, "SignSurvivors", coordinator_->SignSurvivors(*request));
}

grpc::ServerUnaryReactor* DeviceServiceImpl::UploadMaskedInput(
    grpc::CallbackServerContext* context, const cohort::v1::UploadMaskedInputRequest* request,
    cohort::v1::UploadMaskedInputResponse* response) {
  absl::StatusOr<cohort::v1::UploadMaskedInputResponse> result =
      coordinator_->UploadMaskedInput(*request);
  if (result.ok()) *response = std::move(*result);
  return Done(context, "UploadMaskedInput", result.status());
}

grpc::ServerUnaryReactor* DeviceServiceImpl::SubmitUnmasking(
    grpc::CallbackServerContext* context, const cohort::v1::SubmitUnmaskingRequest* request,
    cohort::v1::SubmitUnmaskingResponse*) {
  return Done(context, "SubmitUnmasking", coordinator_->SubmitUnmasking(*request));
}

grpc::ServerUnaryReactor* DeviceServiceImpl::Leave(grpc::CallbackServerContext* context,
                                                   const cohort::v1::LeaveRequest* request,
                                                   cohort::v1::LeaveResponse*) {
  return Done(context, "Leave", coordinator_->Leave(*request));
}

grpc::ServerUnaryReactor* DeviceServiceImpl::FetchInferenceModel(
    grpc::CallbackServerContext* context, const cohort::v1::FetchInferenceModelRequest* request,
    cohort::v1::FetchInferenceModelResponse* response) {
  absl::StatusOr<cohort::v1::FetchInferenceModelResponse> result =
      coordinator_->FetchInferenceModel(*request);
  if (result.ok()) *response = std::move(*result);
  return Done(context, "FetchInferenceModel", result.status());
}

}  // namespace cohort::server
