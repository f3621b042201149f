#ifndef COHORT_SERVER_CORE_ROUND_CONTEXT_H_
#define COHORT_SERVER_CORE_ROUND_CONTEXT_H_

// The data one round carries from phase to phase, and the steps every phase shares: dropping a
// participant, moving to the next phase, failing, and the close-phase step (drop the devices
// that did not act, record the phase's metrics, fail on a shortfall or move on). Internal to
// server/core: Round (round.h) is the facade, the per-phase units (round_phases.h) act on this.
//
// The role of fcp's SecAggServerProtocolImpl: the state objects hold no data of their own, so a
// transition only changes `phase`.
//
// This class is not thread-safe.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cohort/v1/admin.pb.h"
#include "cohort/v1/device.pb.h"
#include "cohort/v1/model.pb.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "secagg/key_authenticity.h"
#include "secagg/neighbour_graph.h"
#include "secagg/parameter_finder.h"
#include "secagg/random_source.h"
#include "secagg/roster.h"
#include "secagg/server_unmasking.h"
#include "secagg/signing.h"
#include "server/core/upload_budget.h"

namespace cohort::server {

bool IsLegalTransition(cohort::v1::RoundPhase from, cohort::v1::RoundPhase to);

// "MASKED_INPUT" for ROUND_PHASE_MASKED_INPUT.
std::string PhaseName(cohort::v1::RoundPhase phase);

absl::Duration DurationFromProto(const google::protobuf::Duration& d);
void DurationToProto(absl::Duration d, google::protobuf::Duration* out);
void TimeToProto(absl::Time t, google::protobuf::Timestamp* out);

struct RoundSetup {
  std::string task_id;
  int64_t round_number = 0;
  std::string round_id;
  cohort::v1::TaskConfig config;  // validated
  std::shared_ptr<const cohort::v1::Model> base_model;
  secagg::RandomSource* random = nullptr;  // not owned; graph and rotation seeds, central noise
  // Devices evaluate the base model and do not train (config.evaluation must be enabled).
  bool evaluation_only = false;
  // DP tasks: the clip norm of this round (adaptive clipping moves it); 0 = the config's.
  double dp_clip_norm = 0;
  // Secure aggregation: k and t for every cohort size, computed once when the task was
  // validated (opening a round then costs O(k), not a search). Required when secure.
  std::shared_ptr<const secagg::ParameterTable> secagg_parameters;
  // Semi-malicious tasks: vouches for devices' signing keys. Not owned; required there.
  const secagg::KeyAuthenticityVerifier* key_verifier = nullptr;
  // The server's bound on buffered masked input, shared by every round; not owned. nullptr =
  // no bound.
  UploadBudget* upload_budget = nullptr;
};

// What a device presented at check-in: its Ed25519 key (verified by the caller against the
// check-in signature) and the credential vouching for it.
struct DeviceIdentity {
  std::string public_key;  // 32 bytes
  std::string credential;
};

// What a phase change or a drop looked like, for the owner's observers.
struct RoundChange {
  cohort::v1::RoundPhase from = cohort::v1::ROUND_PHASE_UNSPECIFIED;
  cohort::v1::RoundPhase to = cohort::v1::ROUND_PHASE_UNSPECIFIED;
  absl::Duration phase_duration;
  int32_t dropped = 0;  // devices dropped when `from` closed
  std::string message;
};

struct Participant {
  std::string pseudonym;
  DeviceIdentity identity;
  secagg::VerifyingKey signing_key;  // parsed identity.public_key
  absl::Time selected_at;
  bool dropped = false;
  std::string dropped_reason;
  cohort::v1::RoundPhase last_completed = cohort::v1::ROUND_PHASE_UNSPECIFIED;
  // ADVERTISE_KEYS
  bool advertised = false;
  std::string cipher_public_key;
  std::string mask_public_key;
  std::string advertisement_signature;
  bool in_roster = false;  // advertised by the close: its keys are a roster leaf
  bool in_u1 = false;
  // SHARE_KEYS: recipient -> (ciphertext, signature)
  bool shared = false;
  std::map<int32_t, std::pair<std::string, std::string>> outgoing;
  bool in_u2 = false;
  // MASKED_INPUT
  bool reported = false;  // ReportShares (or the first upload, which implies "all opened")
  std::map<int32_t, std::string> unopenable;  // sender -> pairwise seed it revealed
  int32_t accusations = 0;                    // recipients that reported this device's bundles
  bool excluded = false;  // dropped for bundles that did not open; never folded into the sum
  std::map<int64_t, std::string> chunks;  // buffered until complete and folded
  int64_t upload_reserved = 0;            // bytes of the upload budget held for chunks
  bool upload_complete = false;           // every chunk arrived
  bool contributed = false;               // in U3: input in the sum
  // CONSISTENCY_CHECK
  bool signed_survivors = false;
  std::string survivor_signature;
  // UNMASKING
  bool answered = false;
  std::string answer;  // serialized accepted request, to accept identical retries
};

struct RoundContext {
  explicit RoundContext(RoundSetup s) : setup(std::move(s)) {}
  // Gives back any upload budget still held (a round dropped without ending, e.g. at shutdown).
  ~RoundContext();
  RoundContext(const RoundContext&) = delete;
  RoundContext& operator=(const RoundContext&) = delete;

  bool secure() const { return setup.config.secagg().enabled(); }
  bool ended() const {
    return phase == cohort::v1::ROUND_PHASE_COMMITTED || phase == cohort::v1::ROUND_PHASE_FAILED;
  }
  int32_t num_admitted() const { return static_cast<int32_t>(participants.size()); }
  int32_t open_slots() const;
  Participant& participant(int32_t index) { return participants[static_cast<size_t>(index - 1)]; }
  const Participant& participant(int32_t index) const {
    return participants[static_cast<size_t>(index - 1)];
  }
  int32_t CountActive() const;
  absl::Duration PhaseDuration(cohort::v1::RoundPhase p) const;

  // FAILED_PRECONDITION naming why participant `index` may not make call `call` now: dropped,
  // the round ended, or the round is in another phase than `expected`.
  absl::Status CheckActiveIn(int32_t index, cohort::v1::RoundPhase expected,
                             absl::string_view call) const;
  void Drop(int32_t index, const std::string& reason);
  // Moves to `next` (CHECK-fails on an illegal transition) and records the change.
  void SetPhase(cohort::v1::RoundPhase next, absl::Time now, std::string message = "");
  void RecordPhaseMetrics(cohort::v1::RoundPhase p, int32_t entered, int32_t completed,
                          absl::Duration duration);
  // Moves to FAILED (no-op once ended).
  void Fail(const std::string& reason, absl::Time now);
  void ReleaseBuffers();
  // Frees a participant's buffered chunks and gives their budget back.
  void ReleaseUpload(Participant& p);

  // --- The close-phase step, shared by every phase -------------------------------------------
  // Drops every active participant that has not `acted` with `reason`; returns how many.
  template <typename Acted>
  int32_t DropLaggards(Acted acted, const std::string& reason) {
    int32_t dropped = 0;
    for (int32_t i = 1; i <= num_admitted(); ++i) {
      if (!participant(i).dropped && !acted(participant(i))) {
        Drop(i, reason);
        ++dropped;
      }
    }
    return dropped;
  }
  // Records the closing phase's metrics (`completed` of the participants that entered it) and,
  // unless the phase left `enough` to go on, fails the round with `shortfall` naming the counts.
  // Returns false when the round failed. `dropped` goes on the change the failure records.
  bool Settle(int32_t completed, bool enough, const std::string& shortfall, int32_t dropped,
              absl::Time now);
  // Opens `next` after a successful Settle, noting the devices dropped at the close.
  void MoveTo(cohort::v1::RoundPhase next, const std::string& message, int32_t dropped,
              absl::Time now);
  // The last phase closed with an exact sum: the owner commits it (the phase stays put).
  void MarkReadyToCommit(int32_t dropped, absl::Time now);

  RoundSetup setup;
  cohort::v1::RoundPhase phase = cohort::v1::ROUND_PHASE_FORMING;
  absl::Time phase_started;
  absl::Time deadline;
  absl::Time started_at;
  absl::Time ended_at = absl::InfinitePast();
  int32_t selection_target = 0;
  int32_t phase_entered = 0;    // participants expected in the current phase
  bool phase_recorded = false;  // the current phase's metrics are in metrics
  bool ready_to_commit = false;
  std::string failure_reason;
  int64_t new_model_version = 0;

  std::vector<Participant> participants;  // [index - 1]
  absl::flat_hash_map<std::string, int32_t> index_of;

  bool semi_malicious() const {
    return setup.config.secagg().threat_model() == cohort::v1::THREAT_MODEL_SEMI_MALICIOUS;
  }

  // Resolved when forming closes.
  cohort::v1::RoundPlan plan_template;
  std::string plan_digest;  // secagg::PlanDigest(plan_template)
  int32_t degree = 0;
  int32_t threshold = 0;
  // Resolved when ADVERTISE_KEYS closes.
  std::optional<secagg::Roster> roster;
  std::string graph_seed;
  std::optional<secagg::NeighbourGraph> graph;
  // Semi-malicious: U3, ascending, as sent for signing.
  std::vector<int32_t> survivors;
  std::unique_ptr<secagg::ServerUnmasking> unmasking;
  // Pseudonyms excluded in this round, not yet taken by the owner.
  std::vector<std::string> newly_excluded;
  std::vector<uint64_t> sum;      // QUANTIZED, in Z_(2^m)
  std::vector<double> float_sum;  // FLOAT32
  int32_t contributors = 0;

  cohort::v1::RoundSummary metrics;  // phases, bytes
  std::vector<RoundChange> changes;
  bool dirty = false;
};

}  // namespace cohort::server

#endif  // COHORT_SERVER_CORE_ROUND_CONTEXT_H_
