#include "client_sdk/src/session_machine.h"

#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace cohort::client::internal {
namespace {

using Kind = Action::Kind;

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);

SessionPolicy TestPolicy() {
  SessionPolicy p;
  p.initial_backoff = absl::Seconds(1);
  p.max_backoff = absl::Seconds(8);
  p.max_check_in_attempts = 4;
  p.max_round_attempts = 5;
  p.deadline_grace = absl::Seconds(10);
  p.max_model_downloads = 2;
  p.max_precondition_failures = 1;
  return p;
}

// Jitter source that returns a fixed value, so backoffs are exact.
SessionMachine MakeMachine(double u = 0.5) {
  return SessionMachine(TestPolicy(), [u] { return u; });
}

v1::CheckInResponse Accepted() {
  v1::CheckInResponse r;
  r.mutable_accepted()->set_session_token("tok");
  r.mutable_accepted()->set_task_id("task");
  r.mutable_accepted()->set_round_number(7);
  r.mutable_accepted()->set_round_id("round-7");
  return r;
}

v1::RoundPlan Plan(bool secure, int64_t model_bytes = 10, int64_t vector_length = 5,
                   int64_t chunk_elements = 2) {
  v1::RoundPlan plan;
  plan.set_task_id("task");
  plan.set_round_number(7);
  plan.set_round_id("round-7");
  plan.set_model_version(3);
  plan.set_model_size_bytes(model_bytes);
  plan.set_model_sha256(std::string(32, 'h'));
  plan.mutable_codec()->set_vector_length(vector_length);
  plan.mutable_codec()->set_chunk_elements(chunk_elements);
  plan.set_participant_index(2);
  if (secure) {
    plan.mutable_secagg()->set_num_participants(3);
    plan.mutable_secagg()->set_threshold(2);
    plan.mutable_secagg()->set_neighbour_degree(2);
  }
  return plan;
}

v1::RoundUpdate Update(v1::RoundPhase phase, const v1::RoundPlan* plan = nullptr,
                       absl::Time deadline = kT0 + absl::Minutes(5)) {
  v1::RoundUpdate u;
  u.set_phase(phase);
  u.set_participant_state(v1::PARTICIPANT_STATE_ACTIVE);
  u.mutable_phase_deadline()->set_seconds(absl::ToUnixSeconds(deadline));
  if (plan != nullptr) *u.mutable_plan() = *plan;
  switch (phase) {
    case v1::ROUND_PHASE_SHARE_KEYS:
      u.mutable_neighbour_keys()->add_neighbours()->set_participant_index(1);
      break;
    case v1::ROUND_PHASE_MASKED_INPUT:
      if (plan != nullptr && plan->has_secagg()) {
        u.mutable_incoming_shares()->add_shares()->set_sender_index(1);
      }
      break;
    case v1::ROUND_PHASE_UNMASKING:
      u.mutable_unmasking()->add_surviving_neighbours(1);
      break;
    case v1::ROUND_PHASE_COMMITTED:
      u.mutable_outcome()->set_new_model_version(4);
      u.mutable_outcome()->set_contributors(3);
      break;
    default:
      break;
  }
  return u;
}

v1::ModelChunk Chunk(int64_t offset, int64_t size, int64_t total = 10) {
  v1::ModelChunk c;
  c.set_offset(offset);
  c.set_data(std::string(size, 'm'));
  c.set_total_size(total);
  c.set_model_version(3);
  c.set_sha256(std::string(32, 'h'));
  return c;
}

v1::UploadMaskedInputResponse Uploaded(int64_t received, int64_t total) {
  v1::UploadMaskedInputResponse r;
  r.set_chunks_received(received);
  r.set_chunks_total(total);
  r.set_complete(received == total);
  return r;
}

// Drives `m` from check-in to the first upload of a round with `plan`.
void DriveToUpload(SessionMachine& m, const v1::RoundPlan& plan) {
  m.OnCheckIn(Accepted(), kT0);
  m.OnRoundUpdate(Update(v1::ROUND_PHASE_FORMING), kT0);
  if (plan.has_secagg()) {
    m.OnRoundUpdate(Update(v1::ROUND_PHASE_ADVERTISE_KEYS, &plan), kT0);
    m.OnKeysAdvertised();
    m.OnRoundUpdate(Update(v1::ROUND_PHASE_SHARE_KEYS, &plan), kT0);
    m.OnKeysShared();
  }
  m.OnRoundUpdate(Update(v1::ROUND_PHASE_MASKED_INPUT, &plan), kT0);
  if (plan.has_secagg()) {
    REQUIRE(m.Next(kT0).kind == Kind::kReportShares);
    m.OnSharesReported();
  }
  REQUIRE(m.OnModelChunk(Chunk(0, 10)));
  m.OnModelVerified(true);
  m.OnTrained(absl::OkStatus(), 42);
  REQUIRE(m.Next(kT0).kind == Kind::kUploadChunk);
}

TEST_CASE("CheckIn_AcceptedPollsForTheCurrentPhase") {
  SessionMachine m = MakeMachine();
  REQUIRE(m.Next(kT0).kind == Kind::kCheckIn);
  m.OnCheckIn(Accepted(), kT0);
  Action a = m.Next(kT0);
  CHECK(a.kind == Kind::kWaitForPhase);
  CHECK(a.known_phase == v1::ROUND_PHASE_UNSPECIFIED);
  CHECK(m.session_token() == "tok");
  CHECK(m.round_number() == 7);
  m.OnRoundUpdate(Update(v1::ROUND_PHASE_FORMING), kT0);
  a = m.Next(kT0);
  CHECK(a.kind == Kind::kWaitForPhase);
  CHECK(a.known_phase == v1::ROUND_PHASE_FORMING);
}

TEST_CASE("CheckIn_RetryLaterEndsWithATimeInsideTheWindow") {
  SessionMachine m = MakeMachine(0.25);
  v1::CheckInResponse r;
  r.mutable_retry_later()->mutable_min_delay()->set_seconds(60);
  r.mutable_retry_later()->mutable_max_delay()->set_seconds(180);
  r.mutable_retry_later()->set_reason("pace steering");
  m.OnCheckIn(r, kT0);
  Action a = m.Next(kT0);
  REQUIRE(a.kind == Kind::kDone);
  REQUIRE(a.result.ok());
  CHECK(a.result->kind == OutcomeKind::kRetryLater);
  CHECK(a.result->reason == "pace steering");
  CHECK(a.result->retry_at == kT0 + absl::Seconds(60 + 30));
  CHECK_FALSE(m.in_round());
}

TEST_CASE("CheckIn_TransientErrorsBackOffExponentiallyThenGiveUp") {
  SessionMachine m = MakeMachine(1.0);  // u = 1: the full backoff
  absl::Time now = kT0;
  std::vector<absl::Duration> waits;
  for (int i = 0; i < 3; ++i) {
    REQUIRE(m.Next(now).kind == Kind::kCheckIn);
    m.OnRpcError(absl::UnavailableError("connection refused"), now);
    Action a = m.Next(now);
    REQUIRE(a.kind == Kind::kSleep);
    waits.push_back(a.until - now);
    now = a.until;
  }
  CHECK(waits == std::vector<absl::Duration>{absl::Seconds(1), absl::Seconds(2),
                                             absl::Seconds(4)});
  REQUIRE(m.Next(now).kind == Kind::kCheckIn);
  m.OnRpcError(absl::UnavailableError("connection refused"), now);
  Action a = m.Next(now);
  REQUIRE(a.kind == Kind::kDone);
  CHECK(a.result.status().code() == absl::StatusCode::kUnavailable);
}

TEST_CASE("Backoff_IsJitteredAndCapped") {
  SessionMachine m = MakeMachine();
  CHECK(m.Backoff(1, 0.0) == absl::Milliseconds(500));
  CHECK(m.Backoff(1, 1.0) == absl::Seconds(1));
  CHECK(m.Backoff(3, 0.5) == absl::Seconds(3));
  CHECK(m.Backoff(30, 1.0) == absl::Seconds(8));
  CHECK(m.Backoff(3000, 1.0) == absl::Seconds(8));
}

TEST_CASE("CheckIn_NotFoundEndsWithoutRetry") {
  SessionMachine m = MakeMachine();
  m.OnRpcError(absl::NotFoundError("no population"), kT0);
  Action a = m.Next(kT0);
  REQUIRE(a.kind == Kind::kDone);
  CHECK(a.result.status().code() == absl::StatusCode::kNotFound);
}

TEST_CASE("SecureRound_RunsEveryPhaseInOrderAndContributes") {
  SessionMachine m = MakeMachine();
  const v1::RoundPlan plan = Plan(/*secure=*/true);
  m.OnCheckIn(Accepted(), kT0);
  m.OnRoundUpdate(Update(v1::ROUND_PHASE_FORMING), kT0);
  m.OnRoundUpdate(Update(v1::ROUND_PHASE_ADVERTISE_KEYS, &plan), kT0);
  REQUIRE(m.Next(kT0).kind == Kind::kAdvertiseKeys);
  REQUIRE(m.secure());
  m.OnKeysAdvertised();
  Action a = m.Next(kT0);
  REQUIRE(a.kind == Kind::kWaitForPhase);
  CHECK(a.known_phase == v1::ROUND_PHASE_ADVERTISE_KEYS);
  m.OnRoundUpdate(Update(v1::ROUND_PHASE_SHARE_KEYS, &plan), kT0);
  REQUIRE(m.Next(kT0).kind == Kind::kShareKeys);
  CHECK(m.last_update().neighbour_keys().neighbours_size() == 1);
  m.OnKeysShared();
  CHECK(m.Next(kT0).known_phase == v1::ROUND_PHASE_SHARE_KEYS);
  m.OnRoundUpdate(Update(v1::ROUND_PHASE_MASKED_INPUT, &plan), kT0);
  // Before anything else the device says which bundles did not open: its neighbours' inputs
  // wait for that.
  REQUIRE(m.Next(kT0).kind == Kind::kReportShares);
  m.OnSharesReported();
  a = m.Next(kT0);
  REQUIRE(a.kind == Kind::kDownloadModel);
  CHECK(a.offset == 0);
  REQUIRE(m.OnModelChunk(Chunk(0, 4)));
  a = m.Next(kT0);
  REQUIRE(a.kind == Kind::kDownloadModel);
  CHECK(a.offset == 4);
  REQUIRE(m.OnModelChunk(Chunk(4, 6)));
  REQUIRE(m.Next(kT0).kind == Kind::kVerifyModel);
  m.OnModelVerified(true);
  REQUIRE(m.Next(kT0).kind == Kind::kTrain);
  m.OnTrained(absl::OkStatus(), 42);
  REQUIRE(m.num_chunks() == 3);
  for (int64_t i = 0; i < 3; ++i) {
    a = m.Next(kT0);
    REQUIRE(a.kind == Kind::kUploadChunk);
    CHECK(a.chunk_index == i);
    m.OnChunkUploaded(Uploaded(i + 1, 3));
  }
  a = m.Next(kT0);
  REQUIRE(a.kind == Kind::kWaitForPhase);
  CHECK(a.known_phase == v1::ROUND_PHASE_MASKED_INPUT);
  m.OnRoundUpdate(Update(v1::ROUND_PHASE_UNMASKING), kT0);
  REQUIRE(m.Next(kT0).kind == Kind::kSubmitUnmasking);
  m.OnUnmaskingSubmitted();
  CHECK(m.Next(kT0).known_phase == v1::ROUND_PHASE_UNMASKING);
  m.OnRoundUpdate(Update(v1::ROUND_PHASE_COMMITTED), kT0);
  a = m.Next(kT0);
  REQUIRE(a.kind == Kind::kDone);
  REQUIRE(a.result.ok());
  CHECK(a.result->kind == OutcomeKind::kContributed);
  CHECK(a.result->new_model_version == 4);
  CHECK(a.result->contributors == 3);
  CHECK(a.result->round_number == 7);
}

TEST_CASE("SemiMaliciousRound_SignsTheSurvivorSetBeforeUnmasking") {
  SessionMachine m = MakeMachine();
  const v1::RoundPlan plan = Plan(true);
  DriveToUpload(m, plan);
  for (int64_t i = 0; i < 3; ++i) m.OnChunkUploaded(Uploaded(i + 1, 3));
  v1::RoundUpdate check = Update(v1::ROUND_PHASE_CONSISTENCY_CHECK, &plan);
  check.mutable_consistency_check()->add_survivors(1);
  m.OnRoundUpdate(check, kT0);
  REQUIRE(m.Next(kT0).kind == Kind::kSignSurvivors);
  m.OnSurvivorsSigned();
  Action a = m.Next(kT0);
  REQUIRE(a.kind == Kind::kWaitForPhase);
  CHECK(a.known_phase == v1::ROUND_PHASE_CONSISTENCY_CHECK);
  // Restored after signing, it does not sign again.
  absl::StatusOr<SessionMachine> restored =
      SessionMachine::Restore(m.Snapshot(), TestPolicy(), [] { return 0.5; });
  REQUIRE(restored.ok());
  restored->OnRoundUpdate(check, kT0);
  CHECK(restored->Next(kT0).kind == Kind::kWaitForPhase);
  m.OnRoundUpdate(Update(v1::ROUND_PHASE_UNMASKING), kT0);
  CHECK(m.Next(kT0).kind == Kind::kSubmitUnmasking);
}

TEST_CASE("PlainRound_SkipsKeyPhasesAndUnmasking") {
  SessionMachine m = MakeMachine();
  const v1::RoundPlan plan = Plan(/*secure=*/false);
  DriveToUpload(m, plan);
  CHECK_FALSE(m.secure());
  for (int64_t i = 0; i < 3; ++i) m.OnChunkUploaded(Uploaded(i + 1, 3));
  m.OnRoundUpdate(Update(v1::ROUND_PHASE_COMMITTED), kT0);
  Action a = m.Next(kT0);
  REQUIRE(a.kind == Kind::kDone);
  CHECK(a.result->kind == OutcomeKind::kContributed);
}

TEST_CASE("Download_ChecksumMismatchRestartsFromOffsetZero") {
  SessionMachine m = MakeMachine();
  const v1::RoundPlan plan = Plan(false);
  m.OnCheckIn(Accepted(), kT0);
  m.OnRoundUpdate(Update(v1::ROUND_PHASE_MASKED_INPUT, &plan), kT0);
  REQUIRE(m.OnModelChunk(Chunk(0, 10)));
  m.OnModelVerified(false);
  Action a = m.Next(kT0);
  REQUIRE(a.kind == Kind::kDownloadModel);
  CHECK(a.offset == 0);
  REQUIRE(m.OnModelChunk(Chunk(0, 10)));
  m.OnModelVerified(true);
  CHECK(m.Next(kT0).kind == Kind::kTrain);
}

TEST_CASE("Download_RepeatedMismatchLeavesWithDataLoss") {
  SessionMachine m = MakeMachine();
  const v1::RoundPlan plan = Plan(false);
  m.OnCheckIn(Accepted(), kT0);
  m.OnRoundUpdate(Update(v1::ROUND_PHASE_MASKED_INPUT, &plan), kT0);
  for (int i = 0; i < 2; ++i) {
    REQUIRE(m.OnModelChunk(Chunk(0, 10)));
    m.OnModelVerified(false);
  }
  Action a = m.Next(kT0);
  REQUIRE(a.kind == Kind::kLeave);
  m.OnLeft();
  a = m.Next(kT0);
  REQUIRE(a.kind == Kind::kDone);
  CHECK(a.result.status().code() == absl::StatusCode::kDataLoss);
}

TEST_CASE("Download_ChunkThatDoesNotContinueIsRefused") {
  SessionMachine m = MakeMachine();
  const v1::RoundPlan plan = Plan(false);
  m.OnCheckIn(Accepted(), kT0);
  m.OnRoundUpdate(Update(v1::ROUND_PHASE_MASKED_INPUT, &plan), kT0);
  REQUIRE(m.OnModelChunk(Chunk(0, 4)));
  CHECK_FALSE(m.OnModelChunk(Chunk(2, 4)));  // overlaps
  Action a = m.Next(kT0);
  REQUIRE(a.kind == Kind::kDownloadModel);
  CHECK(a.offset == 0);
  v1::ModelChunk other_model = Chunk(0, 10);
  other_model.set_sha256(std::string(32, 'x'));
  CHECK_FALSE(m.OnModelChunk(other_model));
  CHECK(m.Next(kT0).kind == Kind::kLeave);  // second failed download
}

TEST_CASE("Round_TransientErrorBacksOffThenResynchronizesAndResumesTheUpload") {
  SessionMachine m = MakeMachine(0.0);
  const v1::RoundPlan plan = Plan(true);
  DriveToUpload(m, plan);
  m.OnChunkUploaded(Uploaded(1, 3));
  m.OnRpcError(absl::UnavailableError("socket closed"), kT0);
  Action a = m.Next(kT0);
  REQUIRE(a.kind == Kind::kSleep);
  CHECK(a.until == kT0 + absl::Milliseconds(500));
  a = m.Next(a.until);
  REQUIRE(a.kind == Kind::kWaitForPhase);
  CHECK(a.known_phase == v1::ROUND_PHASE_UNSPECIFIED);
  m.OnRoundUpdate(Update(v1::ROUND_PHASE_MASKED_INPUT, &plan), kT0 + absl::Seconds(1));
  a = m.Next(kT0 + absl::Seconds(1));
  REQUIRE(a.kind == Kind::kUploadChunk);
  CHECK(a.chunk_index == 1);
}

TEST_CASE("Round_RetriesStopAfterThePhaseDeadlinePlusGrace") {
  SessionMachine m = MakeMachine();
  const v1::RoundPlan plan = Plan(true);
  DriveToUpload(m, plan);  // deadline kT0 + 5 min
  m.OnRpcError(absl::DeadlineExceededError("slow"), kT0 + absl::Minutes(5) + absl::Seconds(5));
  REQUIRE(m.Next(kT0 + absl::Minutes(6)).kind == Kind::kWaitForPhase);
  m.OnRpcError(absl::UnavailableError("gone"), kT0 + absl::Minutes(5) + absl::Seconds(11));
  Action a = m.Next(kT0 + absl::Minutes(6));
  REQUIRE(a.kind == Kind::kDone);
  CHECK(a.result.status().code() == absl::StatusCode::kUnavailable);
}

TEST_CASE("Round_RetriesStopAfterTheAttemptBudget") {
  SessionMachine m = MakeMachine();
  const v1::RoundPlan plan = Plan(false);
  DriveToUpload(m, plan);
  absl::Time now = kT0;
  for (int i = 0; i < 4; ++i) {
    m.OnRpcError(absl::UnavailableError("gone"), now);
    Action a = m.Next(now);
    REQUIRE(a.kind == Kind::kSleep);
    now = a.until;
  }
  m.OnRpcError(absl::UnavailableError("gone"), now);
  CHECK(m.Next(now).kind == Kind::kDone);
}

TEST_CASE("Round_LostAdvertiseResponseIsSettledByTheNextPhase") {
  SessionMachine m = MakeMachine();
  const v1::RoundPlan plan = Plan(true);
  m.OnCheckIn(Accepted(), kT0);
  m.OnRoundUpdate(Update(v1::ROUND_PHASE_ADVERTISE_KEYS, &plan), kT0);
  m.OnRpcError(absl::DeadlineExceededError("response lost"), kT0);
  m.OnRoundUpdate(Update(v1::ROUND_PHASE_SHARE_KEYS), kT0 + absl::Seconds(2));
  CHECK(m.Next(kT0 + absl::Seconds(2)).kind == Kind::kShareKeys);
}

TEST_CASE("Round_DroppedByTheServerEndsAsDropped") {
  SessionMachine m = MakeMachine();
  const v1::RoundPlan plan = Plan(true);
  m.OnCheckIn(Accepted(), kT0);
  v1::RoundUpdate u = Update(v1::ROUND_PHASE_SHARE_KEYS, &plan);
  u.set_participant_state(v1::PARTICIPANT_STATE_DROPPED);
  u.set_dropped_reason("missed ADVERTISE_KEYS deadline");
  m.OnRoundUpdate(u, kT0);
  Action a = m.Next(kT0);
  REQUIRE(a.kind == Kind::kDone);
  CHECK(a.result->kind == OutcomeKind::kDropped);
  CHECK(a.result->reason == "missed ADVERTISE_KEYS deadline");
}

TEST_CASE("Round_CommittedWithoutOurInputIsDropped") {
  SessionMachine m = MakeMachine();
  m.OnCheckIn(Accepted(), kT0);
  m.OnRoundUpdate(Update(v1::ROUND_PHASE_COMMITTED), kT0);
  Action a = m.Next(kT0);
  REQUIRE(a.kind == Kind::kDone);
  CHECK(a.result->kind == OutcomeKind::kDropped);
}

TEST_CASE("Round_FailedRoundReportsTheServersReason") {
  SessionMachine m = MakeMachine();
  m.OnCheckIn(Accepted(), kT0);
  v1::RoundUpdate u = Update(v1::ROUND_PHASE_FAILED);
  u.mutable_outcome()->set_failure_reason("too few devices");
  m.OnRoundUpdate(u, kT0);
  Action a = m.Next(kT0);
  REQUIRE(a.kind == Kind::kDone);
  CHECK(a.result->kind == OutcomeKind::kRoundFailed);
  CHECK(a.result->reason == "too few devices");
}

TEST_CASE("Round_UnauthenticatedEndsAsDropped") {
  SessionMachine m = MakeMachine();
  m.OnCheckIn(Accepted(), kT0);
  m.OnRpcError(absl::UnauthenticatedError("token expired"), kT0);
  Action a = m.Next(kT0);
  REQUIRE(a.kind == Kind::kDone);
  CHECK(a.result->kind == OutcomeKind::kDropped);
}

TEST_CASE("Round_FailedPreconditionResynchronizesThenLeaves") {
  SessionMachine m = MakeMachine();
  const v1::RoundPlan plan = Plan(true);
  m.OnCheckIn(Accepted(), kT0);
  m.OnRoundUpdate(Update(v1::ROUND_PHASE_ADVERTISE_KEYS, &plan), kT0);
  m.OnRpcError(absl::FailedPreconditionError("not now"), kT0);
  Action a = m.Next(kT0 + absl::Minutes(1));
  REQUIRE(a.kind == Kind::kWaitForPhase);
  CHECK(a.known_phase == v1::ROUND_PHASE_UNSPECIFIED);
  m.OnRoundUpdate(Update(v1::ROUND_PHASE_ADVERTISE_KEYS), kT0 + absl::Minutes(1));
  REQUIRE(m.Next(kT0 + absl::Minutes(1)).kind == Kind::kAdvertiseKeys);
  m.OnRpcError(absl::FailedPreconditionError("not now"), kT0 + absl::Minutes(1));
  a = m.Next(kT0 + absl::Minutes(1));
  REQUIRE(a.kind == Kind::kLeave);
  m.OnLeft();
  a = m.Next(kT0 + absl::Minutes(1));
  REQUIRE(a.kind == Kind::kDone);
  CHECK(a.result.status().code() == absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("Train_FailureLeavesTheRoundWithTheTrainersError") {
  SessionMachine m = MakeMachine();
  const v1::RoundPlan plan = Plan(false);
  m.OnCheckIn(Accepted(), kT0);
  m.OnRoundUpdate(Update(v1::ROUND_PHASE_MASKED_INPUT, &plan), kT0);
  REQUIRE(m.OnModelChunk(Chunk(0, 10)));
  m.OnModelVerified(true);
  m.OnTrained(absl::FailedPreconditionError("no local data"));
  Action a = m.Next(kT0);
  REQUIRE(a.kind == Kind::kLeave);
  CHECK(a.leave_reason.find("no local data") != std::string::npos);
  m.OnRpcError(absl::UnavailableError("leave failed"), kT0);  // Leave is best effort
  a = m.Next(kT0);
  REQUIRE(a.kind == Kind::kDone);
  CHECK(a.result.status().code() == absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("Snapshot_RestoredMachineResynchronizesAndKeepsProgress") {
  SessionMachine m = MakeMachine();
  const v1::RoundPlan plan = Plan(true);
  DriveToUpload(m, plan);
  m.OnChunkUploaded(Uploaded(1, 3));
  const SessionSnapshot snapshot = m.Snapshot();

  absl::StatusOr<SessionMachine> restored =
      SessionMachine::Restore(snapshot, TestPolicy(), [] { return 0.5; });
  REQUIRE(restored.ok());
  Action a = restored->Next(kT0);
  REQUIRE(a.kind == Kind::kWaitForPhase);
  CHECK(a.known_phase == v1::ROUND_PHASE_UNSPECIFIED);
  CHECK(restored->session_token() == "tok");
  CHECK(restored->secure());
  CHECK(restored->num_examples() == 42);
  restored->OnRoundUpdate(Update(v1::ROUND_PHASE_MASKED_INPUT, &plan), kT0);
  a = restored->Next(kT0);
  REQUIRE(a.kind == Kind::kUploadChunk);
  CHECK(a.chunk_index == 1);
}

TEST_CASE("Snapshot_WithoutEncodedInputDownloadsAgain") {
  SessionMachine m = MakeMachine();
  const v1::RoundPlan plan = Plan(false);
  DriveToUpload(m, plan);
  absl::StatusOr<SessionMachine> restored =
      SessionMachine::Restore(m.Snapshot(), TestPolicy(), [] { return 0.5; });
  REQUIRE(restored.ok());
  restored->ForgetEncodedInput();
  restored->OnRoundUpdate(Update(v1::ROUND_PHASE_MASKED_INPUT, &plan), kT0);
  Action a = restored->Next(kT0);
  REQUIRE(a.kind == Kind::kDownloadModel);
  CHECK(a.offset == 0);
}

TEST_CASE("Restore_RejectsAnUnknownFormatOrMissingToken") {
  SessionSnapshot s;
  s.set_format_version(99);
  s.set_session_token("tok");
  CHECK(SessionMachine::Restore(s, TestPolicy(), [] { return 0.0; }).status().code() ==
        absl::StatusCode::kInvalidArgument);
  s.set_format_version(1);
  s.clear_session_token();
  CHECK(SessionMachine::Restore(s, TestPolicy(), [] { return 0.0; }).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("Cancel_EndsWithCancelled") {
  SessionMachine m = MakeMachine();
  m.OnCheckIn(Accepted(), kT0);
  m.Cancel();
  Action a = m.Next(kT0);
  REQUIRE(a.kind == Kind::kDone);
  CHECK(a.result.status().code() == absl::StatusCode::kCancelled);
}

TEST_CASE("Round_UploadAcknowledgedButIncompleteSendsEveryChunkAgain") {
  SessionMachine m = MakeMachine();
  const v1::RoundPlan plan = Plan(false);
  DriveToUpload(m, plan);
  for (int64_t i = 0; i < 3; ++i) m.OnChunkUploaded(Uploaded(i, 3));  // never complete
  Action a = m.Next(kT0);
  REQUIRE(a.kind == Kind::kUploadChunk);
  CHECK(a.chunk_index == 0);
}

}  // namespace
}  // namespace cohort::client::internal
