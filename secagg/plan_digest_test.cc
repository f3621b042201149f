#include "secagg/plan_digest.h"

#include <catch2/catch.hpp>

#include "secagg/testing/hex.h"

namespace cohort::secagg {
namespace {

cohort::v1::RoundPlan Plan() {
  cohort::v1::RoundPlan plan;
  plan.set_task_id("task");
  plan.set_round_number(3);
  plan.set_round_id("task/r3-00");
  plan.set_model_version(2);
  plan.set_model_size_bytes(40);
  plan.set_model_sha256(std::string(32, 'm'));
  auto* t = plan.mutable_layout()->add_tensors();
  t->set_name("w");
  t->add_shape(10);
  plan.mutable_training()->set_local_epochs(1);
  (*plan.mutable_training()->mutable_extra())["b"] = 2;
  (*plan.mutable_training()->mutable_extra())["a"] = 1;
  plan.mutable_codec()->set_modulus_bits(20);
  plan.mutable_codec()->set_vector_length(11);
  plan.mutable_secagg()->set_num_participants(10);
  plan.mutable_secagg()->set_neighbour_degree(4);
  plan.mutable_secagg()->set_threshold(3);
  plan.mutable_secagg()->set_corrupted_fraction(0.05);
  return plan;
}

TEST_CASE("PlanDigest_MatchesTheDocumentedEncoding") {
  // Known answer computed by an independent implementation of the byte layout in
  // docs/secagg.md#plan-binding (Python struct + hashlib), so a change of the encoding, which
  // breaks every client, cannot go unnoticed.
  CHECK(ToHex(PlanDigest(Plan())) ==
        "9abaf828ca77185f8f8211e47664bb4e4f6958361bcd6ce21ddb08f4376e25ed");
}

TEST_CASE("PlanDigest_IgnoresTheParticipantIndexOnly") {
  cohort::v1::RoundPlan a = Plan();
  cohort::v1::RoundPlan b = Plan();
  b.set_participant_index(7);
  CHECK(PlanDigest(a) == PlanDigest(b));
  for (auto change : std::vector<void (*)(cohort::v1::RoundPlan&)>{
           [](cohort::v1::RoundPlan& p) { p.set_model_sha256(std::string(32, 'n')); },
           [](cohort::v1::RoundPlan& p) { p.set_model_version(3); },
           [](cohort::v1::RoundPlan& p) { p.mutable_secagg()->set_threshold(2); },
           [](cohort::v1::RoundPlan& p) { p.mutable_secagg()->set_corrupted_fraction(0.0); },
           [](cohort::v1::RoundPlan& p) { p.mutable_codec()->set_modulus_bits(21); },
           [](cohort::v1::RoundPlan& p) { (*p.mutable_training()->mutable_extra())["a"] = 9; },
           [](cohort::v1::RoundPlan& p) { p.set_round_id("task/r3-01"); },
           [](cohort::v1::RoundPlan& p) {
             p.mutable_secagg()->set_threat_model(cohort::v1::THREAT_MODEL_SEMI_MALICIOUS);
           },
           // A server must not show devices different layer graphs, evaluation or DP settings.
           [](cohort::v1::RoundPlan& p) { p.mutable_graph()->add_input_shape(10); },
           [](cohort::v1::RoundPlan& p) { p.mutable_codec()->set_evaluation_only(true); },
           [](cohort::v1::RoundPlan& p) { p.mutable_codec()->set_metric_elements(3); },
           [](cohort::v1::RoundPlan& p) { p.mutable_codec()->set_max_eval_loss(8); },
           [](cohort::v1::RoundPlan& p) {
             p.mutable_codec()->mutable_dp()->set_mechanism(
                 cohort::v1::DP_MECHANISM_DISTRIBUTED_SKELLAM);
           }}) {
    cohort::v1::RoundPlan changed = Plan();
    change(changed);
    CHECK(PlanDigest(changed) != PlanDigest(a));
  }
}

}  // namespace
}  // namespace cohort::secagg
