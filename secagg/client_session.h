#ifndef COHORT_SECAGG_CLIENT_SESSION_H_
#define COHORT_SECAGG_CLIENT_SESSION_H_

// One device's side of a SecAgg+ round, as pure state transitions (no I/O, no clock):
//
//   SecAggClientOptions o{.round_id = plan.round_id(), .plan_digest = PlanDigest(plan),
//                         .self_index = plan.participant_index(), .num_participants = 1000,
//                         .neighbour_degree = 40, .threshold = 21, .modulus_bits = 32};
//   COHORT_ASSIGN_OR_RETURN(auto client, SecAggClient::Create(o, identity_key, *OsRandom()));
//   // ADVERTISE_KEYS: client->Advertise()                    -> keys and their signature
//   // SHARE_KEYS:     ShareKeys(roster proof, neighbours)    -> one signed bundle per neighbour
//   // MASKED_INPUT:   ReceiveShares(incoming bundles)        -> the ones that did not open
//   //                 MaskChunk(offset, chunk) ...
//   // CONSISTENCY:    SignSurvivors(survivors)               (semi-malicious model only)
//   // UNMASKING:      Unmask(request)                        -> one share per listed neighbour
//   std::string blob = client->Serialize();  // persist; SecAggClient::Deserialize(blob) resumes
//
// What the device masks with: y = x + PRG(b_u) + sum_{v in opened} sign(u, v) * PRG(s_uv) mod
// 2^m, where `opened` are the senders passed to ReceiveShares whose bundles opened. For a
// bundle that carries its sender's valid signature but does not open, the device reveals s_uv
// instead (ReceiveShares' result) and does not mask with that sender: its sender produced the
// garbage itself, so it already knows s_uv (docs/secagg.md#attributable-exclusion).
//
// The neighbour graph's seed is derived from the roster root, which the device rebuilds from its
// own advertised keys and the server's proof, so the server cannot pick the graph.
//
// Guarantees (Bonawitz et al. 2017, Sec. 4; Bell et al. 2020): for one neighbour the device
// reveals either the share of its self-mask seed or the share of its mask key (or, for an
// excluded neighbour, their pairwise seed), never two of them, and it answers at most one
// distinct unmasking request. In the semi-malicious model it signs one survivor set only and
// unmasks only with valid signatures from at least t neighbours over that same set, deriving
// which neighbours survived from the set itself. Every method is idempotent under a repeat of
// the same input and refuses a different one.
//
// Codes:
//   Create/Deserialize: INVALID_ARGUMENT for bad options (index out of 1..n, t outside 2..k, or
//     2t <= k in the semi-malicious model, m outside [8, 62], a digest of the wrong size);
//     Deserialize: DATA_LOSS for corrupt bytes.
//   ShareKeys: INVALID_ARGUMENT for a bad roster proof, a non-neighbour, a duplicate or self;
//     UNAUTHENTICATED for a neighbour whose advertisement signature or credential does not
//     verify; FAILED_PRECONDITION for fewer than t neighbours, or a repeat with other inputs.
//   ReceiveShares: FAILED_PRECONDITION before ShareKeys, for fewer than t bundles that open, or a
//     repeat with a different sender set; INVALID_ARGUMENT for a sender that was not given keys;
//     UNAUTHENTICATED for a bundle its sender did not sign (the server altered it).
//   MaskChunk: FAILED_PRECONDITION before ReceiveShares or after Unmask; INVALID_ARGUMENT for a
//     negative offset or an element >= 2^m.
//   SignSurvivors: FAILED_PRECONDITION outside the semi-malicious model, before ReceiveShares,
//     for a set without this device or with fewer than t members, or a different set than one
//     already signed.
//   Unmask: FAILED_PRECONDITION before ReceiveShares, for a neighbour listed twice, lists that
//     do not partition the opened senders, fewer than t surviving neighbours, a request that
//     differs from one already answered; semi-malicious: before SignSurvivors, for another
//     survivor set than the one signed, lists that do not follow from it, or fewer than t valid
//     neighbour signatures over it.
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
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "secagg/key_agreement.h"
#include "secagg/key_authenticity.h"
#include "secagg/neighbour_graph.h"
#include "secagg/parameter_finder.h"
#include "secagg/random_source.h"
#include "secagg/roster.h"
#include "secagg/secret_key.h"
#include "secagg/share_bundle.h"
#include "secagg/signing.h"

namespace cohort::secagg {

struct SecAggClientOptions {
  std::string round_id;
  std::string plan_digest;       // PlanDigest(plan), 32 bytes
  int32_t self_index = 0;        // 1..num_participants
  int32_t num_participants = 0;  // n
  int32_t neighbour_degree = 0;  // k (n - 1 for the complete graph)
  int32_t threshold = 0;         // t
  int modulus_bits = 0;          // m, R = 2^m
  // kSemiMalicious: neighbours' keys need credentials, and unmasking needs the consistency
  // check (SignSurvivors, then t neighbour signatures over the survivor set).
  ThreatModel threat_model = ThreatModel::kHonestButCurious;
};

// What a device sends in ADVERTISE_KEYS.
struct Advertisement {
  PublicKey cipher_public_key;
  PublicKey mask_public_key;
  std::string signature;  // AdvertisementMessage, by the device's signing key
};

// A neighbour's advertisement as the server relays it.
struct NeighbourAdvertisement {
  int32_t index = 0;
  PublicKey cipher_public_key;
  PublicKey mask_public_key;
  VerifyingKey signing_key;
  std::string signature;
  std::string credential;  // checked by the verifier in the semi-malicious model
};

// A sealed share bundle with its sender's signature (BundleMessage). `index` is the recipient
// (from ShareKeys) or the sender (into ReceiveShares).
struct EncryptedShare {
  int32_t index = 0;
  std::string ciphertext;
  std::string signature;
};

// A sender whose signed bundle did not open, and the pairwise mask seed this device shares with
// it (which this device therefore does not mask with).
struct UnopenableShare {
  int32_t sender = 0;
  SecretKey pairwise_seed;
};

struct SurvivorSignature {
  int32_t signer = 0;
  std::string signature;
};

// The server's UNMASKING request.
struct UnmaskingRequest {
  std::vector<int32_t> surviving;  // answer with the self-mask seed share
  std::vector<int32_t> dropped;    // answer with the mask-key share
  std::vector<int32_t> excluded;   // answer with the pairwise mask seed
  // Semi-malicious model: the survivor set and neighbours' signatures over it.
  std::vector<int32_t> survivors;
  std::vector<SurvivorSignature> signatures;
};

class SecAggClient {
 public:
  // `identity` signs this device's messages; it is kept (and serialized) with the session.
  static absl::StatusOr<std::unique_ptr<SecAggClient>> Create(const SecAggClientOptions& options,
                                                              const SigningKey& identity,
                                                              RandomSource& random);
  static absl::StatusOr<std::unique_ptr<SecAggClient>> Deserialize(absl::string_view bytes);
  ~SecAggClient();

  // Everything, secret keys included: store it as a secret (and wipe the string when done).
  std::string Serialize() const;

  const SecAggClientOptions& options() const { return options_; }
  const PublicKey& cipher_public_key() const { return cipher_keys_.public_key(); }
  const PublicKey& mask_public_key() const { return mask_keys_.public_key(); }
  const VerifyingKey& signing_key() const { return identity_.verifying_key(); }
  // Set by ShareKeys.
  const std::optional<NeighbourGraph>& graph() const { return graph_; }
  const std::string& graph_seed() const { return graph_seed_; }

  // ADVERTISE_KEYS. Deterministic: a repeat gives the same bytes.
  absl::StatusOr<Advertisement> Advertise() const;

  // SHARE_KEYS: `roster` proves this device's keys are in the roster root that seeds the
  // graph; `neighbours` are its graph neighbours that advertised keys. `verifier` checks their
  // credentials (required in the semi-malicious model, ignored otherwise) at `now`.
  absl::StatusOr<std::vector<EncryptedShare>> ShareKeys(
      const RosterProof& roster, absl::Span<const NeighbourAdvertisement> neighbours,
      const KeyAuthenticityVerifier* verifier, absl::Time now, RandomSource& random);

  // MASKED_INPUT: the bundles of the neighbours that completed SHARE_KEYS (U2 ∩ N(u)). Returns
  // the senders whose bundles did not open, with the pairwise seeds to report.
  absl::StatusOr<std::vector<UnopenableShare>> ReceiveShares(
      absl::Span<const EncryptedShare> incoming);

  // Masks elements [offset, offset + values.size()) of the input in place, mod 2^m; memory
  // O(1) beyond `values`.
  absl::Status MaskChunk(int64_t offset, absl::Span<uint64_t> values);

  // CONSISTENCY_CHECK (semi-malicious): this device's signature over the survivor set.
  absl::StatusOr<std::string> SignSurvivors(absl::Span<const int32_t> survivors);

  // UNMASKING: one share per listed neighbour, in the order surviving, dropped, excluded.
  absl::StatusOr<std::vector<UnmaskingShare>> Unmask(const UnmaskingRequest& request);

  // The neighbours whose pairwise masks this device applies (empty before ReceiveShares).
  std::vector<int32_t> masking_neighbours() const;

 private:
  struct Neighbour {
    NeighbourAdvertisement keys;
    std::string outgoing_ciphertext;  // what this device sealed for it
    std::string outgoing_signature;
    bool sent_shares = false;    // its bundle arrived in ReceiveShares
    bool unopenable = false;     // ... signed, but it did not open
    std::string mask_key_share;  // its shares held by this device
    std::string self_mask_seed_share;
    SecretKey pairwise_seed;  // s_uv
  };

  SecAggClient(SecAggClientOptions options, SigningKey identity, KeyPair cipher_keys,
               KeyPair mask_keys, SecretKey self_mask_seed);
  bool semi_malicious() const { return options_.threat_model == ThreatModel::kSemiMalicious; }
  absl::Status CheckSurvivorSignatures(const UnmaskingRequest& request) const;

  SecAggClientOptions options_;
  SigningKey identity_;
  KeyPair cipher_keys_;
  KeyPair mask_keys_;
  SecretKey self_mask_seed_;  // b_u
  std::optional<NeighbourGraph> graph_;
  std::string graph_seed_;
  std::string roster_root_;
  bool shared_keys_ = false;
  bool received_shares_ = false;
  std::map<int32_t, Neighbour> neighbours_;  // the ones given to ShareKeys
  std::optional<std::vector<int32_t>> signed_survivors_;
  // The answered request's three lists, sorted.
  std::optional<std::vector<std::vector<int32_t>>> answered_;
};

}  // namespace cohort::secagg

#endif  // COHORT_SECAGG_CLIENT_SESSION_H_
