#include "server/core/coordinator.h"

#include <map>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "secagg/packing.h"
#include "secagg/signed_messages.h"
#include "secagg/signing.h"
#include "secagg/testing/fake_random_source.h"
#include "server/core/aggregation.h"
#include "server/core/testing/fake_store.h"

namespace cohort::server {
namespace {

using test_util::FakeStore;

class RecordingObserver : public CoordinatorObserver {
 public:
  void OnEvent(const cohort::v1::RoundEvent& event) override { events.push_back(event); }
  void OnRoundChanged(const std::string& round_id) override { changed.push_back(round_id); }
  void OnCheckIn(absl::string_view outcome) override { checkins[std::string(outcome)]++; }
  void OnPhaseClosed(cohort::v1::RoundPhase phase, absl::Duration, int32_t dropped) override {
    dropouts[phase] += dropped;
  }
  void OnRoundEnded(absl::string_view outcome) override { ended.emplace_back(outcome); }

  std::vector<cohort::v1::RoundEvent> events;
  std::vector<std::string> changed;
  std::map<std::string, int> checkins;
  std::map<cohort::v1::RoundPhase, int> dropouts;
  std::vector<std::string> ended;
};

cohort::v1::TaskConfig PlainConfig(int target, int min) {
  cohort::v1::TaskConfig config;
  config.set_population("pop");
  auto* t = config.mutable_layout()->add_tensors();
  t->set_name("w");
  t->add_shape(4);
  config.set_target_cohort_size(target);
  config.set_over_selection_factor(1.0);
  config.set_min_participants(min);
  config.mutable_codec()->set_quantization_range(1.0);
  config.mutable_codec()->set_l2_clip_norm(10.0);
  config.mutable_codec()->set_bits(8);
  config.mutable_deadlines()->mutable_masked_input()->set_seconds(60);
  config.mutable_device_cooldown()->set_seconds(0);
  return config;
}

class Fixture {
 public:
  explicit Fixture(uint64_t seed = 1) : rng_(seed) {
    CoordinatorOptions options;
    options.store = &store;
    options.clock = &clock;
    options.observer = &observer;
    options.random = &rng_;
    options.session_key = std::string(32, 's');
    options.sampling_seed = 42;
    auto created = Coordinator::Create(options);
    REQUIRE(created.ok());
    coordinator = std::move(*created);
    REQUIRE(coordinator->Recover().ok());
  }

  std::string CreateAndStart(const cohort::v1::TaskConfig& config, int rounds = 1) {
    cohort::v1::CreateTaskRequest create;
    *create.mutable_config() = config;
    auto task = coordinator->CreateTask(create);
    REQUIRE(task.ok());
    cohort::v1::StartRoundsRequest start;
    start.set_task_id(task->task_id());
    start.set_count(rounds);
    REQUIRE(coordinator->StartRounds(start).ok());
    return task->task_id();
  }

  // A device's check-in, signed with its key (`key_of` picks another device's key: an
  // impostor using this device's id).
  static cohort::v1::CheckInRequest CheckInRequestOf(int device, int key_of = -1) {
    if (key_of < 0) key_of = device;
    cohort::v1::CheckInRequest request;
    request.set_population("pop");
    request.set_device_id(absl::StrCat("unit-test-device-", 1000 + device));
    request.set_sdk_version("1.0.0");
    const secagg::SigningKey key =
        *secagg::SigningKey::FromSeed(std::string(31, 'k') + static_cast<char>(key_of));
    request.set_device_public_key(key.verifying_key().ToBytes());
    request.set_device_key_signature(
        *key.Sign(secagg::CheckInMessage(request.population(), request.device_id())));
    return request;
  }

  cohort::v1::CheckInResponse CheckIn(int device) {
    auto response = coordinator->CheckIn(CheckInRequestOf(device));
    REQUIRE(response.ok());
    return *response;
  }

  cohort::v1::RoundUpdate Update(const std::string& token) {
    cohort::v1::WaitForPhaseRequest request;
    request.set_session_token(token);
    auto poll = coordinator->PollPhase(request);
    REQUIRE(poll.ok());
    REQUIRE(poll->update.has_value());
    return *poll->update;
  }

  // Uploads `level` in every coordinate with weight `weight` (the stand-in QUANTIZED encoding).
  absl::Status Upload(const std::string& token, uint64_t level, uint64_t weight) {
    const cohort::v1::RoundUpdate update = Update(token);
    const auto& codec = update.plan().codec();
    std::vector<uint64_t> input(static_cast<size_t>(codec.vector_length()), level * weight);
    input.back() = weight;
    cohort::v1::UploadMaskedInputRequest request;
    request.set_session_token(token);
    request.set_chunk_index(0);
    request.set_data(*secagg::Pack(input, codec.modulus_bits()));
    return coordinator->UploadMaskedInput(request).status();
  }

  SimulatedClock clock;
  FakeStore store;
  RecordingObserver observer;
  std::unique_ptr<Coordinator> coordinator;

 private:
  secagg::FakeRandomSource rng_;
};

TEST_CASE("CreateTask_InvalidConfig_NamesTheField") {
  Fixture f;
  cohort::v1::CreateTaskRequest request;
  *request.mutable_config() = PlainConfig(0, 0);
  auto task = f.coordinator->CreateTask(request);
  CHECK(task.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(task.status().message().find("config.target_cohort_size") == 0);
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

TEST_CASE("Round_CommitsThroughTheStoreAtomically") {
  Fixture f;
  const std::string task_id = f.CreateAndStart(PlainConfig(3, 2));
  std::vector<std::string> tokens;
  for (int i = 0; i < 3; ++i) tokens.push_back(f.CheckIn(i).accepted().session_token());
  CHECK(f.Update(tokens[0]).phase() == cohort::v1::ROUND_PHASE_MASKED_INPUT);
  // Levels 255 (=+1.0) with weights 1, 1, 2 -> average +1.0; range 1, 8 bits.
  REQUIRE(f.Upload(tokens[0], 255, 1).ok());
  REQUIRE(f.Upload(tokens[1], 255, 1).ok());
  REQUIRE(f.Upload(tokens[2], 255, 2).ok());
  CHECK(f.store.commits() == 1);
  const cohort::v1::RoundUpdate update = f.Update(tokens[0]);
  CHECK(update.phase() == cohort::v1::ROUND_PHASE_COMMITTED);
  CHECK(update.outcome().new_model_version() == 1);
  CHECK(update.outcome().contributors() == 3);
  auto task = f.coordinator->GetTask(task_id);
  REQUIRE(task.ok());
  CHECK(task->latest_model_version() == 1);
  CHECK(task->rounds_committed() == 1);
  CHECK(task->state() == cohort::v1::TASK_STATE_IDLE);
  auto stored = f.store.GetTask(task_id);
  CHECK(stored->latest_model_version() == 1);
  auto v0 = f.store.GetModel(task_id, 0);
  auto v1 = f.coordinator->GetModel(task_id, 1);
  REQUIRE(v0.ok());
  REQUIRE(v1.ok());
  CHECK(v1->version() == 1);
  CHECK(v1->parameters() != v0->parameters());
  CHECK(f.store.participation().size() == 3);
  CHECK(f.observer.ended == std::vector<std::string>{"committed"});
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
  CHECK(f.store.commits() == 0);
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

TEST_CASE("CommitFailure_FailsTheRoundAndKeepsTheModel") {
  Fixture f;
  const std::string task_id = f.CreateAndStart(PlainConfig(2, 2));
  f.store.FailCommits(absl::UnavailableError("database down"));
  std::vector<std::string> tokens;
  for (int i = 0; i < 2; ++i) tokens.push_back(f.CheckIn(i).accepted().session_token());
  REQUIRE(f.Upload(tokens[0], 10, 1).ok());
  REQUIRE(f.Upload(tokens[1], 10, 1).ok());
  const cohort::v1::RoundUpdate update = f.Update(tokens[0]);
  CHECK(update.phase() == cohort::v1::ROUND_PHASE_FAILED);
  CHECK(update.outcome().failure_reason().find("database down") != std::string::npos);
  CHECK(f.coordinator->GetTask(task_id)->latest_model_version() == 0);
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
  CHECK(chunk->total_size() == 16);
  CHECK(chunk->sha256().size() == 32);
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
  FakeStore store;
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
  FakeStore store;
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
