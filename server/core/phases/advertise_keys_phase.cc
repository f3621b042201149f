// ADVERTISE_KEYS: every device sends its two X25519 public keys, signed with the key it checked
// in with. Closing builds the roster over every advertisement, derives the neighbour graph from
// its root (so the graph is no choice of the server's), and fixes U1: the devices that
// advertised and still have at least t neighbours with keys.

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "secagg/key_agreement.h"
#include "secagg/roster.h"
#include "secagg/signed_messages.h"
#include "server/core/phases/phase_units.h"

namespace cohort::server {

bool AdvertiseKeysPhase::Complete(const RoundContext& ctx) const {
  for (const auto& p : ctx.participants) {
    if (!p.dropped && !p.advertised) return false;
  }
  return true;
}

void AdvertiseKeysPhase::Close(RoundContext& ctx, absl::Time now) const {
  int32_t dropped = ctx.DropLaggards([](const Participant& p) { return p.advertised; },
                                     "did not advertise keys before the ADVERTISE_KEYS deadline");
  std::vector<secagg::RosterEntry> entries;
  for (int32_t i = 1; i <= ctx.num_admitted(); ++i) {
    Participant& p = ctx.participant(i);
    p.in_roster = !p.dropped && p.advertised;
    p.in_u1 = p.in_roster;
    if (!p.in_roster) continue;
    // Validated on arrival, so these cannot fail.
    entries.push_back({i, *secagg::PublicKey::FromBytes(p.cipher_public_key),
                       *secagg::PublicKey::FromBytes(p.mask_public_key)});
  }
  ctx.roster = secagg::Roster::Build(entries);
  ctx.graph_seed = secagg::DeriveGraphSeed(ctx.plan_digest, ctx.roster->root());
  absl::StatusOr<secagg::NeighbourGraph> graph =
      secagg::NeighbourGraph::Create(ctx.num_admitted(), ctx.degree, ctx.graph_seed);
  if (!graph.ok()) {
    ctx.Fail(absl::StrCat("neighbour graph: ", graph.status().message()), now);
    return;
  }
  ctx.graph = std::move(*graph);
  // A device needs t neighbours with keys to share its secrets; dropping one can starve others,
  // so repeat until stable.
  for (bool changed = true; changed;) {
    changed = false;
    for (int32_t i = 1; i <= ctx.num_admitted(); ++i) {
      Participant& p = ctx.participant(i);
      if (!p.in_u1) continue;
      int32_t with_keys = 0;
      for (int32_t v : ctx.graph->Neighbours(i)) with_keys += ctx.participant(v).in_u1 ? 1 : 0;
      if (with_keys < ctx.threshold) {
        p.in_u1 = false;
        ctx.Drop(i, absl::StrCat("only ", with_keys, " neighbours advertised keys, threshold is ",
                                 ctx.threshold));
        ++dropped;
        changed = true;
      }
    }
  }
  int32_t u1 = 0;
  for (const auto& p : ctx.participants) u1 += p.in_u1 ? 1 : 0;
  const int32_t need = std::max(ctx.threshold, ctx.setup.config.min_participants());
  if (!ctx.Settle(u1, u1 >= need,
                  absl::StrCat("only ", u1, " devices advertised keys; the round needs ", need),
                  dropped, now)) {
    return;
  }
  ctx.MoveTo(cohort::v1::ROUND_PHASE_SHARE_KEYS, absl::StrCat("u1=", u1), dropped, now);
}

absl::Status AdvertiseKeysCall(RoundContext& ctx, int32_t index,
                               const cohort::v1::AdvertiseKeysRequest& req) {
  if (!ctx.secure()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "AdvertiseKeys: round ", ctx.setup.round_id, " runs without secure aggregation"));
  }
  Participant& p = ctx.participant(index);
  if (p.advertised && !p.dropped) {
    // An identical repeat is a retry whose response was lost.
    if (req.cipher_public_key() == p.cipher_public_key &&
        req.mask_public_key() == p.mask_public_key) {
      return absl::OkStatus();
    }
    return absl::FailedPreconditionError(
        absl::StrCat("AdvertiseKeys: participant ", index, " already advertised different keys"));
  }
  if (absl::Status s = ctx.CheckActiveIn(index, cohort::v1::ROUND_PHASE_ADVERTISE_KEYS,
                                         "AdvertiseKeys");
      !s.ok()) {
    return s;
  }
  for (const auto& [field, bytes] :
       {std::pair<const char*, const std::string&>{"cipher_public_key", req.cipher_public_key()},
        std::pair<const char*, const std::string&>{"mask_public_key", req.mask_public_key()}}) {
    if (absl::StatusOr<secagg::PublicKey> key = secagg::PublicKey::FromBytes(bytes); !key.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, " is not a usable X25519 public key: ", key.status().message()));
    }
  }
  if (req.cipher_public_key() == req.mask_public_key()) {
    return absl::InvalidArgumentError("cipher_public_key and mask_public_key must differ");
  }
  if (p.signing_key.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("AdvertiseKeys: participant ", index,
                                                      " checked in without a device_public_key"));
  }
  if (absl::Status s = p.signing_key.Verify(
          secagg::AdvertisementMessage(ctx.plan_digest, index, req.cipher_public_key(),
                                       req.mask_public_key()),
          req.signature());
      !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("signature does not verify under the device's key for these keys and this "
                     "plan: ",
                     s.message()));
  }
  p.advertised = true;
  p.cipher_public_key = req.cipher_public_key();
  p.mask_public_key = req.mask_public_key();
  p.advertisement_signature = req.signature();
  p.last_completed = cohort::v1::ROUND_PHASE_ADVERTISE_KEYS;
  ctx.metrics.set_bytes_uploaded(ctx.metrics.bytes_uploaded() + 64);
  return absl::OkStatus();
}

}  // namespace cohort::server
