#ifndef COHORT_SECAGG_CLIENT_SESSION_H_
#define COHORT_SECAGG_CLIENT_SESSION_H_

// One device's side of a SecAgg+ round, as pure state transitions (no I/O, no clock):
//
//   SecAggClientOptions o{.round_id = plan.round_id(), .self_index = plan.participant_index(),
//                         .num_participants = 1000, .neighbour_degree = 40, .threshold = 21,
//                         .graph_seed = plan.secagg().graph_seed(), .modulus_bits = 32};
//   COHORT_ASSIGN_OR_RETURN(auto client, SecAggClient::Create(o, *OsRandom()));
//   // ADVERTISE_KEYS: client->cipher_public_key(), client->mask_public_key()
//   // SHARE_KEYS:     ShareKeys(neighbour keys)           -> one ciphertext per neighbour
//   // MASKED_INPUT:   ReceiveShares(incoming ciphertexts)  then MaskChunk(offset, chunk) ...
//   // UNMASKING:      Unmask(surviving, dropped)           -> one share per listed neighbour
//   std::string blob = client->Serialize();  // persist; SecAggClient::Deserialize(blob) resumes
//
// What the device masks with: y = x + PRG(b_u) + sum_{v in N(u) ∩ U2} sign(u, v) * PRG(s_uv)
// mod 2^m, where U2 ∩ N(u) is exactly the set of senders passed to ReceiveShares.
//
// Guarantees (Bonawitz et al. 2017, Sec. 4; Bell et al. 2020): for one neighbour the device
// reveals either the share of its self-mask seed or the share of its mask key, never both, and
// it answers at most one distinct unmasking request (a repeat of the same request gets the same
// answer, so a resumed device can resend). Every method is idempotent under a repeat of the
// same input, and refuses a different one.
//
// Codes:
//   Create/Deserialize: INVALID_ARGUMENT for bad options (index out of 1..n, t outside 1..k,
//     m outside [8, 62], a seed of the wrong size); Deserialize: DATA_LOSS for corrupt bytes.
//   ShareKeys: INVALID_ARGUMENT for a non-neighbour, a duplicate or self; FAILED_PRECONDITION for
//     fewer than t neighbours, or a second call with a different neighbour set.
//   ReceiveShares: FAILED_PRECONDITION before ShareKeys, for fewer than t senders, or a repeat
//     with a different sender set; INVALID_ARGUMENT for a sender that was not given keys;
//     DATA_LOSS for a ciphertext that fails to open (nothing is recorded then).
//   MaskChunk: FAILED_PRECONDITION before ReceiveShares or after Unmask; INVALID_ARGUMENT for a
//     negative offset or an element >= 2^m.
//   Unmask: FAILED_PRECONDITION before ReceiveShares, for a neighbour in both lists, a list that
//     is not exactly a partition of the senders, fewer than t surviving neighbours, or a request
//     that differs from one already answered.
// This class is not thread-safe.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "secagg/key_agreement.h"
#include "secagg/neighbour_graph.h"
#include "secagg/random_source.h"
#include "secagg/secret_key.h"
#include "secagg/share_bundle.h"

namespace cohort::secagg {

struct SecAggClientOptions {
  std::string round_id;
  int32_t self_index = 0;        // 1..num_participants
  int32_t num_participants = 0;  // n
  int32_t neighbour_degree = 0;  // k (n - 1 for the complete graph)
  int32_t threshold = 0;         // t
  std::string graph_seed;        // 32 bytes, public
  int modulus_bits = 0;          // m, R = 2^m
};

struct NeighbourPublicKeys {
  int32_t index = 0;
  PublicKey cipher_public_key;
  PublicKey mask_public_key;
};

// A sealed share bundle: `index` is the recipient (from ShareKeys) or the sender (into
// ReceiveShares).
struct EncryptedShare {
  int32_t index = 0;
  std::string ciphertext;
};

class SecAggClient {
 public:
  static absl::StatusOr<std::unique_ptr<SecAggClient>> Create(const SecAggClientOptions& options,
                                                              RandomSource& random);
  static absl::StatusOr<std::unique_ptr<SecAggClient>> Deserialize(absl::string_view bytes);
  ~SecAggClient();

  // Everything, secret keys included: store it as a secret.
  std::string Serialize() const;

  const SecAggClientOptions& options() const { return options_; }
  const NeighbourGraph& graph() const { return graph_; }
  const PublicKey& cipher_public_key() const { return cipher_keys_.public_key(); }
  const PublicKey& mask_public_key() const { return mask_keys_.public_key(); }

  // SHARE_KEYS: `neighbours` are this device's graph neighbours that advertised keys.
  absl::StatusOr<std::vector<EncryptedShare>> ShareKeys(
      absl::Span<const NeighbourPublicKeys> neighbours, RandomSource& random);

  // MASKED_INPUT: the bundles of the neighbours that completed SHARE_KEYS (U2 ∩ N(u)).
  absl::Status ReceiveShares(absl::Span<const EncryptedShare> incoming);

  // Masks elements [offset, offset + values.size()) of the input in place, mod 2^m; memory
  // O(1) beyond `values`.
  absl::Status MaskChunk(int64_t offset, absl::Span<uint64_t> values);

  // UNMASKING: one share per listed neighbour, seed shares for `surviving`, mask-key shares for
  // `dropped`, in the order surviving then dropped.
  absl::StatusOr<std::vector<UnmaskingShare>> Unmask(absl::Span<const int32_t> surviving,
                                                     absl::Span<const int32_t> dropped);

  // The neighbours whose pairwise masks this device applies (empty before ReceiveShares).
  std::vector<int32_t> masking_neighbours() const;

 private:
  struct Neighbour {
    NeighbourPublicKeys keys;
    std::string outgoing_ciphertext;  // what this device sealed for it
    bool sent_shares = false;         // its bundle arrived in ReceiveShares
    std::string mask_key_share;       // its shares held by this device
    std::string self_mask_seed_share;
    SecretKey pairwise_seed;          // s_uv
  };

  SecAggClient(SecAggClientOptions options, NeighbourGraph graph, KeyPair cipher_keys,
               KeyPair mask_keys, SecretKey self_mask_seed);
  absl::Status ComputePairwiseSeeds();

  SecAggClientOptions options_;
  NeighbourGraph graph_;
  KeyPair cipher_keys_;
  KeyPair mask_keys_;
  SecretKey self_mask_seed_;  // b_u
  bool shared_keys_ = false;
  bool received_shares_ = false;
  std::map<int32_t, Neighbour> neighbours_;  // the ones given to ShareKeys
  std::optional<std::pair<std::vector<int32_t>, std::vector<int32_t>>> answered_;  // sorted
};

}  // namespace cohort::secagg

#endif  // COHORT_SECAGG_CLIENT_SESSION_H_
