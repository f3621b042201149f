#ifndef COHORT_SECAGG_ROSTER_H_
#define COHORT_SECAGG_ROSTER_H_

// The round's roster: a Merkle tree over the X25519 keys every device advertised, whose root
// seeds the neighbour graph. The server cannot pick the graph: it learns the fresh keys of a
// device only when the device advertises them, and each device checks (in O(log n)) that its own
// keys are in the root the seed comes from, so every choice the server has left (which devices
// to leave out, what corrupt devices advertise) is one more random draw of the graph, made
// inside the ADVERTISE_KEYS window (docs/secagg.md#graph-seed).
//
//   Roster roster = Roster::Build(entries);             // server, ascending indices
//   RosterProof proof = *roster.ProofFor(5);
//   // device 5:
//   COHORT_ASSIGN_OR_RETURN(std::string root, RootFromProof(RosterLeaf(my_entry), proof));
//   std::string seed = DeriveGraphSeed(plan_digest, root);
//
// Tree: leaf = SHA-256(0x00 || i32le(index) || cipher pk || mask pk), node = SHA-256(0x01 ||
// left || right); on a level of odd size the last node moves up unchanged. A proof lists the
// siblings from the leaf up.
//
// Codes: ProofFor NOT_FOUND for an index not in the roster; RootFromProof INVALID_ARGUMENT for
// a proof that does not fit its leaf count and position.
// Immutable after Build; thread-safe for reads.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "secagg/key_agreement.h"

namespace cohort::secagg {

struct RosterEntry {
  int32_t index = 0;
  PublicKey cipher_public_key;
  PublicKey mask_public_key;
};

struct RosterProof {
  int64_t leaf_count = 0;
  int64_t position = 0;               // of the leaf among the ascending indices
  std::vector<std::string> siblings;  // 32 bytes each
};

std::string RosterLeaf(const RosterEntry& entry);
// SHA-256("cohort/secagg/v1 graph-seed" || plan_digest || root).
std::string DeriveGraphSeed(absl::string_view plan_digest, absl::string_view root);
absl::StatusOr<std::string> RootFromProof(absl::string_view leaf, const RosterProof& proof);

class Roster {
 public:
  // `entries` in ascending index order.
  static Roster Build(const std::vector<RosterEntry>& entries);
  const std::string& root() const { return levels_.back().front(); }
  absl::StatusOr<RosterProof> ProofFor(int32_t index) const;

 private:
  std::vector<int32_t> indices_;
  std::vector<std::vector<std::string>> levels_;  // levels_[0] = leaves
};

}  // namespace cohort::secagg

#endif  // COHORT_SECAGG_ROSTER_H_
