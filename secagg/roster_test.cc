#include "secagg/roster.h"

#include <catch2/catch.hpp>

#include "secagg/testing/fake_random_source.h"

namespace cohort::secagg {
namespace {

std::vector<RosterEntry> Entries(int count, FakeRandomSource& rng) {
  std::vector<RosterEntry> entries;
  for (int i = 1; i <= count; ++i) {
    if (i % 4 == 0) continue;  // a roster has gaps where devices did not advertise
    entries.push_back(
        {i, KeyPair::Generate(rng).public_key(), KeyPair::Generate(rng).public_key()});
  }
  return entries;
}

TEST_CASE("Roster_EveryMembersProofRebuildsTheRootForEverySize") {
  FakeRandomSource rng(4);
  for (int count : {1, 2, 3, 5, 8, 13, 33}) {
    const std::vector<RosterEntry> entries = Entries(count, rng);
    if (entries.empty()) continue;
    const Roster roster = Roster::Build(entries);
    for (const RosterEntry& e : entries) {
      INFO("count " << count << " index " << e.index);
      auto proof = roster.ProofFor(e.index);
      REQUIRE(proof.ok());
      auto root = RootFromProof(RosterLeaf(e), *proof);
      REQUIRE(root.ok());
      CHECK(*root == roster.root());
    }
  }
}

TEST_CASE("Roster_AProofDoesNotRebuildTheRootForAnotherKeyOrPosition") {
  FakeRandomSource rng(5);
  const std::vector<RosterEntry> entries = Entries(9, rng);
  const Roster roster = Roster::Build(entries);
  RosterEntry forged = entries[2];
  forged.mask_public_key = KeyPair::Generate(rng).public_key();
  const RosterProof proof = *roster.ProofFor(entries[2].index);
  CHECK(*RootFromProof(RosterLeaf(forged), proof) != roster.root());
  RosterProof moved = proof;
  moved.position = (moved.position + 1) % moved.leaf_count;
  auto root = RootFromProof(RosterLeaf(entries[2]), moved);
  CHECK((!root.ok() || *root != roster.root()));
  RosterProof short_proof = proof;
  short_proof.siblings.pop_back();
  CHECK(RootFromProof(RosterLeaf(entries[2]), short_proof).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(roster.ProofFor(4).status().code() == absl::StatusCode::kNotFound);
}

TEST_CASE("DeriveGraphSeed_DependsOnPlanAndRoot") {
  const std::string a = DeriveGraphSeed(std::string(32, 'p'), std::string(32, 'r'));
  CHECK(a.size() == 32);
  CHECK(a != DeriveGraphSeed(std::string(32, 'q'), std::string(32, 'r')));
  CHECK(a != DeriveGraphSeed(std::string(32, 'p'), std::string(32, 's')));
}

}  // namespace
}  // namespace cohort::secagg
