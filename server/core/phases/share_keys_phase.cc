// SHARE_KEYS: every device of U1 sends one sealed, signed share bundle per neighbour with keys;
// the server checks the routing and the signatures, never sees a plaintext. Closing fixes U2:
// the devices that shared.

#include <algorithm>
#include <map>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "secagg/share_bundle.h"
#include "secagg/share_encryption.h"
#include "secagg/signed_messages.h"
#include "server/core/phases/phase_units.h"

namespace cohort::server {
namespace {

constexpr size_t kShareCiphertextSize = secagg::kShareBundleSize + secagg::kAeadOverhead;

}  // namespace

bool ShareKeysPhase::Complete(const RoundContext& ctx) const {
  for (const auto& p : ctx.participants) {
    if (!p.dropped && !p.shared) return false;
  }
  return true;
}

void ShareKeysPhase::Close(RoundContext& ctx, absl::Time now) const {
  int32_t dropped = ctx.DropLaggards([](const Participant& p) { return p.shared; },
                                     "did not share keys before the SHARE_KEYS deadline");
  for (auto& p : ctx.participants) p.in_u2 = p.in_u1 && p.shared;
  int32_t u2 = 0;
  int32_t starved = 0;  // shared, but too few of their neighbours did
  for (int32_t i = 1; i <= ctx.num_admitted(); ++i) {
    Participant& p = ctx.participant(i);
    if (!p.in_u2) continue;
    ++u2;
    int32_t senders = 0;
    for (int32_t v : ctx.graph->Neighbours(i)) senders += ctx.participant(v).in_u2 ? 1 : 0;
    if (senders < ctx.threshold && !p.dropped) {
      // Still in U2 (its shares are out there), but it cannot mask: treat as dropped.
      ctx.Drop(i, absl::StrCat("only ", senders, " neighbours shared keys, threshold is ",
                               ctx.threshold));
      ++dropped;
      ++starved;
    }
  }
  const int32_t active = ctx.CountActive();
  const int32_t need = std::max(ctx.threshold, ctx.setup.config.min_participants());
  // Says what happened: "only 0 completed" would hide the devices that did and were then
  // dropped for their neighbours' absence.
  const std::string shortfall =
      starved == 0
          ? absl::StrCat("only ", active, " devices completed SHARE_KEYS; the round needs ", need)
          : absl::StrCat(u2, " devices completed SHARE_KEYS, ", starved,
                         " of them then dropped with fewer than ", ctx.threshold,
                         " neighbours that shared keys; ", active, " remain and the round needs ",
                         need);
  if (!ctx.Settle(u2, active >= need, shortfall, dropped, now)) {
    return;
  }
  ctx.MoveTo(cohort::v1::ROUND_PHASE_MASKED_INPUT, absl::StrCat("u2=", u2), dropped, now);
}

void ShareKeysPhase::FillUpdate(const RoundContext& ctx, int32_t index,
                                cohort::v1::RoundUpdate* update) const {
  const Participant& p = ctx.participant(index);
  if (!p.in_u1 || p.dropped) return;
  auto* keys = update->mutable_neighbour_keys();
  for (int32_t v : ctx.graph->Neighbours(index)) {
    const Participant& q = ctx.participant(v);
    if (!q.in_u1) continue;
    auto* n = keys->add_neighbours();
    n->set_participant_index(v);
    n->set_cipher_public_key(q.cipher_public_key);
    n->set_mask_public_key(q.mask_public_key);
    n->set_signing_public_key(q.identity.public_key);
    n->set_advertisement_signature(q.advertisement_signature);
    n->set_device_credential(q.identity.credential);
  }
  // Every U1 member is a roster leaf, so this cannot fail.
  if (absl::StatusOr<secagg::RosterProof> proof = ctx.roster->ProofFor(index); proof.ok()) {
    auto* out = keys->mutable_roster_proof();
    out->set_leaf_count(proof->leaf_count);
    out->set_position(proof->position);
    for (const std::string& sibling : proof->siblings) out->add_siblings(sibling);
  }
}

absl::Status ShareKeysCall(RoundContext& ctx, int32_t index,
                           const cohort::v1::ShareKeysRequest& req) {
  if (!ctx.secure()) {
    return absl::FailedPreconditionError(
        absl::StrCat("ShareKeys: round ", ctx.setup.round_id, " runs without secure aggregation"));
  }
  Participant& p = ctx.participant(index);
  if (p.shared && !p.dropped && ctx.phase != cohort::v1::ROUND_PHASE_SHARE_KEYS) {
    // A retry after the phase closed: the shares were accepted.
    std::map<int32_t, std::pair<std::string, std::string>> sent;
    for (const auto& s : req.shares()) {
      sent[s.recipient_index()] = {s.ciphertext(), s.signature()};
    }
    if (sent == p.outgoing || p.outgoing.empty()) return absl::OkStatus();
  }
  if (absl::Status s =
          ctx.CheckActiveIn(index, cohort::v1::ROUND_PHASE_SHARE_KEYS, "ShareKeys");
      !s.ok()) {
    return s;
  }
  if (!p.in_u1) {
    return absl::FailedPreconditionError(
        absl::StrCat("ShareKeys: participant ", index, " did not advertise keys"));
  }
  if (p.shared) {
    // A repeat is settled by comparison, before any signature is checked: resending accepted
    // shares must not buy k signature verifications under the coordinator's lock.
    std::map<int32_t, std::pair<std::string, std::string>> again;
    for (const auto& s : req.shares()) {
      again[s.recipient_index()] = {s.ciphertext(), s.signature()};
    }
    if (again == p.outgoing) return absl::OkStatus();
    return absl::FailedPreconditionError(
        absl::StrCat("ShareKeys: participant ", index, " already shared different ciphertexts"));
  }
  std::map<int32_t, std::pair<std::string, std::string>> sent;
  for (int i = 0; i < req.shares_size(); ++i) {
    const auto& s = req.shares(i);
    const int32_t r = s.recipient_index();
    if (r == index || !ctx.graph->AreNeighbours(index, r) || !ctx.participant(r).in_u1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "shares[", i, "].recipient_index ", r, " is not a neighbour listed in NeighbourKeys"));
    }
    if (s.ciphertext().size() != kShareCiphertextSize) {
      return absl::InvalidArgumentError(absl::StrCat("shares[", i, "].ciphertext must be ",
                                                     kShareCiphertextSize, " bytes, got ",
                                                     s.ciphertext().size()));
    }
    // The signature is what lets a recipient whose bundle does not open blame the sender
    // rather than the routing.
    if (absl::Status v = p.signing_key.Verify(
            secagg::BundleMessage(ctx.plan_digest, index, r, s.ciphertext()), s.signature());
        !v.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "shares[", i, "].signature does not verify under the device's key: ", v.message()));
    }
    if (!sent.emplace(r, std::make_pair(s.ciphertext(), s.signature())).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("shares[", i, "].recipient_index ", r, " appears twice"));
    }
  }
  int32_t expected = 0;
  for (int32_t v : ctx.graph->Neighbours(index)) expected += ctx.participant(v).in_u1 ? 1 : 0;
  if (static_cast<int32_t>(sent.size()) != expected) {
    return absl::InvalidArgumentError(
        absl::StrCat("shares must hold exactly one ciphertext for each of the ", expected,
                     " neighbours in NeighbourKeys, got ", sent.size()));
  }
  int64_t bytes = 0;
  for (const auto& [r, ct] : sent) bytes += static_cast<int64_t>(ct.first.size());
  p.outgoing = std::move(sent);
  p.shared = true;
  p.last_completed = cohort::v1::ROUND_PHASE_SHARE_KEYS;
  ctx.metrics.set_bytes_uploaded(ctx.metrics.bytes_uploaded() + bytes);
  return absl::OkStatus();
}

}  // namespace cohort::server
