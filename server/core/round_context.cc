#include "server/core/round_context.h"

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/logging.h"

namespace cohort::server {

using cohort::v1::ROUND_PHASE_ADVERTISE_KEYS;
using cohort::v1::ROUND_PHASE_COMMITTED;
using cohort::v1::ROUND_PHASE_CONSISTENCY_CHECK;
using cohort::v1::ROUND_PHASE_FAILED;
using cohort::v1::ROUND_PHASE_FORMING;
using cohort::v1::ROUND_PHASE_MASKED_INPUT;
using cohort::v1::ROUND_PHASE_SHARE_KEYS;
using cohort::v1::ROUND_PHASE_UNMASKING;
using cohort::v1::RoundPhase;

std::string PhaseName(RoundPhase phase) {
  std::string name = cohort::v1::RoundPhase_Name(phase);
  constexpr absl::string_view kPrefix = "ROUND_PHASE_";
  if (absl::StartsWith(name, kPrefix)) name = name.substr(kPrefix.size());
  return name;
}

absl::Duration DurationFromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

void DurationToProto(absl::Duration d, google::protobuf::Duration* out) {
  const int64_t s = absl::ToInt64Seconds(d);
  out->set_seconds(s);
  out->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(d - absl::Seconds(s))));
}

void TimeToProto(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t s = absl::ToUnixSeconds(t);
  out->set_seconds(s);
  out->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(s))));
}

bool IsLegalTransition(RoundPhase from, RoundPhase to) {
  switch (from) {
    case ROUND_PHASE_FORMING:
      return to == ROUND_PHASE_ADVERTISE_KEYS || to == ROUND_PHASE_MASKED_INPUT ||
             to == ROUND_PHASE_FAILED;
    case ROUND_PHASE_ADVERTISE_KEYS:
      return to == ROUND_PHASE_SHARE_KEYS || to == ROUND_PHASE_FAILED;
    case ROUND_PHASE_SHARE_KEYS:
      return to == ROUND_PHASE_MASKED_INPUT || to == ROUND_PHASE_FAILED;
    case ROUND_PHASE_MASKED_INPUT:
      return to == ROUND_PHASE_UNMASKING || to == ROUND_PHASE_CONSISTENCY_CHECK ||
             to == ROUND_PHASE_COMMITTED || to == ROUND_PHASE_FAILED;
    case ROUND_PHASE_CONSISTENCY_CHECK:
      return to == ROUND_PHASE_UNMASKING || to == ROUND_PHASE_FAILED;
    case ROUND_PHASE_UNMASKING:
      return to == ROUND_PHASE_COMMITTED || to == ROUND_PHASE_FAILED;
    default:
      return false;
  }
}

int32_t RoundContext::open_slots() const {
  if (phase != ROUND_PHASE_FORMING) return 0;
  return std::max(0, selection_target - num_admitted());
}

int32_t RoundContext::CountActive() const {
  int32_t n = 0;
  for (const auto& p : participants) n += p.dropped ? 0 : 1;
  return n;
}

absl::Duration RoundContext::PhaseDuration(RoundPhase p) const {
  const auto& d = setup.config.deadlines();
  switch (p) {
    case ROUND_PHASE_FORMING:
      return DurationFromProto(d.forming());
    case ROUND_PHASE_ADVERTISE_KEYS:
      return DurationFromProto(d.advertise_keys());
    case ROUND_PHASE_SHARE_KEYS:
      return DurationFromProto(d.share_keys());
    case ROUND_PHASE_MASKED_INPUT:
      return DurationFromProto(d.masked_input());
    case ROUND_PHASE_CONSISTENCY_CHECK:
      return DurationFromProto(d.consistency_check());
    case ROUND_PHASE_UNMASKING:
      return DurationFromProto(d.unmasking());
    default:
      return absl::ZeroDuration();
  }
}

absl::Status RoundContext::CheckActiveIn(int32_t index, RoundPhase expected,
                                         absl::string_view call) const {
  const Participant& p = participant(index);
  if (p.dropped) {
    return absl::FailedPreconditionError(absl::StrCat(call, ": participant ", index,
                                                      " was dropped from round ", setup.round_id,
                                                      ": ", p.dropped_reason));
  }
  if (ended()) {
    return absl::FailedPreconditionError(
        absl::StrCat(call, ": round ", setup.round_id, " has ended (", PhaseName(phase), ")"));
  }
  if (phase != expected) {
    return absl::FailedPreconditionError(absl::StrCat(call, " belongs to phase ",
                                                      PhaseName(expected), " but round ",
                                                      setup.round_id, " is in phase ",
                                                      PhaseName(phase)));
  }
  return absl::OkStatus();
}

void RoundContext::Drop(int32_t index, const std::string& reason) {
  Participant& p = participant(index);
  if (p.dropped) return;
  p.dropped = true;
  p.dropped_reason = reason;
  ReleaseUpload(p);
  dirty = true;
  COHORT_LOG_DEBUG("participant dropped task={} round={} phase={} index={} reason={}",
                   setup.task_id, setup.round_number, PhaseName(phase), index, reason);
}

void RoundContext::SetPhase(RoundPhase next, absl::Time now, std::string message) {
  if (!IsLegalTransition(phase, next)) {
    COHORT_LOG_ERROR("illegal round transition task={} round={} from={} to={}", setup.task_id,
                     setup.round_number, PhaseName(phase), PhaseName(next));
    std::abort();
  }
  RoundChange change;
  change.from = phase;
  change.to = next;
  change.phase_duration = now - phase_started;
  change.message = std::move(message);
  COHORT_LOG_INFO("round phase task={} round={} from={} to={} active={} detail={}", setup.task_id,
                  setup.round_number, PhaseName(phase), PhaseName(next), CountActive(),
                  change.message);
  changes.push_back(std::move(change));
  phase = next;
  phase_started = now;
  deadline = now + PhaseDuration(next);
  phase_entered = CountActive();
  phase_recorded = false;
  dirty = true;
  if (next == ROUND_PHASE_COMMITTED || next == ROUND_PHASE_FAILED) {
    deadline = absl::InfiniteFuture();
    ended_at = now;
    ReleaseBuffers();
  }
}

void RoundContext::RecordPhaseMetrics(RoundPhase p, int32_t entered, int32_t completed,
                                      absl::Duration duration) {
  phase_recorded = true;
  auto* m = metrics.add_phases();
  m->set_phase(p);
  m->set_entered(entered);
  m->set_completed(completed);
  DurationToProto(duration, m->mutable_duration());
}

void RoundContext::ReleaseBuffers() {
  for (auto& p : participants) {
    ReleaseUpload(p);
    p.outgoing.clear();
  }
  unmasking.reset();
  if (!ready_to_commit) {
    std::vector<uint64_t>().swap(sum);
    std::vector<double>().swap(float_sum);
  }
}

RoundContext::~RoundContext() {
  for (Participant& p : participants) ReleaseUpload(p);
}

void RoundContext::ReleaseUpload(Participant& p) {
  p.chunks.clear();
  if (p.upload_reserved > 0 && setup.upload_budget != nullptr) {
    setup.upload_budget->Release(p.upload_reserved);
  }
  p.upload_reserved = 0;
}

void RoundContext::Fail(const std::string& reason, absl::Time now) {
  if (ended()) return;
  if (!phase_recorded) {
    RecordPhaseMetrics(phase, phase == ROUND_PHASE_FORMING ? num_admitted() : phase_entered, 0,
                       now - phase_started);
  }
  failure_reason = reason;
  ready_to_commit = false;
  SetPhase(ROUND_PHASE_FAILED, now, absl::StrCat("reason=", reason));
  std::vector<uint64_t>().swap(sum);
  std::vector<double>().swap(float_sum);
}

bool RoundContext::Settle(int32_t completed, bool enough, const std::string& shortfall,
                          int32_t dropped, absl::Time now) {
  RecordPhaseMetrics(phase, phase_entered, completed, now - phase_started);
  if (enough) return true;
  Fail(shortfall, now);
  if (!changes.empty()) changes.back().dropped = dropped;
  return false;
}

void RoundContext::MoveTo(RoundPhase next, const std::string& message, int32_t dropped,
                          absl::Time now) {
  SetPhase(next, now, message);
  changes.back().dropped = dropped;
}

void RoundContext::MarkReadyToCommit(int32_t dropped, absl::Time now) {
  ready_to_commit = true;
  RoundChange change;
  change.from = phase;
  change.to = phase;
  change.dropped = dropped;
  change.phase_duration = now - phase_started;
  changes.push_back(change);
}

}  // namespace cohort::server
