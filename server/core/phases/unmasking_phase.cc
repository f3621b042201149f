// UNMASKING: every survivor whose input is in the sum answers, for each neighbour, with the
// share the neighbour's status calls for. Closing reconstructs the secrets and removes every
// mask from the sum, leaving the exact sum of the contributors' inputs.

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/core/phases/phase_units.h"

namespace cohort::server {

bool UnmaskingPhase::Complete(const RoundContext& ctx) const {
  for (const auto& p : ctx.participants) {
    if (!p.dropped && !p.answered) return false;
  }
  return true;
}

void UnmaskingPhase::Close(RoundContext& ctx, absl::Time now) const {
  const int32_t dropped = ctx.DropLaggards([](const Participant& p) { return p.answered; },
                                           "did not answer before the UNMASKING deadline");
  int32_t answered = 0;
  for (const auto& p : ctx.participants) answered += p.answered ? 1 : 0;
  const bool ready = ctx.unmasking->ReadyToUnmask();
  std::string shortfall;
  if (!ready) {
    const std::vector<int32_t> short_of = ctx.unmasking->ShortOfShares();
    shortfall = absl::StrCat(
        "too few unmasking answers (", answered,
        "): cannot reconstruct the secrets of participants ",
        absl::StrJoin(short_of.begin(), short_of.begin() + std::min<size_t>(short_of.size(), 10),
                      ","),
        short_of.size() > 10 ? ",..." : "");
  }
  if (!ctx.Settle(answered, ready, shortfall, dropped, now)) return;
  absl::Status unmasked = ctx.unmasking->Unmask(absl::MakeSpan(ctx.sum));
  if (!unmasked.ok()) {
    ctx.Fail(absl::StrCat("unmasking failed: ", unmasked.message()), now);
    ctx.changes.back().dropped = dropped;
    return;
  }
  ctx.unmasking.reset();
  ctx.MarkReadyToCommit(dropped, now);
}

void UnmaskingPhase::FillUpdate(const RoundContext& ctx, int32_t index,
                                cohort::v1::RoundUpdate* update) const {
  if (ctx.unmasking == nullptr || !ctx.participant(index).contributed) return;
  const secagg::UnmaskingRequestLists lists = ctx.unmasking->RequestFor(index);
  auto* request = update->mutable_unmasking();
  for (int32_t v : lists.surviving) request->add_surviving_neighbours(v);
  for (int32_t v : lists.dropped) request->add_dropped_neighbours(v);
  for (int32_t v : lists.excluded) request->add_excluded_neighbours(v);
  if (ctx.semi_malicious()) {
    for (int32_t v : ctx.survivors) request->add_survivors(v);
    for (int32_t v : ctx.graph->Neighbours(index)) {
      const Participant& q = ctx.participant(v);
      if (!q.signed_survivors) continue;
      auto* s = request->add_survivor_signatures();
      s->set_signer_index(v);
      s->set_signature(q.survivor_signature);
    }
  }
}

absl::Status SubmitUnmaskingCall(RoundContext& ctx, int32_t index,
                                 const cohort::v1::SubmitUnmaskingRequest& req) {
  if (!ctx.secure()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "SubmitUnmasking: round ", ctx.setup.round_id, " runs without secure aggregation"));
  }
  Participant& p = ctx.participant(index);
  cohort::v1::SubmitUnmaskingRequest canonical = req;
  canonical.clear_session_token();
  const std::string answer = canonical.SerializeAsString();
  if (p.answered && !p.dropped) {
    if (answer == p.answer) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrCat(
        "SubmitUnmasking: participant ", index, " already answered with different shares"));
  }
  if (absl::Status s = ctx.CheckActiveIn(index, cohort::v1::ROUND_PHASE_UNMASKING,
                                         "SubmitUnmasking");
      !s.ok()) {
    return s;
  }
  if (!p.contributed) {
    return absl::FailedPreconditionError(
        absl::StrCat("SubmitUnmasking: participant ", index, "'s input is not in the sum"));
  }
  if (ctx.semi_malicious() && !p.signed_survivors) {
    return absl::FailedPreconditionError(
        absl::StrCat("SubmitUnmasking: participant ", index, " did not sign the survivor set"));
  }
  std::vector<secagg::UnmaskingShare> shares;
  shares.reserve(static_cast<size_t>(req.shares_size()));
  for (int i = 0; i < req.shares_size(); ++i) {
    const auto& s = req.shares(i);
    secagg::UnmaskingShare share;
    share.neighbour_index = s.neighbour_index();
    switch (s.share_case()) {
      case cohort::v1::SubmitUnmaskingRequest::NeighbourShare::kSelfMaskSeedShare:
        share.kind = secagg::ShareKind::kSelfMaskSeed;
        share.share = s.self_mask_seed_share();
        break;
      case cohort::v1::SubmitUnmaskingRequest::NeighbourShare::kMaskKeyShare:
        share.kind = secagg::ShareKind::kMaskKey;
        share.share = s.mask_key_share();
        break;
      case cohort::v1::SubmitUnmaskingRequest::NeighbourShare::kPairwiseMaskSeed:
        share.kind = secagg::ShareKind::kPairwiseSeed;
        share.share = s.pairwise_mask_seed();
        break;
      default:
        return absl::InvalidArgumentError(absl::StrCat(
            "shares[", i,
            "] sets none of self_mask_seed_share, mask_key_share, pairwise_mask_seed"));
    }
    shares.push_back(std::move(share));
  }
  if (absl::Status s = ctx.unmasking->AddResponse(index, shares); !s.ok()) {
    // A wrong answer cannot be corrected by a retry with the same secrets.
    ctx.Drop(index, absl::StrCat("sent a bad unmasking answer: ", s.message()));
    return absl::InvalidArgumentError(absl::StrCat("unmasking answer refused: ", s.message()));
  }
  p.answered = true;
  p.answer = answer;
  p.last_completed = cohort::v1::ROUND_PHASE_UNMASKING;
  ctx.metrics.set_bytes_uploaded(ctx.metrics.bytes_uploaded() +
                                 static_cast<int64_t>(req.ByteSizeLong()));
  return absl::OkStatus();
}

}  // namespace cohort::server
