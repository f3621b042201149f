// CONSISTENCY_CHECK (semi-malicious tasks, Bonawitz et al. 2017 Sec. 4): every survivor signs
// the survivor set U3 with the key it checked in with. The unmasking request then carries the
// set and the signatures of each device's neighbours; an honest device unmasks only on t valid
// ones over the set it signed itself, so the server cannot tell different devices different
// stories about who survived.

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "secagg/signed_messages.h"
#include "server/core/phases/phase_units.h"

namespace cohort::server {

bool ConsistencyCheckPhase::Complete(const RoundContext& ctx) const {
  for (const auto& p : ctx.participants) {
    if (!p.dropped && p.contributed && !p.signed_survivors) return false;
  }
  return true;
}

void ConsistencyCheckPhase::Close(RoundContext& ctx, absl::Time now) const {
  // Survivors that did not sign stay in the sum (their self-masks are rebuilt from others) but
  // will not be asked to unmask.
  int32_t dropped =
      ctx.DropLaggards([](const Participant& p) { return p.signed_survivors || !p.contributed; },
                       "did not sign the survivor set before the CONSISTENCY_CHECK deadline");
  // A signer that cannot show t neighbours' signatures would refuse to unmask: do not wait.
  int32_t starved = 0;
  for (int32_t i = 1; i <= ctx.num_admitted(); ++i) {
    Participant& p = ctx.participant(i);
    if (p.dropped || !p.signed_survivors) continue;
    int32_t signers = 0;
    for (int32_t v : ctx.graph->Neighbours(i)) {
      signers += ctx.participant(v).signed_survivors ? 1 : 0;
    }
    if (signers < ctx.threshold) {
      ctx.Drop(i, absl::StrCat("only ", signers, " neighbours signed the survivor set, threshold ",
                               ctx.threshold));
      ++dropped;
      ++starved;
    }
  }
  int32_t signed_count = 0;
  for (const auto& p : ctx.participants) signed_count += p.signed_survivors ? 1 : 0;
  const int32_t active = ctx.CountActive();
  const std::string shortfall =
      starved == 0
          ? absl::StrCat("only ", active,
                         " survivors signed the survivor set and can unmask; the round needs ",
                         ctx.threshold)
          : absl::StrCat(signed_count, " survivors signed the survivor set, ", starved,
                         " of them then dropped with fewer than ", ctx.threshold,
                         " neighbours that signed; ", active, " can unmask and the round needs ",
                         ctx.threshold);
  if (!ctx.Settle(signed_count, active >= ctx.threshold, shortfall, dropped, now)) {
    return;
  }
  OpenUnmasking(ctx, dropped, now);
}

void ConsistencyCheckPhase::FillUpdate(const RoundContext& ctx, int32_t index,
                                       cohort::v1::RoundUpdate* update) const {
  const Participant& p = ctx.participant(index);
  if (p.dropped || !p.contributed) return;
  auto* check = update->mutable_consistency_check();
  for (int32_t v : ctx.survivors) check->add_survivors(v);
}

absl::Status SignSurvivorsCall(RoundContext& ctx, int32_t index,
                               const cohort::v1::SignSurvivorsRequest& req) {
  if (!ctx.secure() || !ctx.semi_malicious()) {
    return absl::FailedPreconditionError(
        absl::StrCat("SignSurvivors: round ", ctx.setup.round_id,
                     " has no consistency check (its threat model is not semi-malicious)"));
  }
  Participant& p = ctx.participant(index);
  if (p.signed_survivors && !p.dropped) {
    if (req.signature() == p.survivor_signature) return absl::OkStatus();
    return absl::FailedPreconditionError(
        absl::StrCat("SignSurvivors: participant ", index, " already signed differently"));
  }
  if (absl::Status s =
          ctx.CheckActiveIn(index, cohort::v1::ROUND_PHASE_CONSISTENCY_CHECK, "SignSurvivors");
      !s.ok()) {
    return s;
  }
  if (!p.contributed) {
    return absl::FailedPreconditionError(
        absl::StrCat("SignSurvivors: participant ", index, "'s input is not in the sum"));
  }
  if (absl::Status s = p.signing_key.Verify(
          secagg::SurvivorsMessage(ctx.plan_digest, ctx.graph_seed, ctx.survivors),
          req.signature());
      !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "signature does not verify over the survivor set under the device's key: ", s.message()));
  }
  p.signed_survivors = true;
  p.survivor_signature = req.signature();
  p.last_completed = cohort::v1::ROUND_PHASE_CONSISTENCY_CHECK;
  return absl::OkStatus();
}

}  // namespace cohort::server
