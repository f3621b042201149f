#include "server/core/round.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/logging.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "secagg/key_agreement.h"
#include "secagg/packing.h"
#include "secagg/parameter_finder.h"
#include "secagg/shamir.h"
#include "secagg/share_bundle.h"
#include "secagg/share_encryption.h"
#include "server/core/dp_task.h"
#include "server/core/task_config.h"

namespace cohort::server {
namespace {

using cohort::v1::ROUND_PHASE_ADVERTISE_KEYS;
using cohort::v1::ROUND_PHASE_COMMITTED;
using cohort::v1::ROUND_PHASE_FAILED;
using cohort::v1::ROUND_PHASE_FORMING;
using cohort::v1::ROUND_PHASE_MASKED_INPUT;
using cohort::v1::ROUND_PHASE_SHARE_KEYS;
using cohort::v1::ROUND_PHASE_UNMASKING;
using cohort::v1::ROUND_PHASE_UNSPECIFIED;
using cohort::v1::RoundPhase;

constexpr int64_t kMaxDownloadChunk = 1 << 20;
constexpr size_t kShareCiphertextSize = secagg::kShareBundleSize + secagg::kAeadOverhead;

std::string PhaseName(RoundPhase phase) {
  std::string name = cohort::v1::RoundPhase_Name(phase);
  constexpr absl::string_view kPrefix = "ROUND_PHASE_";
  if (absl::StartsWith(name, kPrefix)) name = name.substr(kPrefix.size());
  return name;
}

absl::Duration FromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

void ToProto(absl::Duration d, google::protobuf::Duration* out) {
  const int64_t s = absl::ToInt64Seconds(d);
  out->set_seconds(s);
  out->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(d - absl::Seconds(s))));
}

void ToProto(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t s = absl::ToUnixSeconds(t);
  out->set_seconds(s);
  out->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(s))));
}

secagg::ThreatModel ToThreatModel(cohort::v1::ThreatModel model) {
  return model == cohort::v1::THREAT_MODEL_SEMI_MALICIOUS ? secagg::ThreatModel::kSemiMalicious
                                                          : secagg::ThreatModel::kHonestButCurious;
}

}  // namespace

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
      return to == ROUND_PHASE_UNMASKING || to == ROUND_PHASE_COMMITTED || to == ROUND_PHASE_FAILED;
    case ROUND_PHASE_UNMASKING:
      return to == ROUND_PHASE_COMMITTED || to == ROUND_PHASE_FAILED;
    default:
      return false;
  }
}

Round::Round(RoundSetup setup, absl::Time now) : setup_(std::move(setup)) {
  phase_started_ = now;
  started_at_ = now;
  deadline_ = now + FromProto(setup_.config.deadlines().forming());
  selection_target_ = SelectionTarget(setup_.config);
  metrics_.set_task_id(setup_.task_id);
  metrics_.set_round_number(setup_.round_number);
  metrics_.set_round_id(setup_.round_id);
  metrics_.set_base_model_version(setup_.base_model->version());
  ToProto(now, metrics_.mutable_started_at());
}

Round::~Round() = default;

int32_t Round::open_slots() const {
  if (phase_ != ROUND_PHASE_FORMING) return 0;
  return std::max(0, selection_target_ - num_admitted());
}

absl::StatusOr<int32_t> Round::Admit(const std::string& pseudonym, absl::Time now) {
  if (auto it = index_of_.find(pseudonym); it != index_of_.end()) return it->second;
  if (phase_ != ROUND_PHASE_FORMING) {
    return absl::FailedPreconditionError(absl::StrCat(
        "round ", setup_.round_id, " no longer forms (phase ", PhaseName(phase_), ")"));
  }
  if (open_slots() == 0) {
    return absl::FailedPreconditionError(absl::StrCat("round ", setup_.round_id, " is full"));
  }
  Participant p;
  p.pseudonym = pseudonym;
  p.selected_at = now;
  participants_.push_back(std::move(p));
  const int32_t index = num_admitted();
  index_of_[pseudonym] = index;
  AdvanceTo(now);  // closes forming once full
  return index;
}

std::optional<int32_t> Round::IndexOf(const std::string& pseudonym) const {
  auto it = index_of_.find(pseudonym);
  if (it == index_of_.end()) return std::nullopt;
  return it->second;
}

absl::Status Round::CheckParticipant(int32_t index, const std::string& pseudonym) const {
  if (index < 1 || index > num_admitted() || participant(index).pseudonym != pseudonym) {
    return absl::UnauthenticatedError("session_token does not name a participant of this round");
  }
  return absl::OkStatus();
}

int32_t Round::CountActive() const {
  int32_t n = 0;
  for (const auto& p : participants_) n += p.dropped ? 0 : 1;
  return n;
}

absl::Status Round::CheckActiveIn(int32_t index, RoundPhase phase, absl::string_view call) const {
  const Participant& p = participant(index);
  if (p.dropped) {
    return absl::FailedPreconditionError(absl::StrCat(call, ": participant ", index,
                                                      " was dropped from round ", setup_.round_id,
                                                      ": ", p.dropped_reason));
  }
  if (phase_ == ROUND_PHASE_FAILED || phase_ == ROUND_PHASE_COMMITTED) {
    return absl::FailedPreconditionError(
        absl::StrCat(call, ": round ", setup_.round_id, " has ended (", PhaseName(phase_), ")"));
  }
  if (phase_ != phase) {
    return absl::FailedPreconditionError(absl::StrCat(call, " belongs to phase ", PhaseName(phase),
                                                      " but round ", setup_.round_id,
                                                      " is in phase ", PhaseName(phase_)));
  }
  return absl::OkStatus();
}

void Round::Drop(int32_t index, const std::string& reason) {
  Participant& p = participant(index);
  if (p.dropped) return;
  p.dropped = true;
  p.dropped_reason = reason;
  p.chunks.clear();
  dirty_ = true;
  COHORT_LOG_DEBUG("participant dropped task={} round={} phase={} index={} reason={}",
                   setup_.task_id, setup_.round_number, PhaseName(phase_), index, reason);
}

absl::Duration Round::PhaseDuration(RoundPhase phase) const {
  const auto& d = setup_.config.deadlines();
  switch (phase) {
    case ROUND_PHASE_FORMING:
      return FromProto(d.forming());
    case ROUND_PHASE_ADVERTISE_KEYS:
      return FromProto(d.advertise_keys());
    case ROUND_PHASE_SHARE_KEYS:
      return FromProto(d.share_keys());
    case ROUND_PHASE_MASKED_INPUT:
      return FromProto(d.masked_input());
    case ROUND_PHASE_UNMASKING:
      return FromProto(d.unmasking());
    default:
      return absl::ZeroDuration();
  }
}

void Round::SetPhase(RoundPhase next, absl::Time now, std::string message) {
  if (!IsLegalTransition(phase_, next)) {
    COHORT_LOG_ERROR("illegal round transition task={} round={} from={} to={}", setup_.task_id,
                     setup_.round_number, PhaseName(phase_), PhaseName(next));
    std::abort();
  }
  RoundChange change;
  change.from = phase_;
  change.to = next;
  change.phase_duration = now - phase_started_;
  change.message = std::move(message);
  COHORT_LOG_INFO("round phase task={} round={} from={} to={} active={} {}", setup_.task_id,
                  setup_.round_number, PhaseName(phase_), PhaseName(next), CountActive(),
                  change.message);
  changes_.push_back(std::move(change));
  phase_ = next;
  phase_started_ = now;
  deadline_ = now + PhaseDuration(next);
  phase_entered_ = CountActive();
  phase_recorded_ = false;
  dirty_ = true;
  if (next == ROUND_PHASE_COMMITTED || next == ROUND_PHASE_FAILED) {
    deadline_ = absl::InfiniteFuture();
    ended_at_ = now;
    ReleaseBuffers();
  }
}

void Round::RecordPhaseMetrics(RoundPhase phase, int32_t entered, int32_t completed,
                               absl::Duration duration) {
  phase_recorded_ = true;
  auto* m = metrics_.add_phases();
  m->set_phase(phase);
  m->set_entered(entered);
  m->set_completed(completed);
  ToProto(duration, m->mutable_duration());
}

void Round::ReleaseBuffers() {
  for (auto& p : participants_) {
    p.chunks.clear();
    p.outgoing.clear();
  }
  unmasking_.reset();
  if (!ready_to_commit_) {
    std::vector<uint64_t>().swap(sum_);
    std::vector<double>().swap(float_sum_);
  }
}

void Round::Fail(const std::string& reason, absl::Time now) {
  if (ended()) return;
  if (!phase_recorded_) {
    RecordPhaseMetrics(phase_, phase_ == ROUND_PHASE_FORMING ? num_admitted() : phase_entered_, 0,
                       now - phase_started_);
  }
  failure_reason_ = reason;
  ready_to_commit_ = false;
  SetPhase(ROUND_PHASE_FAILED, now, absl::StrCat("reason=", reason));
  std::vector<uint64_t>().swap(sum_);
  std::vector<double>().swap(float_sum_);
}

void Round::MarkCommitted(int64_t new_model_version, absl::Time now) {
  new_model_version_ = new_model_version;
  ready_to_commit_ = false;
  SetPhase(ROUND_PHASE_COMMITTED, now, absl::StrCat("model_version=", new_model_version));
  std::vector<uint64_t>().swap(sum_);
  std::vector<double>().swap(float_sum_);
}

// ---------------------------------------------------------------------------------------------
// Phase closing.

bool Round::PhaseComplete() const {
  if (ready_to_commit_) return false;
  switch (phase_) {
    case ROUND_PHASE_FORMING:
      return open_slots() == 0;
    case ROUND_PHASE_ADVERTISE_KEYS:
      for (const auto& p : participants_) {
        if (!p.dropped && !p.advertised) return false;
      }
      return true;
    case ROUND_PHASE_SHARE_KEYS:
      for (const auto& p : participants_) {
        if (!p.dropped && !p.shared) return false;
      }
      return true;
    case ROUND_PHASE_MASKED_INPUT:
      for (const auto& p : participants_) {
        if (!p.dropped && !p.contributed) return false;
      }
      return true;
    case ROUND_PHASE_UNMASKING:
      for (const auto& p : participants_) {
        if (!p.dropped && !p.answered) return false;
      }
      return true;
    default:
      return false;
  }
}

void Round::AdvanceTo(absl::Time now) {
  // Each close may move to a phase that is already complete (e.g. everyone dropped).
  for (int guard = 0; guard < 8 && !ended() && !ready_to_commit_; ++guard) {
    const RoundPhase before = phase_;
    if (PhaseComplete() || now >= deadline_) Close(now);
    if (phase_ == before) break;
  }
}

void Round::Close(absl::Time now) {
  switch (phase_) {
    case ROUND_PHASE_FORMING:
      CloseForming(now);
      break;
    case ROUND_PHASE_ADVERTISE_KEYS:
      CloseAdvertiseKeys(now);
      break;
    case ROUND_PHASE_SHARE_KEYS:
      CloseShareKeys(now);
      break;
    case ROUND_PHASE_MASKED_INPUT:
      CloseMaskedInput(now);
      break;
    case ROUND_PHASE_UNMASKING:
      CloseUnmasking(now);
      break;
    default:
      break;
  }
}

void Round::CloseForming(absl::Time now) {
  const int32_t n = num_admitted();
  const int32_t min = setup_.config.min_participants();
  if (n < min) {
    // Soft deadline: keep forming with a fresh window rather than failing for lack of devices.
    deadline_ = now + PhaseDuration(ROUND_PHASE_FORMING);
    dirty_ = true;  // long-polls see the new deadline
    return;
  }
  RecordPhaseMetrics(ROUND_PHASE_FORMING, n, n, now - phase_started_);
  metrics_.set_selected(n);
  const int64_t num_parameters = ParameterCount(setup_.config.layout());
  absl::StatusOr<cohort::v1::CodecParams> codec =
      ResolveRoundCodec(setup_.config, num_parameters, n, setup_.dp_clip_norm, *setup_.random);
  if (!codec.ok()) {
    Fail(absl::StrCat("codec parameters: ", codec.status().message()), now);
    return;
  }
  if (codec->chunk_elements() <= 0) codec->set_chunk_elements(kChunkElements);
  auto& plan = plan_template_;
  plan.set_task_id(setup_.task_id);
  plan.set_round_number(setup_.round_number);
  plan.set_round_id(setup_.round_id);
  plan.set_model_version(setup_.base_model->version());
  *plan.mutable_layout() = setup_.base_model->layout();
  plan.set_model_size_bytes(static_cast<int64_t>(setup_.base_model->parameters().size()));
  plan.set_model_sha256(setup_.base_model->sha256());
  *plan.mutable_training() = setup_.config.training();
  *plan.mutable_codec() = *codec;
  *plan.mutable_deadlines() = setup_.config.deadlines();
  if (codec->has_dp()) *metrics_.mutable_privacy() = DescribeRound(codec->dp());

  if (secure()) {
    const auto& sc = setup_.config.secagg();
    secagg::ParameterOptions options;
    options.num_participants = n;
    options.dropout_rate = sc.expected_dropout_rate();
    options.corrupted_fraction = sc.corrupted_fraction();
    options.threat_model = ToThreatModel(sc.threat_model());
    options.security_bits = sc.security_bits();
    options.correctness_bits = sc.correctness_bits();
    absl::StatusOr<secagg::SecAggParameters> params = secagg::FindParameters(options);
    if (!params.ok()) {
      Fail(absl::StrCat("secure aggregation parameters for ", n,
                        " participants: ", params.status().message()),
           now);
      return;
    }
    std::string seed(secagg::kGraphSeedSize, '\0');
    setup_.random->Fill(absl::MakeSpan(reinterpret_cast<uint8_t*>(seed.data()), seed.size()));
    absl::StatusOr<secagg::NeighbourGraph> graph =
        secagg::NeighbourGraph::Create(n, params->neighbour_degree, seed);
    if (!graph.ok()) {
      Fail(absl::StrCat("neighbour graph: ", graph.status().message()), now);
      return;
    }
    graph_ = std::move(*graph);
    threshold_ = params->threshold;
    auto* s = plan.mutable_secagg();
    s->set_num_participants(n);
    s->set_neighbour_degree(params->neighbour_degree);
    s->set_threshold(params->threshold);
    s->set_graph_seed(seed);
    *metrics_.mutable_secagg() = *s;
    SetPhase(ROUND_PHASE_ADVERTISE_KEYS, now,
             absl::StrCat("n=", n, " k=", params->neighbour_degree, " t=", params->threshold,
                          " modulus_bits=", codec->modulus_bits()));
  } else {
    SetPhase(ROUND_PHASE_MASKED_INPUT, now,
             absl::StrCat("n=", n, " modulus_bits=", codec->modulus_bits()));
  }
  if (codec->encoding() == cohort::v1::UPDATE_ENCODING_FLOAT32) {
    float_sum_.assign(static_cast<size_t>(codec->vector_length()), 0.0);
  } else {
    sum_.assign(static_cast<size_t>(codec->vector_length()), 0);
  }
}

void Round::CloseAdvertiseKeys(absl::Time now) {
  int32_t dropped = 0;
  for (int32_t i = 1; i <= num_admitted(); ++i) {
    Participant& p = participant(i);
    if (!p.dropped && !p.advertised) {
      Drop(i, "did not advertise keys before the ADVERTISE_KEYS deadline");
      ++dropped;
    }
    p.in_u1 = !p.dropped && p.advertised;
  }
  // A device needs t neighbours with keys to share its secrets; dropping one can starve others,
  // so repeat until stable.
  for (bool changed = true; changed;) {
    changed = false;
    for (int32_t i = 1; i <= num_admitted(); ++i) {
      Participant& p = participant(i);
      if (!p.in_u1) continue;
      int32_t with_keys = 0;
      for (int32_t v : graph_->Neighbours(i)) with_keys += participant(v).in_u1 ? 1 : 0;
      if (with_keys < threshold_) {
        p.in_u1 = false;
        Drop(i, absl::StrCat("only ", with_keys, " neighbours advertised keys, threshold is ",
                             threshold_));
        ++dropped;
        changed = true;
      }
    }
  }
  int32_t u1 = 0;
  for (const auto& p : participants_) u1 += p.in_u1 ? 1 : 0;
  RecordPhaseMetrics(ROUND_PHASE_ADVERTISE_KEYS, phase_entered_, u1, now - phase_started_);
  const int32_t need = std::max(threshold_, setup_.config.min_participants());
  if (u1 < need) {
    Fail(absl::StrCat("only ", u1, " devices advertised keys; the round needs ", need), now);
    if (!changes_.empty()) changes_.back().dropped = dropped;
    return;
  }
  SetPhase(ROUND_PHASE_SHARE_KEYS, now, absl::StrCat("u1=", u1));
  changes_.back().dropped = dropped;
}

void Round::CloseShareKeys(absl::Time now) {
  int32_t dropped = 0;
  for (int32_t i = 1; i <= num_admitted(); ++i) {
    Participant& p = participant(i);
    if (!p.dropped && !p.shared) {
      Drop(i, "did not share keys before the SHARE_KEYS deadline");
      ++dropped;
    }
    p.in_u2 = p.in_u1 && p.shared;
  }
  int32_t u2 = 0;
  for (int32_t i = 1; i <= num_admitted(); ++i) {
    Participant& p = participant(i);
    if (!p.in_u2) continue;
    ++u2;
    int32_t senders = 0;
    for (int32_t v : graph_->Neighbours(i)) senders += participant(v).in_u2 ? 1 : 0;
    if (senders < threshold_ && !p.dropped) {
      // Still in U2 (its shares are out there), but it cannot mask: treat as dropped.
      Drop(i, absl::StrCat("only ", senders, " neighbours shared keys, threshold is ", threshold_));
      ++dropped;
    }
  }
  RecordPhaseMetrics(ROUND_PHASE_SHARE_KEYS, phase_entered_, u2, now - phase_started_);
  const int32_t active = CountActive();
  const int32_t need = std::max(threshold_, setup_.config.min_participants());
  if (active < need) {
    Fail(absl::StrCat("only ", active, " devices completed SHARE_KEYS; the round needs ", need),
         now);
    changes_.back().dropped = dropped;
    return;
  }
  SetPhase(ROUND_PHASE_MASKED_INPUT, now, absl::StrCat("u2=", u2));
  changes_.back().dropped = dropped;
}

void Round::CloseMaskedInput(absl::Time now) {
  int32_t dropped = 0;
  for (int32_t i = 1; i <= num_admitted(); ++i) {
    Participant& p = participant(i);
    if (!p.dropped && !p.contributed) {
      Drop(i, "did not upload its masked input before the MASKED_INPUT deadline");
      ++dropped;
    }
    p.chunks.clear();
  }
  contributors_ = 0;
  for (const auto& p : participants_) contributors_ += p.contributed ? 1 : 0;
  RecordPhaseMetrics(ROUND_PHASE_MASKED_INPUT, phase_entered_, contributors_, now - phase_started_);
  metrics_.set_contributors(contributors_);
  const int32_t need =
      std::max(setup_.config.min_participants(), secure() ? threshold_ : int32_t{1});
  if (contributors_ < need) {
    Fail(absl::StrCat("only ", contributors_, " devices uploaded their input; the round needs ",
                      need),
         now);
    changes_.back().dropped = dropped;
    return;
  }
  if (!secure()) {
    ready_to_commit_ = true;
    RoundChange change;
    change.from = phase_;
    change.to = phase_;
    change.dropped = dropped;
    change.phase_duration = now - phase_started_;
    changes_.push_back(change);
    return;
  }
  secagg::ServerUnmaskingOptions options;
  options.round_id = setup_.round_id;
  options.threshold = threshold_;
  options.modulus_bits = plan_template_.codec().modulus_bits();
  options.vector_length = plan_template_.codec().vector_length();
  for (int32_t i = 1; i <= num_admitted(); ++i) {
    const Participant& p = participant(i);
    if (p.in_u1) {
      secagg::AdvertisedKeys keys;
      keys.index = i;
      // Validated on arrival, so these cannot fail.
      keys.cipher_public_key = *secagg::PublicKey::FromBytes(p.cipher_public_key);
      keys.mask_public_key = *secagg::PublicKey::FromBytes(p.mask_public_key);
      options.advertised.push_back(std::move(keys));
    }
    if (p.in_u2) options.shared_keys.push_back(i);
    if (p.contributed) options.masked_input.push_back(i);
  }
  absl::StatusOr<std::unique_ptr<secagg::ServerUnmasking>> unmasking =
      secagg::ServerUnmasking::Create(*graph_, std::move(options));
  if (!unmasking.ok()) {
    Fail(absl::StrCat("unmasking setup: ", unmasking.status().message()), now);
    changes_.back().dropped = dropped;
    return;
  }
  unmasking_ = std::move(*unmasking);
  // Survivors whose input is not in the sum have nothing to answer for.
  for (auto& p : participants_) p.outgoing.clear();
  SetPhase(ROUND_PHASE_UNMASKING, now, absl::StrCat("u3=", contributors_));
  changes_.back().dropped = dropped;
}

void Round::CloseUnmasking(absl::Time now) {
  int32_t dropped = 0;
  int32_t answered = 0;
  for (int32_t i = 1; i <= num_admitted(); ++i) {
    Participant& p = participant(i);
    if (!p.dropped && !p.answered) {
      Drop(i, "did not answer before the UNMASKING deadline");
      ++dropped;
    }
    answered += p.answered ? 1 : 0;
  }
  RecordPhaseMetrics(ROUND_PHASE_UNMASKING, phase_entered_, answered, now - phase_started_);
  if (!unmasking_->ReadyToUnmask()) {
    const std::vector<int32_t> short_of = unmasking_->ShortOfShares();
    Fail(absl::StrCat("too few unmasking answers (", answered,
                      "): cannot reconstruct the secrets "
                      "of participants ",
                      absl::StrJoin(short_of.begin(),
                                    short_of.begin() + std::min<size_t>(short_of.size(), 10), ","),
                      short_of.size() > 10 ? ",..." : ""),
         now);
    changes_.back().dropped = dropped;
    return;
  }
  absl::Status unmasked = unmasking_->Unmask(absl::MakeSpan(sum_));
  if (!unmasked.ok()) {
    Fail(absl::StrCat("unmasking failed: ", unmasked.message()), now);
    changes_.back().dropped = dropped;
    return;
  }
  unmasking_.reset();
  ready_to_commit_ = true;
  RoundChange change;
  change.from = phase_;
  change.to = phase_;
  change.dropped = dropped;
  change.phase_duration = now - phase_started_;
  changes_.push_back(change);
}

// ---------------------------------------------------------------------------------------------
// Device calls.

cohort::v1::RoundUpdate Round::UpdateFor(int32_t index) const {
  cohort::v1::RoundUpdate update;
  update.set_phase(phase_);
  if (!ended()) ToProto(deadline_, update.mutable_phase_deadline());
  const Participant& p = participant(index);
  update.set_participant_state(p.dropped ? cohort::v1::PARTICIPANT_STATE_DROPPED
                                         : cohort::v1::PARTICIPANT_STATE_ACTIVE);
  if (p.dropped) update.set_dropped_reason(p.dropped_reason);
  if (plan_template_.has_codec()) {
    *update.mutable_plan() = plan_template_;
    update.mutable_plan()->set_participant_index(index);
  }
  switch (phase_) {
    case ROUND_PHASE_SHARE_KEYS:
      if (p.in_u1 && !p.dropped) {
        auto* keys = update.mutable_neighbour_keys();
        for (int32_t v : graph_->Neighbours(index)) {
          const Participant& q = participant(v);
          if (!q.in_u1) continue;
          auto* n = keys->add_neighbours();
          n->set_participant_index(v);
          n->set_cipher_public_key(q.cipher_public_key);
          n->set_mask_public_key(q.mask_public_key);
        }
      }
      break;
    case ROUND_PHASE_MASKED_INPUT:
      if (secure() && p.in_u2 && !p.dropped) {
        auto* shares = update.mutable_incoming_shares();
        for (int32_t v : graph_->Neighbours(index)) {
          const Participant& q = participant(v);
          if (!q.in_u2) continue;
          auto it = q.outgoing.find(index);
          if (it == q.outgoing.end()) continue;
          auto* s = shares->add_shares();
          s->set_sender_index(v);
          s->set_ciphertext(it->second);
        }
      }
      break;
    case ROUND_PHASE_UNMASKING:
      if (unmasking_ != nullptr && p.contributed) {
        const secagg::UnmaskingRequestLists lists = unmasking_->RequestFor(index);
        auto* request = update.mutable_unmasking();
        for (int32_t v : lists.surviving) request->add_surviving_neighbours(v);
        for (int32_t v : lists.dropped) request->add_dropped_neighbours(v);
      }
      break;
    case ROUND_PHASE_COMMITTED:
    case ROUND_PHASE_FAILED: {
      auto* outcome = update.mutable_outcome();
      outcome->set_contributors(contributors_);
      if (phase_ == ROUND_PHASE_COMMITTED) {
        outcome->set_new_model_version(new_model_version_);
      } else {
        outcome->set_failure_reason(failure_reason_);
      }
      break;
    }
    default:
      break;
  }
  return update;
}

absl::StatusOr<cohort::v1::ModelChunk> Round::DownloadModel(
    int32_t index, const cohort::v1::DownloadModelRequest& req) {
  const Participant& p = participant(index);
  if (p.dropped) {
    return absl::FailedPreconditionError(
        absl::StrCat("DownloadModel: participant ", index, " was dropped: ", p.dropped_reason));
  }
  if (ended()) {
    return absl::FailedPreconditionError(
        absl::StrCat("DownloadModel: round ", setup_.round_id, " has ended"));
  }
  const std::string& bytes = setup_.base_model->parameters();
  const int64_t total = static_cast<int64_t>(bytes.size());
  if (req.offset() < 0 || req.offset() > total) {
    return absl::InvalidArgumentError(
        absl::StrCat("offset must be in [0, ", total, "], got ", req.offset()));
  }
  if (req.max_bytes() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_bytes must be >= 0, got ", req.max_bytes()));
  }
  const int64_t limit =
      req.max_bytes() == 0 ? kMaxDownloadChunk : std::min(req.max_bytes(), kMaxDownloadChunk);
  const int64_t len = std::min(limit, total - req.offset());
  cohort::v1::ModelChunk chunk;
  chunk.set_offset(req.offset());
  chunk.set_data(bytes.substr(static_cast<size_t>(req.offset()), static_cast<size_t>(len)));
  chunk.set_total_size(total);
  chunk.set_sha256(setup_.base_model->sha256());
  chunk.set_model_version(setup_.base_model->version());
  metrics_.set_bytes_downloaded(metrics_.bytes_downloaded() + len);
  return chunk;
}

absl::Status Round::AdvertiseKeys(int32_t index, const cohort::v1::AdvertiseKeysRequest& req,
                                  absl::Time now) {
  if (!secure()) {
    return absl::FailedPreconditionError(
        absl::StrCat("AdvertiseKeys: round ", setup_.round_id, " runs without secure aggregation"));
  }
  Participant& p = participant(index);
  if (phase_ == ROUND_PHASE_ADVERTISE_KEYS || p.advertised) {
    // An identical repeat is a retry whose response was lost.
    if (p.advertised && !p.dropped) {
      if (req.cipher_public_key() == p.cipher_public_key &&
          req.mask_public_key() == p.mask_public_key) {
        return absl::OkStatus();
      }
      return absl::FailedPreconditionError(
          absl::StrCat("AdvertiseKeys: participant ", index, " already advertised different keys"));
    }
  }
  if (absl::Status s = CheckActiveIn(index, ROUND_PHASE_ADVERTISE_KEYS, "AdvertiseKeys"); !s.ok()) {
    return s;
  }
  for (const auto& [field, bytes] :
       {std::pair<const char*, const std::string&>{"cipher_public_key", req.cipher_public_key()},
        std::pair<const char*, const std::string&>{"mask_public_key", req.mask_public_key()}}) {
    if (absl::StatusOr<secagg::PublicKey> key = secagg::PublicKey::FromBytes(bytes); !key.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, " is not a usable X25519 public key: ", key.status().message()));
    }
  }
  if (req.cipher_public_key() == req.mask_public_key()) {
    return absl::InvalidArgumentError("cipher_public_key and mask_public_key must differ");
  }
  p.advertised = true;
  p.cipher_public_key = req.cipher_public_key();
  p.mask_public_key = req.mask_public_key();
  p.last_completed = ROUND_PHASE_ADVERTISE_KEYS;
  metrics_.set_bytes_uploaded(metrics_.bytes_uploaded() + 64);
  AdvanceTo(now);
  return absl::OkStatus();
}

absl::Status Round::ShareKeys(int32_t index, const cohort::v1::ShareKeysRequest& req,
                              absl::Time now) {
  if (!secure()) {
    return absl::FailedPreconditionError(
        absl::StrCat("ShareKeys: round ", setup_.round_id, " runs without secure aggregation"));
  }
  Participant& p = participant(index);
  if (p.shared && !p.dropped && phase_ != ROUND_PHASE_SHARE_KEYS) {
    // A retry after the phase closed: the shares were accepted.
    std::map<int32_t, std::string> sent;
    for (const auto& s : req.shares()) sent[s.recipient_index()] = s.ciphertext();
    if (sent == p.outgoing || p.outgoing.empty()) return absl::OkStatus();
  }
  if (absl::Status s = CheckActiveIn(index, ROUND_PHASE_SHARE_KEYS, "ShareKeys"); !s.ok()) {
    return s;
  }
  if (!p.in_u1) {
    return absl::FailedPreconditionError(
        absl::StrCat("ShareKeys: participant ", index, " did not advertise keys"));
  }
  std::map<int32_t, std::string> sent;
  for (int i = 0; i < req.shares_size(); ++i) {
    const auto& s = req.shares(i);
    const int32_t r = s.recipient_index();
    if (r == index || !graph_->AreNeighbours(index, r) || !participant(r).in_u1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "shares[", i, "].recipient_index ", r, " is not a neighbour listed in NeighbourKeys"));
    }
    if (s.ciphertext().size() != kShareCiphertextSize) {
      return absl::InvalidArgumentError(absl::StrCat("shares[", i, "].ciphertext must be ",
                                                     kShareCiphertextSize, " bytes, got ",
                                                     s.ciphertext().size()));
    }
    if (!sent.emplace(r, s.ciphertext()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("shares[", i, "].recipient_index ", r, " appears twice"));
    }
  }
  int32_t expected = 0;
  for (int32_t v : graph_->Neighbours(index)) expected += participant(v).in_u1 ? 1 : 0;
  if (static_cast<int32_t>(sent.size()) != expected) {
    return absl::InvalidArgumentError(
        absl::StrCat("shares must hold exactly one ciphertext for "
                     "each of the ",
                     expected, " neighbours in NeighbourKeys, got ", sent.size()));
  }
  if (p.shared) {
    if (sent == p.outgoing) return absl::OkStatus();
    return absl::FailedPreconditionError(
        absl::StrCat("ShareKeys: participant ", index, " already shared different ciphertexts"));
  }
  int64_t bytes = 0;
  for (const auto& [r, ct] : sent) bytes += static_cast<int64_t>(ct.size());
  p.outgoing = std::move(sent);
  p.shared = true;
  p.last_completed = ROUND_PHASE_SHARE_KEYS;
  metrics_.set_bytes_uploaded(metrics_.bytes_uploaded() + bytes);
  AdvanceTo(now);
  return absl::OkStatus();
}

int64_t Round::NumChunks() const {
  const int64_t d = plan_template_.codec().vector_length();
  const int64_t c = plan_template_.codec().chunk_elements();
  return (d + c - 1) / c;
}

int64_t Round::ChunkLength(int64_t chunk_index) const {
  const int64_t d = plan_template_.codec().vector_length();
  const int64_t c = plan_template_.codec().chunk_elements();
  return std::min(c, d - chunk_index * c);
}

int64_t Round::ChunkBytes(int64_t chunk_index) const {
  const int64_t len = ChunkLength(chunk_index);
  if (plan_template_.codec().encoding() == cohort::v1::UPDATE_ENCODING_FLOAT32) return len * 4;
  return static_cast<int64_t>(
      secagg::PackedSize(static_cast<size_t>(len), plan_template_.codec().modulus_bits()));
}

absl::StatusOr<cohort::v1::UploadMaskedInputResponse> Round::UploadMaskedInput(
    int32_t index, const cohort::v1::UploadMaskedInputRequest& req, absl::Time now) {
  Participant& p = participant(index);
  cohort::v1::UploadMaskedInputResponse response;
  if (p.contributed && !p.dropped) {
    // Retries after completion are acknowledged; the input is in the sum exactly once.
    response.set_chunks_received(NumChunks());
    response.set_chunks_total(NumChunks());
    response.set_complete(true);
    return response;
  }
  if (absl::Status s = CheckActiveIn(index, ROUND_PHASE_MASKED_INPUT, "UploadMaskedInput");
      !s.ok()) {
    return s;
  }
  if (secure() && !p.in_u2) {
    return absl::FailedPreconditionError(
        absl::StrCat("UploadMaskedInput: participant ", index, " did not share keys"));
  }
  const int64_t chunks = NumChunks();
  if (req.chunk_index() < 0 || req.chunk_index() >= chunks) {
    return absl::InvalidArgumentError(
        absl::StrCat("chunk_index must be in [0, ", chunks, "), got ", req.chunk_index()));
  }
  const int64_t want = ChunkBytes(req.chunk_index());
  if (static_cast<int64_t>(req.data().size()) != want) {
    const std::string reason = absl::StrCat(
        "chunk ", req.chunk_index(), " data must be ", want, " bytes (",
        ChunkLength(req.chunk_index()), " elements of a vector of length ",
        plan_template_.codec().vector_length(),
        plan_template_.codec().encoding() == cohort::v1::UPDATE_ENCODING_FLOAT32
            ? " as float32"
            : absl::StrCat(" packed at ", plan_template_.codec().modulus_bits(), " bits"),
        "), got ", req.data().size());
    // The device encodes a vector of the wrong length: it cannot contribute correctly.
    Drop(index, absl::StrCat("sent a malformed masked input: ", reason));
    AdvanceTo(now);
    return absl::InvalidArgumentError(reason);
  }
  auto [it, inserted] = p.chunks.emplace(req.chunk_index(), req.data());
  if (!inserted && it->second != req.data()) {
    return absl::FailedPreconditionError(
        absl::StrCat("chunk ", req.chunk_index(), " was already received with different contents"));
  }
  if (inserted) metrics_.set_bytes_uploaded(metrics_.bytes_uploaded() + want);
  response.set_chunks_total(chunks);
  if (static_cast<int64_t>(p.chunks.size()) == chunks) {
    if (absl::Status s = FoldIntoSum(p); !s.ok()) {
      Drop(index, absl::StrCat("sent a malformed masked input: ", s.message()));
      AdvanceTo(now);
      return absl::InvalidArgumentError(s.message());
    }
    p.contributed = true;
    p.last_completed = ROUND_PHASE_MASKED_INPUT;
    response.set_chunks_received(chunks);
    response.set_complete(true);
    AdvanceTo(now);
    return response;
  }
  response.set_chunks_received(static_cast<int64_t>(p.chunks.size()));
  return response;
}

absl::Status Round::FoldIntoSum(Participant& p) {
  const auto& codec = plan_template_.codec();
  const int64_t c = codec.chunk_elements();
  if (codec.encoding() == cohort::v1::UPDATE_ENCODING_FLOAT32) {
    // Validate every chunk before touching the sum.
    for (const auto& [i, data] : p.chunks) {
      for (size_t j = 0; j < data.size() / 4; ++j) {
        float v;
        std::memcpy(&v, data.data() + 4 * j, 4);
        if (!std::isfinite(v)) {
          return absl::InvalidArgumentError(
              absl::StrCat("chunk ", i, " element ", j, " is not a finite float32"));
        }
      }
    }
    for (const auto& [i, data] : p.chunks) {
      for (size_t j = 0; j < data.size() / 4; ++j) {
        float v;
        std::memcpy(&v, data.data() + 4 * j, 4);
        float_sum_[static_cast<size_t>(i * c) + j] += v;
      }
    }
  } else {
    // Unpack checks the padding; run it on a scratch copy first so a bad chunk leaves the sum
    // untouched. Elements are < 2^m by construction of the packing.
    for (const auto& [i, data] : p.chunks) {
      absl::StatusOr<std::vector<uint64_t>> unpacked =
          secagg::Unpack(data, codec.modulus_bits(), static_cast<size_t>(ChunkLength(i)));
      if (!unpacked.ok()) return unpacked.status();
    }
    for (const auto& [i, data] : p.chunks) {
      if (absl::Status s =
              secagg::UnpackAndAccumulate(data, codec.modulus_bits(), i * c, absl::MakeSpan(sum_));
          !s.ok()) {
        return absl::InternalError(absl::StrCat("accumulating chunk ", i, ": ", s.message()));
      }
    }
  }
  p.chunks.clear();
  return absl::OkStatus();
}

absl::Status Round::SubmitUnmasking(int32_t index, const cohort::v1::SubmitUnmaskingRequest& req,
                                    absl::Time now) {
  if (!secure()) {
    return absl::FailedPreconditionError(absl::StrCat("SubmitUnmasking: round ", setup_.round_id,
                                                      " runs without secure aggregation"));
  }
  Participant& p = participant(index);
  cohort::v1::SubmitUnmaskingRequest canonical = req;
  canonical.clear_session_token();
  const std::string answer = canonical.SerializeAsString();
  if (p.answered && !p.dropped) {
    if (answer == p.answer) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrCat("SubmitUnmasking: participant ", index,
                                                      " already answered with different shares"));
  }
  if (absl::Status s = CheckActiveIn(index, ROUND_PHASE_UNMASKING, "SubmitUnmasking"); !s.ok()) {
    return s;
  }
  if (!p.contributed) {
    return absl::FailedPreconditionError(
        absl::StrCat("SubmitUnmasking: participant ", index, "'s input is not in the sum"));
  }
  std::vector<secagg::UnmaskingShare> shares;
  shares.reserve(static_cast<size_t>(req.shares_size()));
  for (int i = 0; i < req.shares_size(); ++i) {
    const auto& s = req.shares(i);
    secagg::UnmaskingShare share;
    share.neighbour_index = s.neighbour_index();
    switch (s.share_case()) {
      case cohort::v1::SubmitUnmaskingRequest::NeighbourShare::kSelfMaskSeedShare:
        share.kind = secagg::ShareKind::kSelfMaskSeed;
        share.share = s.self_mask_seed_share();
        break;
      case cohort::v1::SubmitUnmaskingRequest::NeighbourShare::kMaskKeyShare:
        share.kind = secagg::ShareKind::kMaskKey;
        share.share = s.mask_key_share();
        break;
      default:
        return absl::InvalidArgumentError(
            absl::StrCat("shares[", i, "] sets neither self_mask_seed_share nor mask_key_share"));
    }
    shares.push_back(std::move(share));
  }
  if (absl::Status s = unmasking_->AddResponse(index, shares); !s.ok()) {
    // A wrong answer cannot be corrected by a retry with the same secrets.
    Drop(index, absl::StrCat("sent a bad unmasking answer: ", s.message()));
    AdvanceTo(now);
    return absl::InvalidArgumentError(absl::StrCat("unmasking answer refused: ", s.message()));
  }
  p.answered = true;
  p.answer = answer;
  p.last_completed = ROUND_PHASE_UNMASKING;
  metrics_.set_bytes_uploaded(metrics_.bytes_uploaded() + static_cast<int64_t>(req.ByteSizeLong()));
  AdvanceTo(now);
  return absl::OkStatus();
}

absl::Status Round::Leave(int32_t index, const std::string& reason, absl::Time now) {
  Participant& p = participant(index);
  if (ended() || p.dropped) return absl::OkStatus();
  Drop(index, reason.empty() ? "left the round" : absl::StrCat("left the round: ", reason));
  AdvanceTo(now);
  return absl::OkStatus();
}

absl::StatusOr<AggregateResult> Round::Aggregate() const {
  if (!ready_to_commit_) {
    return absl::FailedPreconditionError("the round has no complete sum to aggregate");
  }
  return DecodeRoundSum(plan_template_.codec(), sum_, float_sum_, contributors_, *setup_.random);
}

cohort::v1::RoundSummary Round::Summary() const {
  cohort::v1::RoundSummary summary = metrics_;
  summary.set_phase(phase_);
  summary.set_failure_reason(failure_reason_);
  if (phase_ == ROUND_PHASE_COMMITTED) summary.set_new_model_version(new_model_version_);
  summary.set_selected(num_admitted());
  summary.set_contributors(contributors_);
  int32_t dropouts = 0;
  for (const auto& p : participants_) dropouts += p.dropped ? 1 : 0;
  summary.set_dropouts(dropouts);
  if (ended()) ToProto(ended_at_, summary.mutable_ended_at());
  return summary;
}

std::vector<Round::ParticipantRecord> Round::Participants() const {
  std::vector<ParticipantRecord> out;
  out.reserve(participants_.size());
  for (int32_t i = 1; i <= num_admitted(); ++i) {
    const Participant& p = participant(i);
    out.push_back({i, p.pseudonym, p.last_completed, p.contributed, p.selected_at});
  }
  return out;
}

std::vector<RoundChange> Round::TakeChanges() {
  std::vector<RoundChange> out;
  out.swap(changes_);
  return out;
}

bool Round::TakeDirty() {
  const bool dirty = dirty_;
  dirty_ = false;
  return dirty;
}

}  // namespace cohort::server
