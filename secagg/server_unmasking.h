#ifndef COHORT_SECAGG_SERVER_UNMASKING_H_
#define COHORT_SECAGG_SERVER_UNMASKING_H_

// The server's UNMASKING step as a pure helper: validates the survivors' answers, reconstructs
// the self-mask seeds b_u of U3 and the mask private keys of U2 \ U3, and removes every mask
// from the running sum of masked inputs, in place.
//
//   ServerUnmaskingOptions o{.round_id = id, .plan_digest = digest, .threshold = t,
//                            .modulus_bits = m, .advertised = u1_keys, .shared_keys = u2,
//                            .masked_input = u3, .unopenable = reports};
//   COHORT_ASSIGN_OR_RETURN(auto unmasking, ServerUnmasking::Create(graph, std::move(o)));
//   for (int32_t w : u3) send(w, unmasking->RequestFor(w));        // surviving / dropped lists
//   // per answer: a bad one is the responder's fault: drop it, keep going
//   absl::Status s = unmasking->AddResponse(w, shares);
//   if (unmasking->ReadyToUnmask()) COHORT_RETURN_IF_ERROR(unmasking->Unmask(absl::MakeSpan(sum)));
//
// Sets: U1 = advertised keys, U2 = completed SHARE_KEYS (U2 ⊆ U1), U3 = masked input in the sum
// (U3 ⊆ U2). Device u of U2 masked with M(u) = the neighbours in U2 whose bundles it opened:
// N(u) ∩ U2 minus the senders it reported (`unopenable`, each with the pairwise seed it
// revealed). The result is sum_{u in U3} x_u mod 2^m:
//   - pairwise masks of two survivors that masked with each other cancel;
//   - survivor u masked with survivor v that did not mask with u: v's report gives s_uv;
//   - survivor u masked with dropped v: from v's mask key, rebuilt from t shares held by
//     survivors that masked with v; where fewer than t such holders are in U3 (v sent most of
//     them bundles that did not open), v is *excluded*: each holder answers with s_uv instead.
//
// Cost: reconstruction is O(|U2| * t * k) field operations; unmasking expands |U3| self-mask
// streams and one pairwise stream per (survivor, dropped or reported neighbour) pair, over the
// sum in cache-sized chunks (memory O(1) beyond the sum).
//
// Codes:
//   Create: INVALID_ARGUMENT for inconsistent sets (not nested, outside 1..n, duplicates, a U2
//     member without keys), a report that names no neighbour in U2 or repeats one, a seed of the
//     wrong size, t outside 2..k, or m outside [8, 62].
//   AddResponse (the responder's fault; nothing is recorded on error): FAILED_PRECONDITION for
//     a responder not in U3 or one that already answered, or after Unmask; INVALID_ARGUMENT for
//     a response that is not exactly one answer per neighbour in RequestFor(responder), an answer
//     of the wrong kind for the neighbour's status, or of the wrong length.
//   Unmask / ReconstructSecrets: FAILED_PRECONDITION naming the first device whose secret
//     cannot be rebuilt; DATA_LOSS naming a device whose shares disagree or whose reconstructed
//     mask key does not match its advertised public key; INVALID_ARGUMENT for a sum of the
//     wrong size.
// This class is not thread-safe.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "secagg/key_agreement.h"
#include "secagg/mask_streams.h"
#include "secagg/neighbour_graph.h"
#include "secagg/prg.h"
#include "secagg/secret_key.h"
#include "secagg/shamir.h"
#include "secagg/share_bundle.h"

namespace cohort::secagg {

struct AdvertisedKeys {
  int32_t index = 0;
  PublicKey cipher_public_key;
  PublicKey mask_public_key;
};

// `recipient` could not open the signed bundle of `sender`, did not mask with it, and revealed
// their pairwise mask seed.
struct UnopenableReport {
  int32_t sender = 0;
  int32_t recipient = 0;
  std::string pairwise_seed;  // 32 bytes
};

struct ServerUnmaskingOptions {
  std::string round_id;
  std::string plan_digest;
  int32_t threshold = 0;
  int modulus_bits = 0;
  int64_t vector_length = 0;              // d, elements of the sum
  std::vector<AdvertisedKeys> advertised;  // U1
  std::vector<int32_t> shared_keys;        // U2
  std::vector<int32_t> masked_input;       // U3
  std::vector<UnopenableReport> unopenable;
};

// What the server asks survivor w, ascending: neighbours in U3 (seed shares), dropped ones
// (mask-key shares), excluded ones (pairwise seeds). Only neighbours w masked with are listed.
struct UnmaskingRequestLists {
  std::vector<int32_t> surviving;
  std::vector<int32_t> dropped;
  std::vector<int32_t> excluded;
};

class ServerUnmasking {
 public:
  static absl::StatusOr<std::unique_ptr<ServerUnmasking>> Create(const NeighbourGraph& graph,
                                                                 ServerUnmaskingOptions options);
  ~ServerUnmasking();

  // Empty lists for a device not in U3.
  UnmaskingRequestLists RequestFor(int32_t responder) const;

  absl::Status AddResponse(int32_t responder, absl::Span<const UnmaskingShare> shares);

  // True once every secret that must go can be removed.
  bool ReadyToUnmask() const;
  // Devices whose masks cannot be removed yet, ascending.
  std::vector<int32_t> ShortOfShares() const;
  int num_responses() const { return static_cast<int>(responders_.size()); }
  // Dropped devices whose pairwise masks are removed through their neighbours' pairwise seeds.
  const std::set<int32_t>& excluded() const { return excluded_; }

  // Reconstructs every needed secret (idempotent). Unmask calls it.
  absl::Status ReconstructSecrets();
  // Removes the masks from sum elements [offset, offset + chunk.size()); for servers that keep
  // the sum in pieces. Requires ReconstructSecrets.
  absl::Status UnmaskChunk(int64_t offset, absl::Span<uint64_t> chunk);
  // Reconstructs, then removes every mask from the whole sum (size vector_length) in place.
  absl::Status Unmask(absl::Span<uint64_t> sum);

 private:
  enum class Role { kAbsent, kAdvertised, kDropped, kSurvived };
  struct Device {
    Role role = Role::kAbsent;
    std::optional<AdvertisedKeys> keys;
    std::vector<ShamirShare> shares;  // of b_u (kSurvived) or of the mask key (kDropped)
    std::map<int32_t, std::string> pairwise;  // excluded: holder -> s_uv
  };

  ServerUnmasking(NeighbourGraph graph, ServerUnmaskingOptions options);
  const Device& device(int32_t index) const { return devices_[static_cast<size_t>(index)]; }
  bool Reported(int32_t sender, int32_t recipient) const {
    return reports_.count({sender, recipient}) != 0;
  }
  // u (in U2) masked with its neighbour v (in U2): it opened v's bundle.
  bool MaskedWith(int32_t u, int32_t v) const;
  // Survivors that masked with dropped v.
  std::vector<int32_t> HoldersOf(int32_t v) const;

  NeighbourGraph graph_;
  ServerUnmaskingOptions options_;
  std::vector<Device> devices_;  // [index], slot 0 unused
  std::map<std::pair<int32_t, int32_t>, std::string> reports_;  // (sender, recipient) -> seed
  std::set<int32_t> excluded_;
  std::vector<bool> responded_;  // [index]
  std::vector<int32_t> responders_;
  bool reconstructed_ = false;
  // The masks the survivors' sum still holds, negated: self masks and the pairwise masks no
  // partner cancelled (added back where a survivor subtracted because its index is larger).
  std::optional<MaskStreams> streams_;
};

}  // namespace cohort::secagg

#endif  // COHORT_SECAGG_SERVER_UNMASKING_H_
