// COMMITTED and FAILED, and the registry of phase units.

#include "server/core/phases/phase_units.h"

namespace cohort::server {

bool EndedPhase::Complete(const RoundContext& ctx) const {
  (void)ctx;
  return false;
}

void EndedPhase::Close(RoundContext& ctx, absl::Time now) const {
  (void)ctx;
  (void)now;
}

void EndedPhase::FillUpdate(const RoundContext& ctx, int32_t index,
                            cohort::v1::RoundUpdate* update) const {
  (void)index;
  auto* outcome = update->mutable_outcome();
  outcome->set_contributors(ctx.contributors);
  if (ctx.phase == cohort::v1::ROUND_PHASE_COMMITTED) {
    outcome->set_new_model_version(ctx.new_model_version);
  } else {
    outcome->set_failure_reason(ctx.failure_reason);
  }
}

const RoundPhaseState& PhaseState(cohort::v1::RoundPhase phase) {
  static const FormingPhase forming;
  static const AdvertiseKeysPhase advertise_keys;
  static const ShareKeysPhase share_keys;
  static const MaskedInputPhase masked_input;
  static const ConsistencyCheckPhase consistency_check;
  static const UnmaskingPhase unmasking;
  static const EndedPhase committed(cohort::v1::ROUND_PHASE_COMMITTED);
  static const EndedPhase failed(cohort::v1::ROUND_PHASE_FAILED);
  static const EndedPhase unknown(cohort::v1::ROUND_PHASE_UNSPECIFIED);
  switch (phase) {
    case cohort::v1::ROUND_PHASE_FORMING: return forming;
    case cohort::v1::ROUND_PHASE_ADVERTISE_KEYS: return advertise_keys;
    case cohort::v1::ROUND_PHASE_SHARE_KEYS: return share_keys;
    case cohort::v1::ROUND_PHASE_MASKED_INPUT: return masked_input;
    case cohort::v1::ROUND_PHASE_CONSISTENCY_CHECK:
      return consistency_check;
    case cohort::v1::ROUND_PHASE_UNMASKING: return unmasking;
    case cohort::v1::ROUND_PHASE_COMMITTED: return committed;
    case cohort::v1::ROUND_PHASE_FAILED: return failed;
    default: return unknown;
  }
}

}  // namespace cohort::server
