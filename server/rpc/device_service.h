#ifndef COHORT_SERVER_RPC_DEVICE_SERVICE_H_
#define COHORT_SERVER_RPC_DEVICE_SERVICE_H_

// cohort.v1.DeviceService over the Coordinator, on gRPC's callback API.
//
// Why the callback API: a cohort of a thousand phones spends most of a round parked in
// WaitForPhase. With the synchronous API each parked call would hold a server thread; here a
// parked call is a reactor in LongPollRegistry, finished by the registry's notifier thread when
// the coordinator reports that the round changed (CoordinatorObserver::OnRoundChanged), when
// max_wait passes, or with UNAVAILABLE at shutdown. Every other method is short (it takes the
// coordinator's lock for microseconds to milliseconds) and runs inline on gRPC's callback
// threads.
//
// Status codes are the coordinator's, converted by ToGrpcStatus. This class is thread-safe.

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cohort/v1/device.grpc.pb.h"
#include "server/core/coordinator.h"
#include "server/core/observer.h"
#include "server/rpc/metrics.h"

namespace cohort::server {

class WaitReactor;

// Parked WaitForPhase calls. Wake() is safe to call with the coordinator's lock held: it only
// queues the round id; the registry's own thread re-polls the coordinator and finishes calls.
// A parked call is finished exactly once, by whoever removes it from the registry.
// This class is thread-safe.
class LongPollRegistry {
 public:
  LongPollRegistry(Coordinator* coordinator, PrometheusMetrics* metrics);
  ~LongPollRegistry();

  void Start();
  // Finishes every parked call with UNAVAILABLE and refuses new ones.
  void Shutdown();

  // Parks `reactor` (its request/response are owned by gRPC until Finish).
  void Park(WaitReactor* reactor, const std::string& round_id, absl::Time expires);
  // Removes the reactor if still parked; true when the caller now owns finishing it.
  bool Unpark(WaitReactor* reactor);
  void Wake(const std::string& round_id);
  bool shutting_down() const;

 private:
  void Loop();
  bool HasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || !woken_.empty(); }
  void Resolve(WaitReactor* reactor, bool expired);

  Coordinator* const coordinator_;
  PrometheusMetrics* const metrics_;
  mutable absl::Mutex mu_;
  struct Entry {
    std::string round_id;
    absl::Time expires;
  };
  std::map<WaitReactor*, Entry> parked_ ABSL_GUARDED_BY(mu_);
  std::multimap<std::string, WaitReactor*> by_round_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> woken_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// DownloadModel is served raw: its answer points into the model (model_chunk_buffer.h).
class DeviceServiceImpl final
    : public cohort::v1::DeviceService::WithRawCallbackMethod_DownloadModel<
          cohort::v1::DeviceService::CallbackService> {
 public:
  // Neither is owned; `metrics` may be null.
  DeviceServiceImpl(Coordinator* coordinator, LongPollRegistry* long_polls,
                    PrometheusMetrics* metrics);

  grpc::ServerUnaryReactor* CheckIn(grpc::CallbackServerContext* context,
                                    const cohort::v1::CheckInRequest* request,
                                    cohort::v1::CheckInResponse* response) override;
  grpc::ServerUnaryReactor* WaitForPhase(grpc::CallbackServerContext* context,
                                         const cohort::v1::WaitForPhaseRequest* request,
                                         cohort::v1::RoundUpdate* response) override;
  grpc::ServerUnaryReactor* DownloadModel(grpc::CallbackServerContext* context,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* AdvertiseKeys(grpc::CallbackServerContext* context,
                                          const cohort::v1::AdvertiseKeysRequest* request,
                                          cohort::v1::AdvertiseKeysResponse* response) override;
  grpc::ServerUnaryReactor* ShareKeys(grpc::CallbackServerContext* context,
                                      const cohort::v1::ShareKeysRequest* request,
                                      cohort::v1::ShareKeysResponse* response) override;
  grpc::ServerUnaryReactor* ReportShares(grpc::CallbackServerContext* context,
                                         const cohort::v1::ReportSharesRequest* request,
                                         cohort::v1::ReportSharesResponse* response) override;
  grpc::ServerUnaryReactor* SignSurvivors(grpc::CallbackServerContext* context,
                                          const cohort::v1::SignSurvivorsRequest* request,
                                          cohort::v1::SignSurvivorsResponse* response) override;
  grpc::ServerUnaryReactor* UploadMaskedInput(
      grpc::CallbackServerContext* context, const cohort::v1::UploadMaskedInputRequest* request,
      cohort::v1::UploadMaskedInputResponse* response) override;
  grpc::ServerUnaryReactor* SubmitUnmasking(grpc::CallbackServerContext* context,
                                            const cohort::v1::SubmitUnmaskingRequest* request,
                                            cohort::v1::SubmitUnmaskingResponse* response) override;
  grpc::ServerUnaryReactor* Leave(grpc::CallbackServerContext* context,
                                  const cohort::v1::LeaveRequest* request,
                                  cohort::v1::LeaveResponse* response) override;
  grpc::ServerUnaryReactor* FetchInferenceModel(
      grpc::CallbackServerContext* context, const cohort::v1::FetchInferenceModelRequest* request,
      cohort::v1::FetchInferenceModelResponse* response) override;

 private:
  grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* context, const char* method,
                                 const absl::Status& status);

  Coordinator* const coordinator_;
  LongPollRegistry* const long_polls_;
  PrometheusMetrics* const metrics_;
};

}  // namespace cohort::server

#endif  // COHORT_SERVER_RPC_DEVICE_SERVICE_H_
