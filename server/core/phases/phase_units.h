#ifndef COHORT_SERVER_CORE_PHASES_PHASE_UNITS_H_
#define COHORT_SERVER_CORE_PHASES_PHASE_UNITS_H_

// The concrete phase units behind PhaseState() (server/core/round_phases.h), one file each.
// Stateless: the round's data is in RoundContext.

#include "server/core/round_phases.h"

namespace cohort::server {

class FormingPhase final : public RoundPhaseState {
 public:
  cohort::v1::RoundPhase phase() const override { return cohort::v1::ROUND_PHASE_FORMING; }
  bool Complete(const RoundContext& ctx) const override;
  void Close(RoundContext& ctx, absl::Time now) const override;
};

class AdvertiseKeysPhase final : public RoundPhaseState {
 public:
  cohort::v1::RoundPhase phase() const override { return cohort::v1::ROUND_PHASE_ADVERTISE_KEYS; }
  bool Complete(const RoundContext& ctx) const override;
  void Close(RoundContext& ctx, absl::Time now) const override;
};

class ShareKeysPhase final : public RoundPhaseState {
 public:
  cohort::v1::RoundPhase phase() const override { return cohort::v1::ROUND_PHASE_SHARE_KEYS; }
  bool Complete(const RoundContext& ctx) const override;
  void Close(RoundContext& ctx, absl::Time now) const override;
  void FillUpdate(const RoundContext& ctx, int32_t index,
                  cohort::v1::RoundUpdate* update) const override;
};

class MaskedInputPhase final : public RoundPhaseState {
 public:
  cohort::v1::RoundPhase phase() const override { return cohort::v1::ROUND_PHASE_MASKED_INPUT; }
  bool Complete(const RoundContext& ctx) const override;
  void Close(RoundContext& ctx, absl::Time now) const override;
  void FillUpdate(const RoundContext& ctx, int32_t index,
                  cohort::v1::RoundUpdate* update) const override;
};

class ConsistencyCheckPhase final : public RoundPhaseState {
 public:
  cohort::v1::RoundPhase phase() const override {
    return cohort::v1::ROUND_PHASE_CONSISTENCY_CHECK;
  }
  bool Complete(const RoundContext& ctx) const override;
  void Close(RoundContext& ctx, absl::Time now) const override;
  void FillUpdate(const RoundContext& ctx, int32_t index,
                  cohort::v1::RoundUpdate* update) const override;
};

class UnmaskingPhase final : public RoundPhaseState {
 public:
  cohort::v1::RoundPhase phase() const override { return cohort::v1::ROUND_PHASE_UNMASKING; }
  bool Complete(const RoundContext& ctx) const override;
  void Close(RoundContext& ctx, absl::Time now) const override;
  void FillUpdate(const RoundContext& ctx, int32_t index,
                  cohort::v1::RoundUpdate* update) const override;
};

// COMMITTED and FAILED: nothing to wait for, nothing to close.
class EndedPhase final : public RoundPhaseState {
 public:
  explicit EndedPhase(cohort::v1::RoundPhase phase) : phase_(phase) {}
  cohort::v1::RoundPhase phase() const override { return phase_; }
  bool Complete(const RoundContext& ctx) const override;
  void Close(RoundContext& ctx, absl::Time now) const override;
  void FillUpdate(const RoundContext& ctx, int32_t index,
                  cohort::v1::RoundUpdate* update) const override;

 private:
  cohort::v1::RoundPhase phase_;
};

}  // namespace cohort::server

#endif  // COHORT_SERVER_CORE_PHASES_PHASE_UNITS_H_
