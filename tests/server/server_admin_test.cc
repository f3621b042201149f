// The admin API over real gRPC: bearer-token auth, config validation naming the field, the task
// lifecycle (start, pause, resume, abort), round listing with metrics, event streaming and
// model download. (The Prometheus metrics: server_metrics_test.cc.)

#include <chrono>
#include <future>
#include <map>
#include <thread>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "tests/server/loopback_server.h"
#include "tests/server/test_device.h"

namespace cohort::server::test_util {
namespace {

TEST_CASE("AdminCalls_WithoutOrWithWrongToken_AreRefused") {
  auto server = LoopbackServer::Start();
  REQUIRE(server.ok());
  auto stub = (*server)->NewAdminStub();
  cohort::v1::ListTasksRequest request;
  cohort::v1::ListTasksResponse response;

  grpc::Status s = stub->ListTasks(LoopbackServer::AdminContext("").get(), request, &response);
  CHECK(s.error_code() == grpc::StatusCode::UNAUTHENTICATED);

  s = stub->ListTasks(LoopbackServer::AdminContext("wrong-token").get(), request, &response);
  CHECK(s.error_code() == grpc::StatusCode::PERMISSION_DENIED);

  grpc::ClientContext basic;
  basic.AddMetadata("authorization", "Basic abc");
  s = stub->ListTasks(&basic, request, &response);
  CHECK(s.error_code() == grpc::StatusCode::UNAUTHENTICATED);

  // Streaming methods are guarded too.
  auto context = LoopbackServer::AdminContext("wrong-token");
  cohort::v1::AdminDownloadModelRequest download;
  auto reader = stub->DownloadModel(context.get(), download);
  cohort::v1::ModelPart part;
  CHECK_FALSE(reader->Read(&part));
  CHECK(reader->Finish().error_code() == grpc::StatusCode::PERMISSION_DENIED);

  s = stub->ListTasks(LoopbackServer::AdminContext().get(), request, &response);
  CHECK(s.ok());
}

TEST_CASE("CreateTask_BadConfig_IsRefusedNamingTheField") {
  auto server = LoopbackServer::Start();
  REQUIRE(server.ok());
  auto config = SmallTask("bad", 5, 4, true);
  config.set_target_cohort_size(0);
  auto task = (*server)->CreateTask(config);
  REQUIRE_FALSE(task.ok());
  CHECK(task.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(task.status().message().find("config.target_cohort_size") == 0);

  config = SmallTask("bad", 5, 4, true);
  config.mutable_deadlines()->mutable_unmasking()->set_seconds(-3);
  task = (*server)->CreateTask(config);
  REQUIRE_FALSE(task.ok());
  CHECK(task.status().message().find("config.deadlines.unmasking") == 0);
}

TEST_CASE("TaskLifecycle_StartPauseResumeAbortAndList") {
  auto server = LoopbackServer::Start();
  REQUIRE(server.ok());
  auto task = (*server)->CreateTask(SmallTask("life", 5, 4, true));
  REQUIRE(task.ok());
  CHECK(task->state() == cohort::v1::TASK_STATE_IDLE);
  const std::string id = task->task_id();
  auto stub = (*server)->NewAdminStub();

  // Watch events from the start.
  auto watch_context = LoopbackServer::AdminContext();
  watch_context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  cohort::v1::WatchEventsRequest watch;
  watch.set_task_id(id);
  auto events = stub->WatchEvents(watch_context.get(), watch);
  // Subscribed once the initial metadata is here; events before that could be missed.
  events->WaitForInitialMetadata();

  cohort::v1::StartRoundsRequest start;
  start.set_task_id(id);
  start.set_continuous(true);
  cohort::v1::Task out;
  REQUIRE(stub->StartRounds(LoopbackServer::AdminContext().get(), start, &out).ok());
  CHECK(out.state() == cohort::v1::TASK_STATE_RUNNING);
  CHECK(out.current_round().phase() == cohort::v1::ROUND_PHASE_FORMING);

  cohort::v1::PauseTaskRequest pause;
  pause.set_task_id(id);
  REQUIRE(stub->PauseTask(LoopbackServer::AdminContext().get(), pause, &out).ok());
  CHECK(out.state() == cohort::v1::TASK_STATE_PAUSED);

  cohort::v1::AbortRoundRequest abort;
  abort.set_task_id(id);
  abort.set_reason("operator test");
  REQUIRE(stub->AbortRound(LoopbackServer::AdminContext().get(), abort, &out).ok());
  CHECK(out.rounds_failed() == 1);
  CHECK_FALSE(out.has_current_round());  // paused: no new round opens
  CHECK(out.latest_model_version() == 0);

  cohort::v1::ResumeTaskRequest resume;
  resume.set_task_id(id);
  REQUIRE(stub->ResumeTask(LoopbackServer::AdminContext().get(), resume, &out).ok());
  CHECK(out.state() == cohort::v1::TASK_STATE_RUNNING);
  CHECK(out.current_round().round_number() == 2);

  cohort::v1::ListRoundsRequest list;
  list.set_task_id(id);
  cohort::v1::ListRoundsResponse rounds;
  REQUIRE(stub->ListRounds(LoopbackServer::AdminContext().get(), list, &rounds).ok());
  REQUIRE(rounds.rounds_size() == 2);
  CHECK(rounds.rounds(0).round_number() == 2);
  CHECK(rounds.rounds(1).phase() == cohort::v1::ROUND_PHASE_FAILED);
  CHECK(rounds.rounds(1).failure_reason() == "aborted: operator test");

  // Abort without a round in flight is FAILED_PRECONDITION; unknown tasks NOT_FOUND.
  REQUIRE(stub->PauseTask(LoopbackServer::AdminContext().get(), pause, &out).ok());
  REQUIRE(stub->AbortRound(LoopbackServer::AdminContext().get(), abort, &out).ok());
  CHECK(stub->AbortRound(LoopbackServer::AdminContext().get(), abort, &out).error_code() ==
        grpc::StatusCode::FAILED_PRECONDITION);
  cohort::v1::GetTaskRequest missing;
  missing.set_task_id("no-such-task");
  CHECK(stub->GetTask(LoopbackServer::AdminContext().get(), missing, &out).error_code() ==
        grpc::StatusCode::NOT_FOUND);

  // The event stream saw the round start, the abort and the task state changes.
  std::vector<cohort::v1::RoundEvent::Kind> kinds;
  cohort::v1::RoundEvent event;
  while (kinds.size() < 7 && events->Read(&event)) kinds.push_back(event.kind());
  watch_context->TryCancel();
  REQUIRE_FALSE(kinds.empty());
  CHECK(kinds[0] == cohort::v1::RoundEvent::KIND_CURRENT_STATE);  // idle, before any round
  CHECK(std::count(kinds.begin(), kinds.end(), cohort::v1::RoundEvent::KIND_ROUND_STARTED) >= 2);
  CHECK(std::count(kinds.begin(), kinds.end(), cohort::v1::RoundEvent::KIND_ROUND_FAILED) == 1);
  CHECK(std::count(kinds.begin(), kinds.end(), cohort::v1::RoundEvent::KIND_TASK_STATE_CHANGED) >=
        2);
}

TEST_CASE("WatchEvents_WithoutATaskOpensWithWhereEveryTaskStandsThenFollowsThemAll") {
  auto server = LoopbackServer::Start();
  REQUIRE(server.ok());
  auto idle = (*server)->CreateTask(SmallTask("idle", 5, 4, true));
  auto running = (*server)->CreateTask(SmallTask("running", 5, 4, true));
  REQUIRE(idle.ok());
  REQUIRE(running.ok());
  auto stub = (*server)->NewAdminStub();
  cohort::v1::StartRoundsRequest start;
  start.set_task_id(running->task_id());
  start.set_continuous(true);
  cohort::v1::Task out;
  REQUIRE(stub->StartRounds(LoopbackServer::AdminContext().get(), start, &out).ok());

  auto watch_context = LoopbackServer::AdminContext();
  watch_context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  auto events = stub->WatchEvents(watch_context.get(), cohort::v1::WatchEventsRequest());
  std::map<std::string, cohort::v1::RoundEvent> snapshot;
  cohort::v1::RoundEvent event;
  while (snapshot.size() < 2 && events->Read(&event)) {
    REQUIRE(event.kind() == cohort::v1::RoundEvent::KIND_CURRENT_STATE);
    snapshot[event.task_id()] = event;
  }
  REQUIRE(snapshot.size() == 2);
  const cohort::v1::RoundEvent& before = snapshot[idle->task_id()];
  CHECK(before.message() == "TASK_STATE_IDLE");
  CHECK(before.round_number() == 0);
  CHECK_FALSE(before.has_round());
  const cohort::v1::RoundEvent& in_flight = snapshot[running->task_id()];
  CHECK(in_flight.message() == "TASK_STATE_RUNNING");
  CHECK(in_flight.round_number() == 1);  // already running when the stream opened
  CHECK(in_flight.phase() == cohort::v1::ROUND_PHASE_FORMING);
  CHECK(in_flight.round().round_number() == 1);

  // Then events of any task, including one created after the stream opened.
  auto later = (*server)->CreateTask(SmallTask("later", 5, 4, true));
  REQUIRE(later.ok());
  start.set_task_id(later->task_id());
  REQUIRE(stub->StartRounds(LoopbackServer::AdminContext().get(), start, &out).ok());
  bool saw_later = false;
  while (!saw_later && events->Read(&event)) saw_later = event.task_id() == later->task_id();
  watch_context->TryCancel();
  CHECK(saw_later);
}

TEST_CASE("DownloadModel_StreamsTheModelInParts") {
  auto server = LoopbackServer::Start();
  REQUIRE(server.ok());
  // 300k parameters: 1.2 MB, two parts.
  auto task = (*server)->CreateTask(SmallTask("big", 5, 4, true, 300000));
  REQUIRE(task.ok());
  auto model = (*server)->LatestModel(task->task_id());
  REQUIRE(model.ok());
  CHECK(model->parameters().size() == 1200000);
  CHECK(model->version() == 0);
  CHECK(model->sha256().size() == 32);
}

}  // namespace
}  // namespace cohort::server::test_util
