#include "secagg/roster.h"

#include <openssl/sha.h>

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace cohort::secagg {
namespace {

constexpr absl::string_view kSeedLabel = "cohort/secagg/v1 graph-seed";
constexpr size_t kHashSize = SHA256_DIGEST_LENGTH;

std::string Sha256(absl::string_view bytes) {
  std::string out(kHashSize, '\0');
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
         reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

std::string Node(absl::string_view left, absl::string_view right) {
  return Sha256(absl::StrCat(absl::string_view("\x01", 1), left, right));
}

}  // namespace

std::string RosterLeaf(const RosterEntry& e) {
  std::string in(1, '\0');
  const uint32_t u = static_cast<uint32_t>(e.index);
  for (int i = 0; i < 4; ++i) in.push_back(static_cast<char>((u >> (8 * i)) & 0xff));
  in += e.cipher_public_key.ToBytes();
  in += e.mask_public_key.ToBytes();
  return Sha256(in);
}

std::string DeriveGraphSeed(absl::string_view plan_digest, absl::string_view root) {
  return Sha256(absl::StrCat(kSeedLabel, plan_digest, root));
}

Roster Roster::Build(const std::vector<RosterEntry>& entries) {
  Roster r;
  std::vector<std::string> level;
  for (const RosterEntry& e : entries) {
    r.indices_.push_back(e.index);
    level.push_back(RosterLeaf(e));
  }
  // An empty roster has the hash of nothing as its root, so root() is always defined.
  if (level.empty()) level.push_back(Sha256(""));
  r.levels_.push_back(level);
  while (r.levels_.back().size() > 1) {
    const std::vector<std::string>& below = r.levels_.back();
    std::vector<std::string> up;
    for (size_t i = 0; i < below.size(); i += 2) {
      up.push_back(i + 1 < below.size() ? Node(below[i], below[i + 1]) : below[i]);
    }
    r.levels_.push_back(std::move(up));
  }
  return r;
}

absl::StatusOr<RosterProof> Roster::ProofFor(int32_t index) const {
  auto it = std::lower_bound(indices_.begin(), indices_.end(), index);
  if (it == indices_.end() || *it != index) {
    return absl::NotFoundError(absl::StrCat("device ", index, " is not in the roster"));
  }
  RosterProof proof;
  proof.leaf_count = static_cast<int64_t>(indices_.size());
  proof.position = it - indices_.begin();
  size_t pos = static_cast<size_t>(proof.position);
  for (size_t l = 0; l + 1 < levels_.size(); ++l) {
    const std::vector<std::string>& level = levels_[l];
    const size_t sibling = pos ^ 1;
    if (sibling < level.size()) proof.siblings.push_back(level[sibling]);
    pos /= 2;
  }
  return proof;
}

absl::StatusOr<std::string> RootFromProof(absl::string_view leaf, const RosterProof& proof) {
  if (leaf.size() != kHashSize || proof.leaf_count < 1 || proof.leaf_count > (int64_t{1} << 40) ||
      proof.position < 0 || proof.position >= proof.leaf_count) {
    return absl::InvalidArgumentError("roster proof: bad leaf, count or position");
  }
  std::string node(leaf);
  int64_t pos = proof.position;
  int64_t size = proof.leaf_count;
  size_t used = 0;
  while (size > 1) {
    if (pos % 2 == 1 || pos + 1 < size) {
      if (used >= proof.siblings.size() || proof.siblings[used].size() != kHashSize) {
        return absl::InvalidArgumentError("roster proof: too few or malformed siblings");
      }
      const std::string& sibling = proof.siblings[used++];
      node = pos % 2 == 1 ? Node(sibling, node) : Node(node, sibling);
    }
    pos /= 2;
    size = (size + 1) / 2;
  }
  if (used != proof.siblings.size()) {
    return absl::InvalidArgumentError("roster proof: more siblings than levels");
  }
  return node;
}

}  // namespace cohort::secagg
