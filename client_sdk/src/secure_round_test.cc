#include "client_sdk/src/secure_round.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace cohort::client::internal {
namespace {

constexpr int kDevices = 4;

v1::RoundPlan PlanFor(int index) {
  v1::RoundPlan plan;
  plan.set_round_id("round-xyz");
  plan.set_participant_index(index);
  plan.mutable_secagg()->set_num_participants(kDevices);
  plan.mutable_secagg()->set_neighbour_degree(kDevices - 1);
  plan.mutable_secagg()->set_threshold(2);
  plan.mutable_secagg()->set_graph_seed(std::string(32, 's'));
  plan.mutable_codec()->set_modulus_bits(24);
  return plan;
}

// Three devices through key advertisement, share routing (as the server does it) and
// ReceiveShares, in memory.
struct Trio {
  std::vector<std::unique_ptr<SecureRound>> rounds;

  Trio() {
    for (int i = 1; i <= kDevices; ++i) {
      auto r = SecureRound::Create(PlanFor(i));
      REQUIRE(r.ok());
      rounds.push_back(*std::move(r));
    }
    std::vector<v1::AdvertiseKeysRequest> keys(kDevices);
    for (int i = 0; i < kDevices; ++i) REQUIRE(rounds[i]->FillAdvertiseKeys(&keys[i]).ok());
    std::map<int, v1::IncomingShares> inbox;
    for (int i = 0; i < kDevices; ++i) {
      v1::NeighbourKeys neighbours;
      for (int j = 0; j < kDevices; ++j) {
        if (j == i) continue;
        auto* n = neighbours.add_neighbours();
        n->set_participant_index(j + 1);
        n->set_cipher_public_key(keys[j].cipher_public_key());
        n->set_mask_public_key(keys[j].mask_public_key());
      }
      v1::ShareKeysRequest shares;
      REQUIRE(rounds[i]->FillShareKeys(neighbours, &shares).ok());
      REQUIRE(shares.shares_size() == kDevices - 1);
      for (const auto& s : shares.shares()) {
        auto* in = inbox[s.recipient_index()].add_shares();
        in->set_sender_index(i + 1);
        in->set_ciphertext(s.ciphertext());
      }
    }
    for (int i = 0; i < kDevices; ++i) REQUIRE(rounds[i]->ReceiveShares(inbox[i + 1]).ok());
  }
};

TEST_CASE("SecureRound_AdvertisesTwoDistinct32ByteKeys") {
  auto r = SecureRound::Create(PlanFor(1));
  REQUIRE(r.ok());
  v1::AdvertiseKeysRequest request;
  REQUIRE((*r)->FillAdvertiseKeys(&request).ok());
  CHECK(request.cipher_public_key().size() == 32);
  CHECK(request.mask_public_key().size() == 32);
  CHECK(request.cipher_public_key() != request.mask_public_key());
}

TEST_CASE("SecureRound_CreateRejectsAPlanWithoutSecagg") {
  v1::RoundPlan plan = PlanFor(1);
  plan.clear_secagg();
  CHECK(SecureRound::Create(plan).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("SecureRound_ShareKeysRejectsALowOrderNeighbourKey") {
  auto r = SecureRound::Create(PlanFor(1));
  REQUIRE(r.ok());
  v1::NeighbourKeys neighbours;
  auto* n = neighbours.add_neighbours();
  n->set_participant_index(2);
  n->set_cipher_public_key(std::string(32, '\0'));  // the identity point: all-zero secrets
  n->set_mask_public_key(std::string(32, '\0'));
  v1::ShareKeysRequest shares;
  CHECK((*r)->FillShareKeys(neighbours, &shares).code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("SecureRound_MaskingChunkByChunkEqualsMaskingTheWholeInput") {
  Trio trio;
  // Masking the same chunk twice at the same offset gives the same values (deterministic PRGs),
  // and masking works chunk by chunk: offsets 0 and 4 of an 8-element input equal one pass.
  std::vector<uint64_t> whole(8, 5), first(4, 5), second(4, 5);
  REQUIRE(trio.rounds[0]->MaskChunk(0, absl::MakeSpan(whole)).ok());
  REQUIRE(trio.rounds[0]->MaskChunk(0, absl::MakeSpan(first)).ok());
  REQUIRE(trio.rounds[0]->MaskChunk(4, absl::MakeSpan(second)).ok());
  for (int i = 0; i < 4; ++i) {
    CHECK(whole[i] == first[i]);
    CHECK(whole[4 + i] == second[i]);
  }
  CHECK(whole != std::vector<uint64_t>(8, 5));
  for (uint64_t v : whole) CHECK(v < (uint64_t{1} << 24));
}

TEST_CASE("SecureRound_UnmaskingRevealsExactlyOneShareKindPerNeighbour") {
  Trio trio;
  v1::UnmaskingRequest request;
  request.add_surviving_neighbours(2);
  request.add_surviving_neighbours(4);
  request.add_dropped_neighbours(3);
  v1::SubmitUnmaskingRequest answer;
  const absl::Status status = trio.rounds[0]->FillUnmasking(request, &answer);
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
  CHECK(trio.rounds[0]->FillUnmasking(other, &second).code() ==
        absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("SecureRound_SerializedSessionResumesWithTheSameKeysAndMasks") {
  Trio trio;
  auto blob = trio.rounds[1]->Serialize();
  REQUIRE(blob.ok());
  auto resumed = SecureRound::Deserialize(PlanFor(2), *blob);
  REQUIRE(resumed.ok());
  v1::AdvertiseKeysRequest a, b;
  REQUIRE(trio.rounds[1]->FillAdvertiseKeys(&a).ok());
  REQUIRE((*resumed)->FillAdvertiseKeys(&b).ok());
  CHECK(a.SerializeAsString() == b.SerializeAsString());
  std::vector<uint64_t> x(6, 1), y(6, 1);
  REQUIRE(trio.rounds[1]->MaskChunk(10, absl::MakeSpan(x)).ok());
  REQUIRE((*resumed)->MaskChunk(10, absl::MakeSpan(y)).ok());
  CHECK(x == y);
  // The blob of device 2 is not a session of device 1.
  CHECK_FALSE(SecureRound::Deserialize(PlanFor(1), *blob).ok());
}

}  // namespace
}  // namespace cohort::client::internal
