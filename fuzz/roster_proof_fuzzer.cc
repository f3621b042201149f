// A device's check of the server's roster proof (secagg/roster.h): leaf count, position and
// sibling hashes are the server's choice. Input: sized leaf, u64 leaf count, u64 position,
// u8 sibling count, then that many sized siblings; then u8 roster size for the honest check.
// then u8 entry and u8 bit for the tampering check.
// Properties: nothing crashes for any proof; the honest proof of every leaf of a roster of the
// fuzzed size gives its root; flipping one bit of a sibling of an honest proof, or of its leaf,
// gives another root (or a refusal).

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "fuzz/fuzz_input.h"
#include "secagg/roster.h"

using cohort::secagg::RosterEntry;
using cohort::secagg::RosterProof;

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  std::vector<cohort::secagg::RosterEntry> entries;
  for (int32_t i = 1; i <= 5; ++i) entries.push_back({.index = i});
  const cohort::secagg::Roster roster = cohort::secagg::Roster::Build(entries);
  const RosterProof proof = *roster.ProofFor(3);
  cohort::fuzz::Output out;
  out.Sized(cohort::secagg::RosterLeaf(entries[2]))
      .U64(static_cast<uint64_t>(proof.leaf_count))
      .U64(static_cast<uint64_t>(proof.position))
      .U8(static_cast<uint8_t>(proof.siblings.size()));
  for (const std::string& s : proof.siblings) out.Sized(s);
  out.U8(5).U8(2).U8(77);
  cohort::fuzz::MaybeWriteSeeds(*argc, *argv, {out.bytes()});
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cohort::fuzz::Input in(data, size);
  const std::string leaf = in.Sized();
  RosterProof proof;
  proof.leaf_count = static_cast<int64_t>(in.U64());
  proof.position = static_cast<int64_t>(in.U64());
  const size_t siblings = in.U8();
  for (size_t i = 0; i < siblings && !in.empty(); ++i) proof.siblings.push_back(in.Sized());
  (void)cohort::secagg::RootFromProof(leaf, proof);

  const int32_t n = 1 + in.U8() % 33;
  std::vector<cohort::secagg::RosterEntry> entries;
  for (int32_t i = 1; i <= n; ++i) entries.push_back({.index = 2 * i});
  const cohort::secagg::Roster roster = cohort::secagg::Roster::Build(entries);
  for (const auto& e : entries) {
    absl::StatusOr<RosterProof> honest = roster.ProofFor(e.index);
    if (!honest.ok()) std::abort();
    absl::StatusOr<std::string> root =
        cohort::secagg::RootFromProof(cohort::secagg::RosterLeaf(e), *honest);
    if (!root.ok() || *root != roster.root()) std::abort();
  }
  const RosterEntry& victim = entries[in.U8() % entries.size()];
  const size_t bit = in.U8();
  RosterProof tampered = *roster.ProofFor(victim.index);
  std::string leaf_bytes = cohort::secagg::RosterLeaf(victim);
  if (tampered.siblings.empty()) {
    leaf_bytes[(bit / 8) % leaf_bytes.size()] ^= static_cast<char>(1 << (bit % 8));
  } else {
    std::string& sibling = tampered.siblings[(bit / 8) % tampered.siblings.size()];
    sibling[bit % sibling.size()] ^= static_cast<char>(1 << (bit % 8));
  }
  absl::StatusOr<std::string> forged = cohort::secagg::RootFromProof(leaf_bytes, tampered);
  if (forged.ok() && *forged == roster.root()) std::abort();
  return 0;
}
