// FORMING: admits devices until the round is full or its (soft) deadline passes with at least
// min_participants, then resolves the round's plan: codec parameters for the admitted count and,
// with secure aggregation, the SecAgg+ degree and threshold (from the task's parameter table)
// and the plan digest every key derivation binds.

#include "absl/strings/str_cat.h"
#include "codec/evaluation_metrics.h"
#include "server/core/dp_task.h"
#include "secagg/parameter_finder.h"
#include "secagg/plan_digest.h"
#include "server/core/aggregation.h"
#include "server/core/phases/phase_units.h"
#include "server/core/task_config.h"

namespace cohort::server {

bool FormingPhase::Complete(const RoundContext& ctx) const { return ctx.open_slots() == 0; }

void FormingPhase::Close(RoundContext& ctx, absl::Time now) const {
  const int32_t n = ctx.num_admitted();
  const int32_t min = ctx.setup.config.min_participants();
  if (n < min) {
    // Soft deadline: keep forming with a fresh window rather than failing for lack of devices.
    ctx.deadline = now + ctx.PhaseDuration(cohort::v1::ROUND_PHASE_FORMING);
    ctx.dirty = true;  // long-polls see the new deadline
    return;
  }
  ctx.RecordPhaseMetrics(cohort::v1::ROUND_PHASE_FORMING, n, n, now - ctx.phase_started);
  ctx.metrics.set_selected(n);
  // The base model's layout, not the config's: a pruned version has fewer parameters.
  const int64_t num_parameters = ParameterCount(ctx.setup.base_model->layout());
  absl::StatusOr<cohort::v1::CodecParams> codec = ResolveRoundCodec(
      ctx.setup.config, num_parameters, n, ctx.setup.dp_clip_norm, *ctx.setup.random);
  if (!codec.ok()) {
    ctx.Fail(absl::StrCat("codec parameters: ", codec.status().message()), now);
    return;
  }
  if (codec->chunk_elements() <= 0) codec->set_chunk_elements(kChunkElements);
  if (ctx.setup.config.evaluation().enabled() || ctx.setup.evaluation_only) {
    codec::AddEvaluation(*codec, ctx.setup.evaluation_only,
                         ctx.setup.config.evaluation().max_loss());
  }
  auto& plan = ctx.plan_template;
  plan.set_task_id(ctx.setup.task_id);
  plan.set_round_number(ctx.setup.round_number);
  plan.set_round_id(ctx.setup.round_id);
  plan.set_model_version(ctx.setup.base_model->version());
  *plan.mutable_layout() = ctx.setup.base_model->layout();
  if (ctx.setup.base_model->has_graph()) *plan.mutable_graph() = ctx.setup.base_model->graph();
  plan.set_model_size_bytes(static_cast<int64_t>(ctx.setup.base_model->parameters().size()));
  plan.set_model_sha256(ctx.setup.base_model->sha256());
  *plan.mutable_training() = ctx.setup.config.training();
  *plan.mutable_codec() = *codec;
  *plan.mutable_deadlines() = ctx.setup.config.deadlines();
  if (codec->has_dp()) *ctx.metrics.mutable_privacy() = DescribeRound(codec->dp());

  if (ctx.secure()) {
    const auto& sc = ctx.setup.config.secagg();
    absl::StatusOr<secagg::SecAggParameters> params =
        ctx.setup.secagg_parameters == nullptr
            ? absl::FailedPreconditionError("the task's parameter table was not computed")
            : ctx.setup.secagg_parameters->For(n);
    if (!params.ok()) {
      ctx.Fail(absl::StrCat("secure aggregation parameters for ", n,
                            " participants: ", params.status().message()),
               now);
      return;
    }
    ctx.degree = params->neighbour_degree;
    ctx.threshold = params->threshold;
    auto* s = plan.mutable_secagg();
    s->set_num_participants(n);
    s->set_neighbour_degree(params->neighbour_degree);
    s->set_threshold(params->threshold);
    s->set_threat_model(sc.threat_model());
    s->set_dropout_rate(sc.expected_dropout_rate());
    s->set_corrupted_fraction(sc.corrupted_fraction());
    s->set_security_bits(sc.security_bits());
    s->set_correctness_bits(sc.correctness_bits());
    *ctx.metrics.mutable_secagg() = *s;
    ctx.plan_digest = secagg::PlanDigest(plan);
    ctx.SetPhase(cohort::v1::ROUND_PHASE_ADVERTISE_KEYS, now,
                 absl::StrCat("n=", n, " k=", params->neighbour_degree, " t=", params->threshold,
                              " modulus_bits=", codec->modulus_bits()));
  } else {
    ctx.SetPhase(cohort::v1::ROUND_PHASE_MASKED_INPUT, now,
                 absl::StrCat("n=", n, " modulus_bits=", codec->modulus_bits()));
  }
  if (codec->encoding() == cohort::v1::UPDATE_ENCODING_FLOAT32) {
    ctx.float_sum.assign(static_cast<size_t>(codec->vector_length()), 0.0);
  } else {
    ctx.sum.assign(static_cast<size_t>(codec->vector_length()), 0);
  }
}

}  // namespace cohort::server
