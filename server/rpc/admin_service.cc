#include "server/rpc/admin_service.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "server/core/session_token.h"
#include "server/rpc/status_util.h"

namespace cohort::server {
namespace {

constexpr size_t kMaxQueuedEvents = 1024;
constexpr size_t kModelPartBytes = 1 << 20;

// Streams a fixed list of messages, then finishes.
template <typename Message>
class ListWriter : public grpc::ServerWriteReactor<Message> {
 public:
  ListWriter(std::vector<Message> messages, grpc::Status final_status)
      : messages_(std::move(messages)), final_(std::move(final_status)) {
    Next();
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      this->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed"));
      return;
    }
    Next();
  }
  void OnDone() override { delete this; }

 private:
  void Next() {
    if (next_ < messages_.size()) {
      this->StartWrite(&messages_[next_++]);
    } else {
      this->Finish(final_);
    }
  }
  std::vector<Message> messages_;
  grpc::Status final_;
  size_t next_ = 0;
};

}  // namespace

// One WatchEvents stream. Owned by gRPC; deletes itself in OnDone after leaving the hub.
class EventWatcher : public grpc::ServerWriteReactor<cohort::v1::RoundEvent> {
 public:
  EventWatcher(EventHub* hub, std::string task_id) : hub_(hub), task_id_(std::move(task_id)) {
    // gRPC starts this operation once the reactor is bound to the call, which is after
    // WatchEvents has added the watcher to the hub: a client holding the stream's initial
    // metadata therefore knows that every later event reaches it.
    StartSendInitialMetadata();
  }

  const std::string& task_id() const { return task_id_; }

  void Push(const cohort::v1::RoundEvent& event) {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    if (queue_.size() >= kMaxQueuedEvents) queue_.pop_front();
    queue_.push_back(event);
    MaybeWriteLocked();
  }
  // Starts writing, the snapshot first. Until then events are only queued: the watcher joins the
  // hub before the snapshot is read, so nothing between the two is lost.
  void Release(const std::vector<cohort::v1::RoundEvent>& snapshot) {
    absl::MutexLock lock(&mu_);
    held_ = false;
    if (finished_) return;
    // The snapshot is kept whole; past the bound the oldest live events go, as in Push.
    const size_t live = queue_.size();
    queue_.insert(queue_.begin(), snapshot.begin(), snapshot.end());
    const size_t excess = std::min(live, queue_.size() > kMaxQueuedEvents
                                             ? queue_.size() - kMaxQueuedEvents
                                             : size_t{0});
    const auto first_live = queue_.begin() + static_cast<std::ptrdiff_t>(snapshot.size());
    queue_.erase(first_live, first_live + static_cast<std::ptrdiff_t>(excess));
    MaybeWriteLocked();
  }
  void End(const grpc::Status& status) {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    finished_ = true;
    if (!writing_)
      Finish(status);
    else
      pending_finish_ = status;
  }
  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) {
      if (!finished_) {
        finished_ = true;
        Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed"));
      } else if (pending_finish_.has_value()) {
        Finish(*pending_finish_);
        pending_finish_.reset();
      }
      return;
    }
    if (finished_) {
      if (pending_finish_.has_value()) {
        Finish(*pending_finish_);
        pending_finish_.reset();
      }
      return;
    }
    queue_.pop_front();
    MaybeWriteLocked();
  }
  void OnCancel() override { End(grpc::Status::CANCELLED); }
  void OnDone() override {
    hub_->Remove(this);
    delete this;
  }

 private:
  void MaybeWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (held_ || writing_ || queue_.empty()) return;
    writing_ = true;
    StartWrite(&queue_.front());
  }

  EventHub* const hub_;
  const std::string task_id_;
  absl::Mutex mu_;
  std::deque<cohort::v1::RoundEvent> queue_ ABSL_GUARDED_BY(mu_);  // front = being written
  bool held_ ABSL_GUARDED_BY(mu_) = true;  // until Release
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> pending_finish_ ABSL_GUARDED_BY(mu_);
};

grpc::Status AdminAuth::Check(const grpc::CallbackServerContext& context) const {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "missing 'authorization: Bearer <admin token>' metadata");
  }
  const absl::string_view value(it->second.data(), it->second.size());
  constexpr absl::string_view kBearer = "Bearer ";
  if (!absl::StartsWithIgnoreCase(value, kBearer) || value.size() == kBearer.size()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "authorization metadata must be 'Bearer <admin token>'");
  }
  if (!ConstantTimeEquals(value.substr(kBearer.size()), token_)) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "the admin token is not valid");
  }
  return grpc::Status::OK;
}

void EventHub::OnEvent(const cohort::v1::RoundEvent& event) {
  absl::MutexLock lock(&mu_);
  for (EventWatcher* watcher : watchers_) {
    if (watcher->task_id().empty() || watcher->task_id() == event.task_id()) {
      watcher->Push(event);
    }
  }
}

void EventHub::Add(EventWatcher* watcher) {
  bool stopped;
  {
    absl::MutexLock lock(&mu_);
    stopped = stopped_;
    if (!stopped) watchers_.insert(watcher);
  }
  if (stopped) watcher->End(grpc::Status(grpc::StatusCode::UNAVAILABLE, "server shutting down"));
}

void EventHub::Remove(EventWatcher* watcher) {
  absl::MutexLock lock(&mu_);
  watchers_.erase(watcher);
}

void EventHub::Shutdown() {
  absl::MutexLock lock(&mu_);
  stopped_ = true;
  for (EventWatcher* watcher : watchers_) watcher->End(grpc::Status::OK);
}

AdminServiceImpl::AdminServiceImpl(Coordinator* coordinator, EventHub* events,
                                   std::string admin_token)
    : coordinator_(coordinator), events_(events), auth_(std::move(admin_token)) {}

grpc::ServerUnaryReactor* AdminServiceImpl::Refuse(grpc::CallbackServerContext* context,
                                                   const grpc::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}

template <typename Response>
grpc::ServerUnaryReactor* AdminServiceImpl::Unary(grpc::CallbackServerContext* context,
                                                  const absl::StatusOr<Response>& result,
                                                  Response* response) {
  if (result.ok()) *response = *result;
  return Refuse(context, ToGrpcStatus(result.status()));
}

#define COHORT_ADMIN_AUTHORIZE(context)                          \
  if (grpc::Status auth = auth_.Check(*(context)); !auth.ok()) { \
    return Refuse((context), auth);                              \
  }

grpc::ServerUnaryReactor* AdminServiceImpl::CreateTask(grpc::CallbackServerContext* context,
                                                       const cohort::v1::CreateTaskRequest* request,
                                                       cohort::v1::Task* response) {
  COHORT_ADMIN_AUTHORIZE(context);
  return Unary(context, coordinator_->CreateTask(*request), response);
}

grpc::ServerUnaryReactor* AdminServiceImpl::GetTask(grpc::CallbackServerContext* context,
                                                    const cohort::v1::GetTaskRequest* request,
                                                    cohort::v1::Task* response) {
  COHORT_ADMIN_AUTHORIZE(context);
  return Unary(context, coordinator_->GetTask(request->task_id()), response);
}

grpc::ServerUnaryReactor* AdminServiceImpl::AttachCalibrationData(
    grpc::CallbackServerContext* context, const cohort::v1::AttachCalibrationDataRequest* request,
    cohort::v1::AttachCalibrationDataResponse* response) {
  COHORT_ADMIN_AUTHORIZE(context);
  return Unary(context, coordinator_->AttachCalibrationData(*request), response);
}

grpc::ServerUnaryReactor* AdminServiceImpl::ListTasks(grpc::CallbackServerContext* context,
                                                      const cohort::v1::ListTasksRequest*,
                                                      cohort::v1::ListTasksResponse* response) {
  COHORT_ADMIN_AUTHORIZE(context);
  return Unary(context, coordinator_->ListTasks(), response);
}

grpc::ServerUnaryReactor* AdminServiceImpl::StartRounds(
    grpc::CallbackServerContext* context, const cohort::v1::StartRoundsRequest* request,
    cohort::v1::Task* response) {
  COHORT_ADMIN_AUTHORIZE(context);
  return Unary(context, coordinator_->StartRounds(*request), response);
}

grpc::ServerUnaryReactor* AdminServiceImpl::PauseTask(grpc::CallbackServerContext* context,
                                                      const cohort::v1::PauseTaskRequest* request,
                                                      cohort::v1::Task* response) {
  COHORT_ADMIN_AUTHORIZE(context);
  return Unary(context, coordinator_->PauseTask(request->task_id()), response);
}

grpc::ServerUnaryReactor* AdminServiceImpl::ResumeTask(grpc::CallbackServerContext* context,
                                                       const cohort::v1::ResumeTaskRequest* request,
                                                       cohort::v1::Task* response) {
  COHORT_ADMIN_AUTHORIZE(context);
  return Unary(context, coordinator_->ResumeTask(request->task_id()), response);
}

grpc::ServerUnaryReactor* AdminServiceImpl::AbortRound(grpc::CallbackServerContext* context,
                                                       const cohort::v1::AbortRoundRequest* request,
                                                       cohort::v1::Task* response) {
  COHORT_ADMIN_AUTHORIZE(context);
  return Unary(context, coordinator_->AbortRound(*request), response);
}

grpc::ServerUnaryReactor* AdminServiceImpl::ListRounds(grpc::CallbackServerContext* context,
                                                       const cohort::v1::ListRoundsRequest* request,
                                                       cohort::v1::ListRoundsResponse* response) {
  COHORT_ADMIN_AUTHORIZE(context);
  return Unary(context, coordinator_->ListRounds(*request), response);
}

grpc::ServerWriteReactor<cohort::v1::RoundEvent>* AdminServiceImpl::WatchEvents(
    grpc::CallbackServerContext* context, const cohort::v1::WatchEventsRequest* request) {
  if (grpc::Status auth = auth_.Check(*context); !auth.ok()) {
    return new ListWriter<cohort::v1::RoundEvent>({}, auth);
  }
  if (!request->task_id().empty()) {
    if (absl::StatusOr<cohort::v1::Task> task = coordinator_->GetTask(request->task_id());
        !task.ok()) {
      return new ListWriter<cohort::v1::RoundEvent>({}, ToGrpcStatus(task.status()));
    }
  }
  auto* watcher = new EventWatcher(events_, request->task_id());
  events_->Add(watcher);
  // A task deleted in between leaves the snapshot empty; the stream goes on.
  absl::StatusOr<std::vector<cohort::v1::RoundEvent>> snapshot =
      coordinator_->CurrentState(request->task_id());
  watcher->Release(snapshot.ok() ? *snapshot : std::vector<cohort::v1::RoundEvent>{});
  return watcher;
}

grpc::ServerWriteReactor<cohort::v1::ModelPart>* AdminServiceImpl::DownloadModel(
    grpc::CallbackServerContext* context, const cohort::v1::AdminDownloadModelRequest* request) {
  if (grpc::Status auth = auth_.Check(*context); !auth.ok()) {
    return new ListWriter<cohort::v1::ModelPart>({}, auth);
  }
  absl::StatusOr<cohort::v1::Model> model =
      coordinator_->GetModel(request->task_id(), request->has_version()
                                                     ? std::optional<int64_t>(request->version())
                                                     : std::nullopt);
  if (!model.ok()) {
    return new ListWriter<cohort::v1::ModelPart>({}, ToGrpcStatus(model.status()));
  }
  std::vector<cohort::v1::ModelPart> parts;
  const std::string& bytes = model->parameters();
  size_t offset = 0;
  do {
    cohort::v1::ModelPart part;
    if (offset == 0) {
      part.set_version(model->version());
      *part.mutable_layout() = model->layout();
      if (model->has_graph()) *part.mutable_graph() = model->graph();
      part.set_total_size(static_cast<int64_t>(bytes.size()));
      part.set_sha256(model->sha256());
      // Model stores the kind as a plain int (model.proto cannot import admin.proto).
      part.set_optimizer_kind(
          static_cast<cohort::v1::ServerOptimizerConfig::Kind>(model->optimizer_kind()));
      part.set_optimizer_state_version(model->optimizer_state_version());
    }
    part.set_offset(static_cast<int64_t>(offset));
    const size_t len = std::min(kModelPartBytes, bytes.size() - offset);
    part.set_data(bytes.substr(offset, len));
    parts.push_back(std::move(part));
    offset += len;
  } while (offset < bytes.size());
  return new ListWriter<cohort::v1::ModelPart>(std::move(parts), grpc::Status::OK);
}

}  // namespace cohort::server
