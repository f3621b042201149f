#include "server/core/coordinator.h"

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "secagg/signed_messages.h"
#include "secagg/signing.h"
#include "server/core/testing/coordinator_fixture.h"

namespace cohort::server {
namespace {

using test_util::CommitFault;
using test_util::Fixture;
using test_util::PlainConfig;

TEST_CASE("CreateTask_InvalidConfig_NamesTheField") {
  Fixture f;
  cohort::v1::CreateTaskRequest request;
  *request.mutable_config() = PlainConfig(0, 0);
  auto task = f.coordinator->CreateTask(request);
  CHECK(task.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(task.status().message().find("config.target_cohort_size") == 0);
}

TEST_CASE("CreateTask_OptimizerThisBuildDoesNotKnow_IsRefusedAndNothingIsStored") {
  Fixture f;
  cohort::v1::CreateTaskRequest request;
  *request.mutable_config() = PlainConfig(2, 2);
  // A kind from a newer build, as it arrives on the wire (field 1 = 7).
  REQUIRE(
      request.mutable_config()->mutable_optimizer()->ParseFromString(std::string("\x08\x07", 2)));
  auto task = f.coordinator->CreateTask(request);
  CHECK(task.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(task.status().message().find("config.optimizer.kind 7 is not known") == 0);
  auto tasks = f.store.ListTasks();
  REQUIRE(tasks.ok());
  CHECK(tasks->empty());
}

TEST_CASE("PauseTask_OfAPausedTask_IsFailedPreconditionAsDocumented") {
  Fixture f;
  const std::string task_id = f.CreateAndStart(PlainConfig(3, 2));
  auto paused = f.coordinator->PauseTask(task_id);
  REQUIRE(paused.ok());
  CHECK(paused->state() == cohort::v1::TASK_STATE_PAUSED);
  auto again = f.coordinator->PauseTask(task_id);
  CHECK(again.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(again.status().message() ==
        absl::StrCat("task ", task_id, " is TASK_STATE_PAUSED; only a RUNNING task can be paused"));
}

TEST_CASE("CheckIn_FillsTheRoundThenAnswersRetryLater") {
  Fixture f;
  f.CreateAndStart(PlainConfig(3, 2));
  for (int i = 0; i < 3; ++i) CHECK(f.CheckIn(i).has_accepted());
  const cohort::v1::CheckInResponse late = f.CheckIn(7);
  REQUIRE(late.has_retry_later());
  CHECK(late.retry_later().min_delay().seconds() >= 1);
  CHECK(late.retry_later().max_delay().seconds() > late.retry_later().min_delay().seconds());
  CHECK(f.observer.checkins["accepted"] == 3);
  CHECK(f.observer.checkins["no_round"] == 1);
  // A device already in the round that checks in again resumes with the same index.
  const cohort::v1::CheckInResponse again = f.CheckIn(1);
  REQUIRE(again.has_accepted());
  CHECK(f.Update(again.accepted().session_token()).plan().participant_index() == 2);
  CHECK(f.observer.checkins["resumed"] == 1);
}

TEST_CASE("Round_CommitsTheWeightedAverageThroughOneAtomicStoreCommit") {
  Fixture f;
  const std::string task_id = f.CreateAndStart(PlainConfig(3, 2));
  std::vector<std::string> tokens;
  for (int i = 0; i < 3; ++i) tokens.push_back(f.CheckIn(i).accepted().session_token());
  CHECK(f.Update(tokens[0]).phase() == cohort::v1::ROUND_PHASE_MASKED_INPUT);
  const std::vector<std::string> writes_before = f.store.writes();
  // Range 1, 8 bits: level l decodes to -1 + l * 2 / 255. Levels 255, 0 and 170 with weights
  // 1, 1 and 2 average to level (255 + 0 + 2 * 170) / 4 = 148.75, a delta of
  // -1 + 148.75 * 2 / 255 = 0.16667 (FedAvg, server learning rate 1).
  REQUIRE(f.Upload(tokens[0], 255, 1).ok());
  REQUIRE(f.Upload(tokens[1], 0, 1).ok());
  REQUIRE(f.Upload(tokens[2], 170, 2).ok());
  const double expected_delta = -1.0 + 148.75 * 2.0 / 255.0;
  const cohort::v1::RoundUpdate update = f.Update(tokens[0]);
  CHECK(update.phase() == cohort::v1::ROUND_PHASE_COMMITTED);
  CHECK(update.outcome().new_model_version() == 1);
  CHECK(update.outcome().contributors() == 3);

  // The model, the round's final summary and the task reached the store in one CommitRound:
  // no task update came between the uploads and it (the one after it records the task going
  // IDLE), and no separate round write ever said COMMITTED.
  std::vector<std::string> writes = f.store.writes();
  writes.erase(writes.begin(), writes.begin() + static_cast<std::ptrdiff_t>(writes_before.size()));
  CHECK(std::count(writes.begin(), writes.end(), "CommitRound") == 1);
  const auto commit = std::find(writes.begin(), writes.end(), "CommitRound");
  CHECK(std::count(writes.begin(), commit, "UpdateTask") == 0);
  for (cohort::v1::RoundPhase phase : f.store.put_round_phases()) {
    CHECK(phase != cohort::v1::ROUND_PHASE_COMMITTED);
  }
  auto v0 = f.store.GetModel(task_id, 0);
  auto v1 = f.store.GetModel(task_id, 1);
  REQUIRE(v0.ok());
  REQUIRE(v1.ok());
  const std::vector<float> before = test_util::FloatsOf(*v0);
  const std::vector<float> after = test_util::FloatsOf(*v1);
  REQUIRE(after.size() == 4);
  for (size_t i = 0; i < after.size(); ++i) {
    CHECK(after[i] == Approx(before[i] + expected_delta).margin(1e-6));
  }
  auto rounds = f.store.ListRounds(task_id, 0, 10);
  REQUIRE(rounds.ok());
  REQUIRE(rounds->size() == 1);
  CHECK(rounds->front().phase() == cohort::v1::ROUND_PHASE_COMMITTED);
  CHECK(rounds->front().new_model_version() == 1);
  CHECK(rounds->front().contributors() == 3);
  auto stored = f.store.GetTask(task_id);
  REQUIRE(stored.ok());
  CHECK(stored->latest_model_version() == 1);
  CHECK(stored->rounds_committed() == 1);
  CHECK(stored->state() == cohort::v1::TASK_STATE_IDLE);
  auto task = f.coordinator->GetTask(task_id);
  REQUIRE(task.ok());
  CHECK(task->latest_model_version() == 1);
  CHECK(task->rounds_committed() == 1);
  CHECK(task->state() == cohort::v1::TASK_STATE_IDLE);
  CHECK(f.store.participation().size() == 3);
  CHECK(f.observer.ended == std::vector<std::string>{"committed"});
  CHECK(f.observer.ended_by_task[task_id] == std::vector<std::string>{"committed"});  // labelled
}

TEST_CASE("GetModel_VersionZeroIsTheInitialModelAndNoVersionIsTheLatest") {
  Fixture f;
  const std::string task_id = f.CreateAndStart(PlainConfig(2, 2));
  std::vector<std::string> tokens;
  for (int i = 0; i < 2; ++i) tokens.push_back(f.CheckIn(i).accepted().session_token());
  REQUIRE(f.Upload(tokens[0], 255, 1).ok());
  REQUIRE(f.Upload(tokens[1], 255, 1).ok());
  REQUIRE(f.Update(tokens[0]).phase() == cohort::v1::ROUND_PHASE_COMMITTED);

  auto initial = f.coordinator->GetModel(task_id, 0);
  REQUIRE(initial.ok());
  CHECK(initial->version() == 0);
  auto latest = f.coordinator->GetModel(task_id, std::nullopt);
  REQUIRE(latest.ok());
  CHECK(latest->version() == 1);
  CHECK(latest->parameters() != initial->parameters());
  CHECK(f.coordinator->GetModel(task_id, 1)->parameters() == latest->parameters());
  CHECK(f.coordinator->GetModel(task_id, -1).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(f.coordinator->GetModel(task_id, 2).status().code() == absl::StatusCode::kNotFound);
}

TEST_CASE("AdvanceTo_DeadlineDropsSilentDevicesAndTooFewFailTheRound") {
  Fixture f;
  const std::string task_id = f.CreateAndStart(PlainConfig(3, 3));
  std::vector<std::string> tokens;
  for (int i = 0; i < 3; ++i) tokens.push_back(f.CheckIn(i).accepted().session_token());
  REQUIRE(f.Upload(tokens[0], 10, 1).ok());
  REQUIRE(f.Upload(tokens[1], 10, 1).ok());
  f.clock.AdvanceTime(absl::Seconds(59));
  f.coordinator->AdvanceTo(f.clock.Now());
  CHECK(f.Update(tokens[2]).phase() == cohort::v1::ROUND_PHASE_MASKED_INPUT);
  f.clock.AdvanceTime(absl::Seconds(2));
  f.coordinator->AdvanceTo(f.clock.Now());
  const cohort::v1::RoundUpdate update = f.Update(tokens[2]);
  CHECK(update.phase() == cohort::v1::ROUND_PHASE_FAILED);
  CHECK(update.participant_state() == cohort::v1::PARTICIPANT_STATE_DROPPED);
  CHECK(update.outcome().failure_reason().find("only 2 devices uploaded") != std::string::npos);
  CHECK(f.store.landed_commits() == 0);
  auto task = f.coordinator->GetTask(task_id);
  CHECK(task->latest_model_version() == 0);
  CHECK(task->rounds_failed() == 1);
  CHECK(f.observer.dropouts[cohort::v1::ROUND_PHASE_MASKED_INPUT] == 1);
  auto rounds = f.store.ListRounds(task_id, 0, 10);
  REQUIRE(rounds->size() == 1);
  CHECK(rounds->front().phase() == cohort::v1::ROUND_PHASE_FAILED);
  // Late upload from the dropped device: FAILED_PRECONDITION.
  cohort::v1::UploadMaskedInputRequest late;
  late.set_session_token(tokens[2]);
  CHECK(f.coordinator->UploadMaskedInput(late).status().code() ==
        absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("CommitFailure_FailsTheRoundAndLeavesTheStoreAsItWas") {
  Fixture f;
  const std::string task_id = f.CreateAndStart(PlainConfig(2, 2));
  f.store.SetCommitFault(CommitFault::kRefused, absl::UnavailableError("database down"));
  std::vector<std::string> tokens;
  for (int i = 0; i < 2; ++i) tokens.push_back(f.CheckIn(i).accepted().session_token());
  REQUIRE(f.Upload(tokens[0], 10, 1).ok());
  REQUIRE(f.Upload(tokens[1], 10, 1).ok());
  const cohort::v1::RoundUpdate update = f.Update(tokens[0]);
  CHECK(update.phase() == cohort::v1::ROUND_PHASE_FAILED);
  CHECK(update.outcome().failure_reason().find("database down") != std::string::npos);
  CHECK(f.coordinator->GetTask(task_id)->latest_model_version() == 0);
  CHECK(f.coordinator->GetTask(task_id)->rounds_failed() == 1);
  // None of the three parts of the commit is in the store.
  CHECK(f.store.GetModel(task_id, 1).status().code() == absl::StatusCode::kNotFound);
  CHECK(f.store.GetLatestModel(task_id)->version() == 0);
  CHECK(f.store.GetTask(task_id)->rounds_committed() == 0);
  CHECK(f.store.GetTask(task_id)->latest_model_version() == 0);
  auto rounds = f.store.ListRounds(task_id, 0, 10);
  REQUIRE(rounds.ok());
  REQUIRE(rounds->size() == 1);
  CHECK(rounds->front().phase() == cohort::v1::ROUND_PHASE_FAILED);
}

TEST_CASE("Tokens_AreCheckedOnEveryCall") {
  Fixture f;
  f.CreateAndStart(PlainConfig(3, 2));
  const std::string token = f.CheckIn(0).accepted().session_token();
  cohort::v1::DownloadModelRequest download;
  download.set_session_token(token + "x");
  CHECK(f.coordinator->DownloadModel(download).status().code() ==
        absl::StatusCode::kUnauthenticated);
  download.set_session_token(token);
  auto chunk = f.coordinator->DownloadModel(download);
  REQUIRE(chunk.ok());
  CHECK(chunk->header.total_size() == 16);
  CHECK(chunk->header.sha256().size() == 32);
  CHECK(chunk->data.size() == 16);
  CHECK(chunk->ToChunk().data() == std::string(chunk->data));
  // Expired after its lifetime.
  f.clock.AdvanceTime(absl::Hours(30));
  CHECK(f.coordinator->DownloadModel(download).status().code() ==
        absl::StatusCode::kUnauthenticated);
}

TEST_CASE("CoolDown_KeepsRecentParticipantsOutOfTheNextRound") {
  Fixture f;
  cohort::v1::TaskConfig config = PlainConfig(2, 2);
  config.mutable_device_cooldown()->set_seconds(3600);
  f.CreateAndStart(config, 2);
  std::vector<std::string> tokens;
  for (int i = 0; i < 2; ++i) tokens.push_back(f.CheckIn(i).accepted().session_token());
  REQUIRE(f.Upload(tokens[0], 1, 1).ok());
  REQUIRE(f.Upload(tokens[1], 1, 1).ok());
  // Round 2 forms: the two recent participants are turned away until the cool-down ends.
  const cohort::v1::CheckInResponse again = f.CheckIn(0);
  REQUIRE(again.has_retry_later());
  CHECK(again.retry_later().min_delay().seconds() >= 3500);
  CHECK(f.observer.checkins["cooling_down"] == 1);
  const cohort::v1::CheckInResponse fresh = f.CheckIn(5);
  INFO(fresh.DebugString());
  CHECK(fresh.has_accepted());
}

TEST_CASE("PollPhase_ParksUntilThePhaseChanges") {
  Fixture f;
  f.CreateAndStart(PlainConfig(2, 2));
  const std::string token = f.CheckIn(0).accepted().session_token();
  cohort::v1::WaitForPhaseRequest wait;
  wait.set_session_token(token);
  wait.set_known_phase(cohort::v1::ROUND_PHASE_FORMING);
  wait.mutable_max_wait()->set_seconds(60);
  auto poll = f.coordinator->PollPhase(wait);
  REQUIRE(poll.ok());
  CHECK_FALSE(poll->update.has_value());
  CHECK(poll->max_wait == absl::Seconds(30));  // capped
  f.observer.changed.clear();
  f.CheckIn(1);
  CHECK_FALSE(f.observer.changed.empty());
  CHECK(f.observer.changed.front() == poll->round_id);
  poll = f.coordinator->PollPhase(wait);
  REQUIRE(poll->update.has_value());
  CHECK(poll->update->phase() == cohort::v1::ROUND_PHASE_MASKED_INPUT);
}

TEST_CASE("Recover_FailsRoundsLeftInFlightAndReloadsTasks") {
  SimulatedClock clock;
  test_util::FaultInjectingStore store;
  std::string task_id;
  {
    CoordinatorOptions options;
    options.store = &store;
    options.clock = &clock;
    auto first = Coordinator::Create(options);
    REQUIRE(first.ok());
    REQUIRE((*first)->Recover().ok());
    cohort::v1::CreateTaskRequest create;
    *create.mutable_config() = PlainConfig(3, 2);
    task_id = (*first)->CreateTask(create)->task_id();
    cohort::v1::StartRoundsRequest start;
    start.set_task_id(task_id);
    start.set_continuous(true);
    REQUIRE((*first)->StartRounds(start).ok());
  }
  CoordinatorOptions options;
  options.store = &store;
  options.clock = &clock;
  auto second = Coordinator::Create(options);
  REQUIRE(second.ok());
  REQUIRE((*second)->Recover().ok());
  auto rounds = store.ListRounds(task_id, 0, 10);
  REQUIRE(rounds.ok());
  REQUIRE(rounds->size() == 2);
  CHECK((*rounds)[1].phase() == cohort::v1::ROUND_PHASE_FAILED);
  CHECK((*rounds)[1].failure_reason() == "server restart");
  auto task = (*second)->GetTask(task_id);
  REQUIRE(task.ok());
  CHECK(task->state() == cohort::v1::TASK_STATE_RUNNING);
  CHECK(task->current_round().round_number() == 2);
}

TEST_CASE("Recover_PausesAStoredSemiMaliciousTaskWithoutAKeyVerifier") {
  // A task stored by a server that had a device CA, recovered by one without.
  SimulatedClock clock;
  test_util::FaultInjectingStore store;
  cohort::v1::TaskConfig config = PlainConfig(3, 3);
  config.mutable_codec()->clear_quantization_range();
  config.mutable_secagg()->set_enabled(true);
  config.mutable_secagg()->set_threat_model(cohort::v1::THREAT_MODEL_SEMI_MALICIOUS);
  config.mutable_secagg()->set_expected_dropout_rate(0.01);
  config.mutable_secagg()->set_corrupted_fraction(0.01);
  config.mutable_secagg()->set_correctness_bits(5);
  config.mutable_initial_model()->set_glorot_uniform_seed(1);
  auto model = InitialModel(config);
  REQUIRE(model.ok());
  cohort::v1::Task stored;
  stored.set_task_id("pop-legacy");
  *stored.mutable_config() = config;
  stored.set_state(cohort::v1::TASK_STATE_RUNNING);
  stored.set_continuous(true);
  REQUIRE(store.CreateTask(stored, *model).ok());

  CoordinatorOptions options;
  options.store = &store;
  options.clock = &clock;
  auto coordinator = Coordinator::Create(options);
  REQUIRE(coordinator.ok());
  REQUIRE((*coordinator)->Recover().ok());

  auto task = (*coordinator)->GetTask("pop-legacy");
  REQUIRE(task.ok());
  CHECK(task->state() == cohort::v1::TASK_STATE_PAUSED);
  CHECK_FALSE(task->has_current_round());
  auto rounds = store.ListRounds("pop-legacy", 0, 10);
  REQUIRE(rounds.ok());
  CHECK(rounds->empty());
  auto persisted = store.GetTask("pop-legacy");
  REQUIRE(persisted.ok());
  CHECK(persisted->state() == cohort::v1::TASK_STATE_PAUSED);

  auto resumed = (*coordinator)->ResumeTask("pop-legacy");
  REQUIRE_FALSE(resumed.ok());
  CHECK(resumed.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(resumed.status().message().find("needs authenticated device keys") != std::string::npos);

  cohort::v1::StartRoundsRequest start;
  start.set_task_id("pop-legacy");
  start.set_count(1);
  auto started = (*coordinator)->StartRounds(start);
  REQUIRE_FALSE(started.ok());
  CHECK(started.status().code() == absl::StatusCode::kFailedPrecondition);
  clock.AdvanceTime(absl::Minutes(5));
  (*coordinator)->AdvanceTo(clock.Now());
  CHECK_FALSE((*coordinator)->GetTask("pop-legacy")->has_current_round());
}

TEST_CASE("CheckIn_ASecondClientWithAVictimsIdCannotTakeItsSession") {
  Fixture f;
  f.CreateAndStart(PlainConfig(3, 3));
  const cohort::v1::CheckInResponse victim = f.CheckIn(1);
  REQUIRE(victim.has_accepted());
  // Same device id, another key: refused, and the victim's session stands.
  auto impostor = f.coordinator->CheckIn(Fixture::CheckInRequestOf(1, /*key_of=*/9));
  CHECK(impostor.status().code() == absl::StatusCode::kPermissionDenied);
  CHECK(f.observer.checkins["key_mismatch"] == 1);
  // The device itself, checking in again (its answer was lost), gets its slot back.
  auto again = f.coordinator->CheckIn(Fixture::CheckInRequestOf(1));
  REQUIRE(again.ok());
  REQUIRE(again->has_accepted());
  CHECK(again->accepted().round_id() == victim.accepted().round_id());
  CHECK(f.Update(again->accepted().session_token()).plan().participant_index() ==
        f.Update(victim.accepted().session_token()).plan().participant_index());
}

TEST_CASE("CheckIn_RefusesAnUnsignedOrForgedDeviceKey") {
  Fixture f;
  f.CreateAndStart(PlainConfig(3, 3));
  cohort::v1::CheckInRequest unsigned_request = Fixture::CheckInRequestOf(2);
  unsigned_request.clear_device_key_signature();
  CHECK(f.coordinator->CheckIn(unsigned_request).status().code() ==
        absl::StatusCode::kInvalidArgument);
  cohort::v1::CheckInRequest forged = Fixture::CheckInRequestOf(2);
  forged.set_device_id("unit-test-device-2999");  // the signature was over another id
  CHECK(f.coordinator->CheckIn(forged).status().code() == absl::StatusCode::kInvalidArgument);
  cohort::v1::CheckInRequest no_key = Fixture::CheckInRequestOf(2);
  no_key.clear_device_public_key();
  CHECK(f.coordinator->CheckIn(no_key).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("CreateTask_SemiMaliciousNeedsTheDeviceCa") {
  Fixture f;
  cohort::v1::TaskConfig config = PlainConfig(3, 3);
  config.mutable_codec()->clear_quantization_range();
  config.mutable_secagg()->set_enabled(true);
  config.mutable_secagg()->set_threat_model(cohort::v1::THREAT_MODEL_SEMI_MALICIOUS);
  config.mutable_secagg()->set_expected_dropout_rate(0.01);
  config.mutable_secagg()->set_corrupted_fraction(0.01);
  config.mutable_secagg()->set_correctness_bits(5);
  cohort::v1::CreateTaskRequest create;
  *create.mutable_config() = config;
  auto refused = f.coordinator->CreateTask(create);
  CHECK(refused.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(refused.status().message().find("--device_ca_file") != absl::string_view::npos);
}

}  // namespace
}  // namespace cohort::server
