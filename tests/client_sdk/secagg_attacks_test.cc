// The split-view attack of issue 15 played by a lying server, the real server behind a man in
// the middle, against SDK devices (docs/secagg.md#threat-models). Devices on the complete graph;
// u is participant 1, V the t lowest-indexed others, W the rest. The lie:
//   - u receives only V's share bundles, so it masks with V alone;
//   - everyone is told that V dropped (the story S = all but V): a device unmasking for that
//     story answers with u's self-mask seed share and V's mask-key shares, and t of each give
//     the server u's self mask and every pairwise mask u used, i.e. u's input.
// Honest-but-curious: the devices answer (the attack is outside that model; the library test
// SplitViewAttack_RecoversAnInputWithoutTheConsistencyCheck does the subtraction). Semi-malicious
// (n = 6, k = 5, t = 3, so S holds exactly t devices and they sign it): a device unmasks only
// with t signatures over S from its neighbours and S holds t - 1 others, so no device answers,
// and the round fails.

#include <algorithm>
#include <map>
#include <set>

#include <catch2/catch.hpp>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "google/protobuf/util/time_util.h"
#include "tests/client_sdk/secagg_fleet.h"

namespace cohort::client {
namespace {

using test_util::FleetOptions;
using test_util::SdkDevice;
using test_util::SecAggFleet;

constexpr int32_t kVictim = 1;  // u

class SplitViewServer {
 public:
  explicit SplitViewServer(int32_t n) : n_(n) {}

  // What a lying server holds at the end.
  struct Loot {
    int seed_shares_of_u = 0;
    std::map<int32_t, int> key_shares;  // v in V -> mask-key shares received
    int answers = 0;                    // SubmitUnmasking calls
    int fabricated_requests = 0;        // unmasking requests shown for the story
    int story_signatures = 0;           // survivor signatures over the story
    int bundles_shown_to_u = -1;
    int degree_of_u = 0;
    int32_t threshold = 0;
    std::vector<int32_t> v_side;
  };

  void Attach(SdkDevice& d) {
    d.after = [this, &d](const std::string& method, const google::protobuf::Message&,
                         google::protobuf::Message* response, grpc::Status* status) {
      if (method == "WaitForPhase" && status->ok()) {
        Rewrite(d.number, static_cast<v1::RoundUpdate*>(response));
      }
    };
    d.before = [this, &d](const std::string& method, const google::protobuf::Message& request,
                          google::protobuf::Message* response) -> std::optional<grpc::Status> {
      if (method == "SignSurvivors") {
        Signed(d.number, static_cast<const v1::SignSurvivorsRequest&>(request));
        return grpc::Status::OK;  // the real server would check it against its own set
      }
      if (method == "SubmitUnmasking") {
        Answered(static_cast<const v1::SubmitUnmaskingRequest&>(request));
        return grpc::Status::OK;
      }
      if (method == "WaitForPhase") {
        const auto& r = static_cast<const v1::WaitForPhaseRequest&>(request);
        if (r.known_phase() == v1::ROUND_PHASE_CONSISTENCY_CHECK) {
          return TellStory(d.number, static_cast<v1::RoundUpdate*>(response));
        }
      }
      return std::nullopt;
    };
  }

  Loot loot() {
    absl::MutexLock lock(&mu_);
    return loot_;
  }

 private:
  bool InV(int32_t j) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return std::find(loot_.v_side.begin(), loot_.v_side.end(), j) != loot_.v_side.end();
  }
  std::vector<int32_t> Story() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::vector<int32_t> s;
    for (int32_t j = 1; j <= n_; ++j) {
      if (!InV(j)) s.push_back(j);
    }
    return s;
  }

  void Rewrite(int device, v1::RoundUpdate* up) {
    absl::MutexLock lock(&mu_);
    if (up->has_plan()) {
      index_[device] = up->plan().participant_index();
      plan_[device] = up->plan();
      loot_.threshold = up->plan().secagg().threshold();
      loot_.v_side.clear();
      for (int32_t j = 2; j <= loot_.threshold + 1; ++j) loot_.v_side.push_back(j);
    }
    const int32_t self = index_[device];
    if (up->has_neighbour_keys()) {
      for (const auto& n : up->neighbour_keys().neighbours()) {
        opened_[self].insert(n.participant_index());
      }
      if (self == kVictim) loot_.degree_of_u = up->neighbour_keys().neighbours_size();
    }
    if (up->has_incoming_shares() && self == kVictim) {
      // u masks with V alone.
      v1::IncomingShares only;
      for (const auto& s : up->incoming_shares().shares()) {
        if (InV(s.sender_index())) *only.add_shares() = s;
      }
      *up->mutable_incoming_shares() = only;
      loot_.bundles_shown_to_u = only.shares_size();
      opened_[self].clear();
      for (int32_t v : loot_.v_side) opened_[self].insert(v);
    }
    if (up->has_consistency_check()) {
      up->mutable_consistency_check()->clear_survivors();
      for (int32_t j : Story()) up->mutable_consistency_check()->add_survivors(j);
    }
    if (up->has_unmasking()) {
      *up->mutable_unmasking() = StoryRequest(self, /*signed_story=*/false);
      ++loot_.fabricated_requests;
    }
  }

  v1::UnmaskingRequest StoryRequest(int32_t self, bool signed_story) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    v1::UnmaskingRequest r;
    auto it = opened_.find(self);
    if (it != opened_.end()) {
      for (int32_t j : it->second) {
        if (InV(j)) {
          r.add_dropped_neighbours(j);
        } else {
          r.add_surviving_neighbours(j);
        }
      }
    }
    if (signed_story) {
      for (int32_t j : Story()) r.add_survivors(j);
      for (const auto& [signer, sig] : signatures_) {
        v1::SurvivorSignature* s = r.add_survivor_signatures();
        s->set_signer_index(signer);
        s->set_signature(sig);
      }
    }
    return r;
  }

  void Signed(int device, const v1::SignSurvivorsRequest& request) {
    absl::MutexLock lock(&mu_);
    signatures_[index_[device]] = request.signature();
    ++loot_.story_signatures;
  }

  // Semi-malicious: the real server never gets the signatures and never reaches UNMASKING, so
  // the liar shows the story's unmasking request itself, with every signature over the story,
  // once each device of the story signed (or a few seconds passed).
  grpc::Status TellStory(int device, v1::RoundUpdate* up) {
    absl::MutexLock lock(&mu_);
    auto everyone_signed = [this] {
      mu_.AssertHeld();
      return signatures_.size() >= Story().size();
    };
    mu_.AwaitWithTimeout(absl::Condition(&everyone_signed), absl::Seconds(4));
    const int32_t self = index_[device];
    up->set_phase(v1::ROUND_PHASE_UNMASKING);
    up->set_participant_state(v1::PARTICIPANT_STATE_ACTIVE);
    *up->mutable_plan() = plan_[device];
    *up->mutable_phase_deadline() = google::protobuf::util::TimeUtil::SecondsToTimestamp(
        absl::ToUnixSeconds(absl::Now() + absl::Seconds(10)));
    *up->mutable_unmasking() = StoryRequest(self, /*signed_story=*/true);
    ++loot_.fabricated_requests;
    return grpc::Status::OK;
  }

  void Answered(const v1::SubmitUnmaskingRequest& request) {
    absl::MutexLock lock(&mu_);
    ++loot_.answers;
    for (const auto& s : request.shares()) {
      if (s.neighbour_index() == kVictim && s.has_self_mask_seed_share()) ++loot_.seed_shares_of_u;
      if (s.has_mask_key_share() && InV(s.neighbour_index()))
        ++loot_.key_shares[s.neighbour_index()];
    }
  }

  const int32_t n_;
  absl::Mutex mu_;
  std::map<int, int32_t> index_ ABSL_GUARDED_BY(mu_);  // device number -> participant index
  std::map<int, v1::RoundPlan> plan_ ABSL_GUARDED_BY(mu_);
  std::map<int32_t, std::set<int32_t>> opened_ ABSL_GUARDED_BY(mu_);  // whose bundles it has
  std::map<int32_t, std::string> signatures_ ABSL_GUARDED_BY(mu_);
  Loot loot_ ABSL_GUARDED_BY(mu_);
};

SplitViewServer::Loot PlaySplitView(const FleetOptions& options, v1::Task* task) {
  SecAggFleet fleet(options);
  SplitViewServer liar(options.devices);
  for (auto& d : fleet.devices) liar.Attach(*d);
  REQUIRE(fleet.server->StartRounds(fleet.task_id, 1).ok());
  fleet.RunAll();
  absl::StatusOr<v1::Task> t = fleet.server->WaitForCommitted(fleet.task_id, 1, absl::Seconds(30));
  REQUIRE(t.ok());
  *task = *t;
  return liar.loot();
}

TEST_CASE("SplitViewAttack_HonestButCurious_DevicesHandOverWhatRebuildsTheVictimsInput") {
  v1::Task task;
  // n = 5 at these rates: the complete graph, t = 2.
  const SplitViewServer::Loot loot =
      PlaySplitView({.population = "split-hbc",
                     .devices = 5,
                     .threat_model = v1::THREAT_MODEL_HONEST_BUT_CURIOUS,
                     .dropout_rate = 0.2,
                     .corrupted_fraction = 0.1,
                     .phase_deadline = absl::Seconds(5)},
                    &task);
  REQUIRE(loot.degree_of_u == 4);
  REQUIRE(loot.threshold == 2);
  CHECK(loot.bundles_shown_to_u == loot.threshold);
  CHECK(loot.answers > 0);
  // Out of this model, and documented: t shares of b_u and of every s_v, v in V.
  CHECK(loot.seed_shares_of_u >= loot.threshold);
  for (int32_t v : loot.v_side) {
    INFO("mask-key shares of " << v);
    CHECK(loot.key_shares.count(v) == 1);
    if (loot.key_shares.count(v) == 1) CHECK(loot.key_shares.at(v) >= loot.threshold);
  }
}

TEST_CASE("SplitViewAttack_SemiMalicious_NoDeviceAnswersAndTheRoundFails") {
  v1::Task task;
  // n = 6 at these rates: the complete graph, t = 3 (2t > k = 5).
  const SplitViewServer::Loot loot = PlaySplitView({.population = "split-sm",
                                                    .devices = 6,
                                                    .threat_model = v1::THREAT_MODEL_SEMI_MALICIOUS,
                                                    .dropout_rate = 0.4,
                                                    .corrupted_fraction = 0.1,
                                                    .phase_deadline = absl::Seconds(5)},
                                                   &task);
  REQUIRE(loot.degree_of_u == 5);
  REQUIRE(loot.threshold == 3);
  CHECK(loot.bundles_shown_to_u == loot.threshold);
  // The lie was told in full: the story's t devices signed it and were asked to unmask for it.
  CHECK(loot.story_signatures == loot.threshold);
  CHECK(loot.fabricated_requests > 0);
  CHECK(loot.answers == 0);
  CHECK(loot.seed_shares_of_u == 0);
  CHECK(loot.key_shares.empty());
  CHECK(task.rounds_committed() == 0);
  CHECK(task.rounds_failed() == 1);
}

}  // namespace
}  // namespace cohort::client
