#include "client_sdk/src/secure_round.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "secagg/roster.h"
#include "secagg/testing/fake_random_source.h"

namespace cohort::client::internal {
namespace {

constexpr int kDevices = 4;
const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

v1::RoundPlan PlanFor(int index) {
  v1::RoundPlan plan;
  plan.set_round_id("round-xyz");
  plan.set_participant_index(index);
  plan.set_model_sha256(std::string(32, 'm'));
  plan.mutable_secagg()->set_num_participants(kDevices);
  plan.mutable_secagg()->set_neighbour_degree(kDevices - 1);
  plan.mutable_secagg()->set_threshold(2);
  plan.mutable_secagg()->set_threat_model(v1::THREAT_MODEL_HONEST_BUT_CURIOUS);
  plan.mutable_secagg()->set_dropout_rate(0.25);
  plan.mutable_secagg()->set_corrupted_fraction(0.25);
  plan.mutable_secagg()->set_security_bits(40);
  plan.mutable_secagg()->set_correctness_bits(20);
  plan.mutable_codec()->set_modulus_bits(24);
  return plan;
}

secagg::SigningKey Key(int index) {
  return *secagg::SigningKey::FromSeed(std::string(31, 'd') + static_cast<char>(index));
}

// Four devices through key advertisement, share routing (as the server does it, roster proofs
// included) and ReceiveShares, in memory.
struct Quartet {
  std::vector<std::unique_ptr<SecureRound>> rounds;
  std::vector<v1::ReportSharesRequest> reports;

  Quartet() {
    for (int i = 1; i <= kDevices; ++i) {
      auto r = SecureRound::Create(PlanFor(i), Key(i), {}, nullptr);
      REQUIRE(r.ok());
      rounds.push_back(*std::move(r));
    }
    std::vector<v1::AdvertiseKeysRequest> keys(kDevices);
    std::vector<secagg::RosterEntry> entries;
    for (int i = 0; i < kDevices; ++i) {
      REQUIRE(rounds[i]->FillAdvertiseKeys(&keys[i]).ok());
      entries.push_back({i + 1, *secagg::PublicKey::FromBytes(keys[i].cipher_public_key()),
                         *secagg::PublicKey::FromBytes(keys[i].mask_public_key())});
    }
    const secagg::Roster roster = secagg::Roster::Build(entries);
    std::map<int, v1::IncomingShares> inbox;
    for (int i = 0; i < kDevices; ++i) {
      v1::NeighbourKeys neighbours;
      for (int j = 0; j < kDevices; ++j) {
        if (j == i) continue;
        auto* n = neighbours.add_neighbours();
        n->set_participant_index(j + 1);
        n->set_cipher_public_key(keys[j].cipher_public_key());
        n->set_mask_public_key(keys[j].mask_public_key());
        n->set_signing_public_key(Key(j + 1).verifying_key().ToBytes());
        n->set_advertisement_signature(keys[j].signature());
      }
      const secagg::RosterProof proof = *roster.ProofFor(i + 1);
      auto* p = neighbours.mutable_roster_proof();
      p->set_leaf_count(proof.leaf_count);
      p->set_position(proof.position);
      for (const auto& s : proof.siblings) p->add_siblings(s);
      v1::ShareKeysRequest shares;
      REQUIRE(rounds[i]->FillShareKeys(neighbours, kNow, &shares).ok());
      REQUIRE(shares.shares_size() == kDevices - 1);
      for (const auto& s : shares.shares()) {
        auto* in = inbox[s.recipient_index()].add_shares();
        in->set_sender_index(i + 1);
        in->set_ciphertext(s.ciphertext());
        in->set_signature(s.signature());
      }
    }
    reports.resize(kDevices);
    for (int i = 0; i < kDevices; ++i) {
      REQUIRE(rounds[i]->ReceiveShares(inbox[i + 1], &reports[i]).ok());
    }
  }
};

TEST_CASE("SecureRound_AdvertisesTwoDistinctSignedKeys") {
  auto r = SecureRound::Create(PlanFor(1), Key(1), {}, nullptr);
  REQUIRE(r.ok());
  v1::AdvertiseKeysRequest request;
  REQUIRE((*r)->FillAdvertiseKeys(&request).ok());
  CHECK(request.cipher_public_key().size() == 32);
  CHECK(request.mask_public_key().size() == 32);
  CHECK(request.cipher_public_key() != request.mask_public_key());
  CHECK(request.signature().size() == 64);
}

TEST_CASE("SecureRound_CreateRejectsAPlanWithoutSecagg") {
  v1::RoundPlan plan = PlanFor(1);
  plan.clear_secagg();
  CHECK(SecureRound::Create(plan, Key(1), {}, nullptr).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("CheckPlan_RefusesThresholdOne") {
  v1::RoundPlan plan = PlanFor(1);
  plan.mutable_secagg()->set_threshold(1);
  const absl::Status s = CheckPlan(plan, {});
  CHECK(s.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(s.message().find("below 2") != absl::string_view::npos);
  CHECK(SecureRound::Create(plan, Key(1), {}, nullptr).status().code() ==
        absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("CheckPlan_RefusesMoreNeighboursThanTheRoundHasDevices") {
  v1::RoundPlan plan = PlanFor(1);
  plan.mutable_secagg()->set_neighbour_degree(plan.secagg().num_participants() + 5);
  const absl::Status s = CheckPlan(plan, {});
  CHECK(s.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(s.message().find("unusable") != absl::string_view::npos);
}

TEST_CASE("CheckPlan_RefusesAThresholdOrDegreeWeakerThanItsOwnComputation") {
  // n = 1000 at 5% corruption: the finder needs k = 30 and t = 17 or so; the server sends a
  // threshold (then a degree) its own settings do not support.
  v1::RoundPlan plan = PlanFor(1);
  auto* s = plan.mutable_secagg();
  s->set_num_participants(1000);
  s->set_dropout_rate(0.05);
  s->set_corrupted_fraction(0.05);
  s->set_neighbour_degree(30);
  s->set_threshold(8);
  absl::Status weak_t = CheckPlan(plan, {});
  CHECK(weak_t.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(weak_t.message().find("the parameter finder gives k = ") != absl::string_view::npos);
  s->set_neighbour_degree(6);
  s->set_threshold(4);
  CHECK(CheckPlan(plan, {}).code() == absl::StatusCode::kFailedPrecondition);
  // A plan that understates corruption is judged at the device's own floor.
  s->set_corrupted_fraction(0.0);
  s->set_dropout_rate(0.0);
  s->set_neighbour_degree(2);
  s->set_threshold(2);
  CHECK(CheckPlan(plan, {}).ok());
  CHECK(CheckPlan(plan, {.min_corrupted_fraction = 0.05}).code() ==
        absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("CheckPlan_RefusesAWeakerThreatModelThanTheDeviceRequires") {
  v1::RoundPlan plan = PlanFor(1);
  CHECK(CheckPlan(plan, {.require_semi_malicious = true}).code() ==
        absl::StatusCode::kFailedPrecondition);
  CHECK(CheckPlan(plan, {}).ok());
}

TEST_CASE("SecureRound_RefusesSharesSealedUnderAnotherPlan") {
  // Device 1 was shown a plan with another model: the neighbours' bundles, bound to their plan,
  // are not signed for the plan device 1 knows, so it refuses them.
  Quartet q;
  auto other_plan = PlanFor(1);
  other_plan.set_model_sha256(std::string(32, 'x'));
  auto r = SecureRound::Create(other_plan, Key(1), {}, nullptr);
  REQUIRE(r.ok());
  v1::AdvertiseKeysRequest mine;
  REQUIRE((*r)->FillAdvertiseKeys(&mine).ok());
  v1::NeighbourKeys neighbours;
  // Device 2's advertisement, signed under the real plan.
  v1::AdvertiseKeysRequest theirs;
  REQUIRE(q.rounds[1]->FillAdvertiseKeys(&theirs).ok());
  auto* n = neighbours.add_neighbours();
  n->set_participant_index(2);
  n->set_cipher_public_key(theirs.cipher_public_key());
  n->set_mask_public_key(theirs.mask_public_key());
  n->set_signing_public_key(Key(2).verifying_key().ToBytes());
  n->set_advertisement_signature(theirs.signature());
  secagg::RosterEntry me{1, *secagg::PublicKey::FromBytes(mine.cipher_public_key()),
                         *secagg::PublicKey::FromBytes(mine.mask_public_key())};
  const secagg::Roster roster = secagg::Roster::Build({me});
  auto* p = neighbours.mutable_roster_proof();
  p->set_leaf_count(1);
  p->set_position(0);
  v1::ShareKeysRequest shares;
  CHECK((*r)->FillShareKeys(neighbours, kNow, &shares).code() ==
        absl::StatusCode::kUnauthenticated);
}

TEST_CASE("SecureRound_ShareKeysRejectsALowOrderNeighbourKey") {
  auto r = SecureRound::Create(PlanFor(1), Key(1), {}, nullptr);
  REQUIRE(r.ok());
  v1::NeighbourKeys neighbours;
  auto* n = neighbours.add_neighbours();
  n->set_participant_index(2);
  n->set_cipher_public_key(std::string(32, '\0'));  // the identity point: all-zero secrets
  n->set_mask_public_key(std::string(32, '\0'));
  n->set_signing_public_key(Key(2).verifying_key().ToBytes());
  v1::ShareKeysRequest shares;
  CHECK((*r)->FillShareKeys(neighbours, kNow, &shares).code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("SecureRound_MaskingChunkByChunkEqualsMaskingTheWholeInput") {
  Quartet q;
  for (const auto& report : q.reports) CHECK(report.unopenable_size() == 0);
  // Masking the same chunk twice at the same offset gives the same values (deterministic PRGs),
  // and masking works chunk by chunk: offsets 0 and 4 of an 8-element input equal one pass.
  std::vector<uint64_t> whole(8, 5), first(4, 5), second(4, 5);
  REQUIRE(q.rounds[0]->MaskChunk(0, absl::MakeSpan(whole)).ok());
  REQUIRE(q.rounds[0]->MaskChunk(0, absl::MakeSpan(first)).ok());
  REQUIRE(q.rounds[0]->MaskChunk(4, absl::MakeSpan(second)).ok());
  for (int i = 0; i < 4; ++i) {
    CHECK(whole[i] == first[i]);
    CHECK(whole[4 + i] == second[i]);
  }
  CHECK(whole != std::vector<uint64_t>(8, 5));
  for (uint64_t v : whole) CHECK(v < (uint64_t{1} << 24));
}

TEST_CASE("SecureRound_UnmaskingRevealsExactlyOneShareKindPerNeighbour") {
  Quartet q;
  v1::UnmaskingRequest request;
  request.add_surviving_neighbours(2);
  request.add_surviving_neighbours(4);
  request.add_dropped_neighbours(3);
  v1::SubmitUnmaskingRequest answer;
  const absl::Status status = q.rounds[0]->FillUnmasking(request, &answer);
  INFO(status.ToString());
  REQUIRE(status.ok());
  REQUIRE(answer.shares_size() == 3);
  std::map<int, const v1::SubmitUnmaskingRequest::NeighbourShare*> by_index;
  for (const auto& s : answer.shares()) by_index[s.neighbour_index()] = &s;
  REQUIRE(by_index.count(2) == 1);
  REQUIRE(by_index.count(3) == 1);
  CHECK(by_index[2]->has_self_mask_seed_share());
  CHECK_FALSE(by_index[2]->has_mask_key_share());
  CHECK(by_index[3]->has_mask_key_share());
  CHECK_FALSE(by_index[3]->has_self_mask_seed_share());

  // A second, different request (neighbour 3 now "survived") is refused: answering it would
  // reveal both shares of neighbour 3.
  v1::UnmaskingRequest other;
  other.add_surviving_neighbours(2);
  other.add_surviving_neighbours(3);
  other.add_surviving_neighbours(4);
  v1::SubmitUnmaskingRequest second;
  CHECK(q.rounds[0]->FillUnmasking(other, &second).code() == absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("SecureRound_SerializedSessionResumesWithTheSameKeysMasksAndAnswers") {
  Quartet q;
  v1::UnmaskingRequest request;
  request.add_surviving_neighbours(1);
  request.add_surviving_neighbours(3);
  request.add_dropped_neighbours(4);
  v1::SubmitUnmaskingRequest answer;
  REQUIRE(q.rounds[1]->FillUnmasking(request, &answer).ok());
  auto blob = q.rounds[1]->Serialize();
  REQUIRE(blob.ok());
  auto resumed = SecureRound::Deserialize(PlanFor(2), *blob, nullptr);
  REQUIRE(resumed.ok());
  CHECK((*resumed)->received_shares());
  v1::AdvertiseKeysRequest a, b;
  REQUIRE(q.rounds[1]->FillAdvertiseKeys(&a).ok());
  REQUIRE((*resumed)->FillAdvertiseKeys(&b).ok());
  CHECK(a.SerializeAsString() == b.SerializeAsString());
  // The restored session answers the same request with the same bytes and refuses another.
  v1::SubmitUnmaskingRequest again;
  REQUIRE((*resumed)->FillUnmasking(request, &again).ok());
  CHECK(again.SerializeAsString() == answer.SerializeAsString());
  v1::UnmaskingRequest flipped;
  flipped.add_surviving_neighbours(1);
  flipped.add_surviving_neighbours(3);
  flipped.add_surviving_neighbours(4);
  v1::SubmitUnmaskingRequest refused;
  CHECK((*resumed)->FillUnmasking(flipped, &refused).code() ==
        absl::StatusCode::kFailedPrecondition);
  // The blob of device 2 is not a session of device 1, nor of another plan.
  CHECK_FALSE(SecureRound::Deserialize(PlanFor(1), *blob, nullptr).ok());
  v1::RoundPlan other = PlanFor(2);
  other.set_model_sha256(std::string(32, 'x'));
  CHECK_FALSE(SecureRound::Deserialize(other, *blob, nullptr).ok());
}

}  // namespace
}  // namespace cohort::client::internal
