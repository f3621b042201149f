#ifndef COHORT_SECAGG_SERVER_UNMASKING_H_
#define COHORT_SECAGG_SERVER_UNMASKING_H_

// The server's UNMASKING step as a pure helper: validates the survivors' answers, reconstructs
// the self-mask seeds b_u of U3 and the mask private keys of U2 \ U3, and removes every mask
// from the running sum of masked inputs, in place.
//
//   ServerUnmaskingOptions o{.round_id = id, .threshold = t, .modulus_bits = m,
//                            .advertised = u1_keys, .shared_keys = u2, .masked_input = u3};
//   COHORT_ASSIGN_OR_RETURN(auto unmasking, ServerUnmasking::Create(graph, std::move(o)));
//   for (int32_t w : u3) send(w, unmasking->RequestFor(w));        // surviving / dropped lists
//   // per answer: a bad one is the responder's fault: drop it, keep going
//   absl::Status s = unmasking->AddResponse(w, shares);
//   if (unmasking->ReadyToUnmask()) COHORT_RETURN_IF_ERROR(unmasking->Unmask(absl::MakeSpan(sum)));
//
// Sets: U1 = advertised keys, U2 = completed SHARE_KEYS (U2 ⊆ U1), U3 = masked input in the sum
// (U3 ⊆ U2). Device u in U3 masked with exactly N(u) ∩ U2. The result is sum_{u in U3} x_u mod
// 2^m.
//
// Cost: reconstruction is O(|U2| * t * k) field operations; unmasking expands |U3| self-mask
// streams and, for each dropped v, |N(v) ∩ U3| pairwise streams (one X25519 each), over the sum
// in cache-sized chunks (memory O(1) beyond the sum).
//
// Codes:
//   Create: INVALID_ARGUMENT for inconsistent sets (not nested, outside 1..n, duplicates, a U2
//     member without keys), t outside 1..k, or m outside [8, 62].
//   AddResponse (the responder's fault; nothing is recorded on error): FAILED_PRECONDITION for
//     a responder not in U3 or one that already answered, or after Unmask; INVALID_ARGUMENT for
//     a response that is not exactly one share per neighbour in RequestFor(responder), a share
//     of the wrong kind for the neighbour's status, or a share of the wrong length.
//   Unmask / ReconstructSecrets: FAILED_PRECONDITION naming the first device with fewer than t
//     shares; DATA_LOSS naming a device whose shares disagree or whose reconstructed mask key
//     does not match its advertised public key; INVALID_ARGUMENT for a sum of the wrong size.
// This class is not thread-safe.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "secagg/key_agreement.h"
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

struct ServerUnmaskingOptions {
  std::string round_id;
  int32_t threshold = 0;
  int modulus_bits = 0;
  int64_t vector_length = 0;              // d, elements of the sum
  std::vector<AdvertisedKeys> advertised;  // U1
  std::vector<int32_t> shared_keys;        // U2
  std::vector<int32_t> masked_input;       // U3
};

// What the server asks survivor w: its neighbours in U3 and in U2 \ U3, ascending.
struct UnmaskingRequestLists {
  std::vector<int32_t> surviving;
  std::vector<int32_t> dropped;
};

class ServerUnmasking {
 public:
  static absl::StatusOr<std::unique_ptr<ServerUnmasking>> Create(const NeighbourGraph& graph,
                                                                 ServerUnmaskingOptions options);
  ~ServerUnmasking();

  // Empty lists for a device not in U3.
  UnmaskingRequestLists RequestFor(int32_t responder) const;

  absl::Status AddResponse(int32_t responder, absl::Span<const UnmaskingShare> shares);

  // True once every device of U2 holds at least t shares of the secret it needs.
  bool ReadyToUnmask() const;
  // Devices of U2 that still have fewer than t shares, ascending.
  std::vector<int32_t> ShortOfShares() const;
  int num_responses() const { return static_cast<int>(responders_.size()); }

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
  };

  ServerUnmasking(NeighbourGraph graph, ServerUnmaskingOptions options);
  const Device& device(int32_t index) const { return devices_[static_cast<size_t>(index)]; }

  NeighbourGraph graph_;
  ServerUnmaskingOptions options_;
  std::vector<Device> devices_;  // [index], slot 0 unused
  std::vector<bool> responded_;  // [index]
  std::vector<int32_t> responders_;
  bool reconstructed_ = false;
  // Streams the clients added: subtract these ...
  std::vector<MaskPrg> subtract_streams_;
  // ... and add back these (pairwise masks a survivor subtracted because its index is larger).
  std::vector<MaskPrg> add_streams_;
};

}  // namespace cohort::secagg

#endif  // COHORT_SECAGG_SERVER_UNMASKING_H_
