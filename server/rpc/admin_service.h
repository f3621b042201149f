#ifndef COHORT_SERVER_RPC_ADMIN_SERVICE_H_
#define COHORT_SERVER_RPC_ADMIN_SERVICE_H_

// cohort.v1.AdminService over the Coordinator, on gRPC's callback API, with bearer-token auth.
//
// Auth mechanism. Every call must carry `authorization: Bearer <admin token>`; without it the
// call fails UNAUTHENTICATED, with a wrong token PERMISSION_DENIED (compared in constant time).
// gRPC 1.51 C++ offers two hooks and neither fits alone: a
// grpc::experimental::ServerInterceptor sees the metadata but cannot fail a call with a status
// of its choosing (hijacking is client-side only), and a grpc::AuthMetadataProcessor can fail it
// but is only invoked for secure (TLS) credentials, so plaintext loopback would be unprotected.
// So the check is an in-process interceptor of our own: AdminServiceImpl runs AdminAuth::Check
// as the first step of every method, before any request field is read, on plaintext and TLS
// alike. (With mutual TLS configured, the transport additionally authenticates the client.)
//
// WatchEvents is a server-streaming reactor fed by EventHub (a CoordinatorObserver); it sends
// round events of the task until the client cancels or the server shuts down. Each watcher
// buffers at most 1024 events; a slower one loses the oldest.
//
// This class is thread-safe.

#include <deque>
#include <memory>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "cohort/v1/admin.grpc.pb.h"
#include "server/core/coordinator.h"
#include "server/core/observer.h"

namespace cohort::server {

class AdminAuth {
 public:
  explicit AdminAuth(std::string token) : token_(std::move(token)) {}
  // OK, UNAUTHENTICATED (no or malformed authorization metadata) or PERMISSION_DENIED.
  grpc::Status Check(const grpc::CallbackServerContext& context) const;

 private:
  const std::string token_;
};

class EventWatcher;

// Fans round events out to WatchEvents streams. OnEvent only queues (it runs under the
// coordinator's lock). This class is thread-safe.
class EventHub : public CoordinatorObserver {
 public:
  void OnEvent(const cohort::v1::RoundEvent& event) override;
  void Add(EventWatcher* watcher);
  void Remove(EventWatcher* watcher);
  // Ends every stream with OK (server shutting down).
  void Shutdown();

 private:
  absl::Mutex mu_;
  std::set<EventWatcher*> watchers_ ABSL_GUARDED_BY(mu_);
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
};

class AdminServiceImpl final : public cohort::v1::AdminService::CallbackService {
 public:
  AdminServiceImpl(Coordinator* coordinator, EventHub* events, std::string admin_token);

  grpc::ServerUnaryReactor* CreateTask(grpc::CallbackServerContext* context,
                                       const cohort::v1::CreateTaskRequest* request,
                                       cohort::v1::Task* response) override;
  grpc::ServerUnaryReactor* GetTask(grpc::CallbackServerContext* context,
                                    const cohort::v1::GetTaskRequest* request,
                                    cohort::v1::Task* response) override;
  grpc::ServerUnaryReactor* ListTasks(grpc::CallbackServerContext* context,
                                      const cohort::v1::ListTasksRequest* request,
                                      cohort::v1::ListTasksResponse* response) override;
  grpc::ServerUnaryReactor* StartRounds(grpc::CallbackServerContext* context,
                                        const cohort::v1::StartRoundsRequest* request,
                                        cohort::v1::Task* response) override;
  grpc::ServerUnaryReactor* PauseTask(grpc::CallbackServerContext* context,
                                      const cohort::v1::PauseTaskRequest* request,
                                      cohort::v1::Task* response) override;
  grpc::ServerUnaryReactor* ResumeTask(grpc::CallbackServerContext* context,
                                       const cohort::v1::ResumeTaskRequest* request,
                                       cohort::v1::Task* response) override;
  grpc::ServerUnaryReactor* AbortRound(grpc::CallbackServerContext* context,
                                       const cohort::v1::AbortRoundRequest* request,
                                       cohort::v1::Task* response) override;
  grpc::ServerUnaryReactor* ListRounds(grpc::CallbackServerContext* context,
                                       const cohort::v1::ListRoundsRequest* request,
                                       cohort::v1::ListRoundsResponse* response) override;
  grpc::ServerWriteReactor<cohort::v1::RoundEvent>* WatchEvents(
      grpc::CallbackServerContext* context, const cohort::v1::WatchEventsRequest* request) override;
  grpc::ServerWriteReactor<cohort::v1::ModelPart>* DownloadModel(
      grpc::CallbackServerContext* context,
      const cohort::v1::AdminDownloadModelRequest* request) override;
  grpc::ServerUnaryReactor* AttachCalibrationData(
      grpc::CallbackServerContext* context,
      const cohort::v1::AttachCalibrationDataRequest* request,
      cohort::v1::AttachCalibrationDataResponse* response) override;

 private:
  template <typename Response>
  grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* context,
                                  const absl::StatusOr<Response>& result, Response* response);
  grpc::ServerUnaryReactor* Refuse(grpc::CallbackServerContext* context,
                                   const grpc::Status& status);

  Coordinator* const coordinator_;
  EventHub* const events_;
  const AdminAuth auth_;
};

}  // namespace cohort::server

#endif  // COHORT_SERVER_RPC_ADMIN_SERVICE_H_
