// A device's check of the plan the server sends (client_sdk/src/secure_round.h, CheckPlan and
// SecureRound::Create): n, k, t, the threat model and the rates and bits the server claims are
// its choice, and the device recomputes the bounds with the shared parameter finder. Input:
//   i32 n, i32 k, i32 t, u8 threat model, f64 dropout, f64 corrupted, i32 security bits,
//   i32 correctness bits, u8 floor (bit 0: require semi-malicious), u8 modulus bits,
//   then the rest as a serialized RoundPlan merged underneath (other fields)
// The seeds are plans the server's finder makes (`--write-seeds DIR`).
// Properties: no crash, hang or UB for any numbers (NaN, negative, huge); an accepted plan has
// 2 <= t <= k <= n - 1, 2t > k when semi-malicious, and a device session can be made from it.

#include <bit>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "client_sdk/src/secure_round.h"
#include "cohort/v1/plan.pb.h"
#include "fuzz/fuzz_input.h"
#include "secagg/parameter_finder.h"
#include "secagg/testing/fake_random_source.h"

namespace {

using cohort::fuzz::Input;
using cohort::fuzz::Output;

std::string Seed(int32_t n, cohort::secagg::ThreatModel model, double dropout, double corrupted) {
  cohort::secagg::ParameterOptions o;
  o.num_participants = n;
  o.dropout_rate = dropout;
  o.corrupted_fraction = corrupted;
  o.threat_model = model;
  absl::StatusOr<cohort::secagg::SecAggParameters> p = cohort::secagg::FindParameters(o);
  if (!p.ok()) std::abort();
  const bool semi = model == cohort::secagg::ThreatModel::kSemiMalicious;
  Output out;
  out.U64(static_cast<uint32_t>(n), 4)
      .U64(static_cast<uint32_t>(p->neighbour_degree), 4)
      .U64(static_cast<uint32_t>(p->threshold), 4)
      .U8(semi ? cohort::v1::THREAT_MODEL_SEMI_MALICIOUS
               : cohort::v1::THREAT_MODEL_HONEST_BUT_CURIOUS)
      .U64(std::bit_cast<uint64_t>(dropout))
      .U64(std::bit_cast<uint64_t>(corrupted))
      .U64(40, 4)
      .U64(20, 4)
      .U8(semi ? 1 : 0)
      .U8(32);
  return out.bytes();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  using cohort::secagg::ThreatModel;
  cohort::fuzz::MaybeWriteSeeds(*argc, *argv,
                                {Seed(100, ThreatModel::kHonestButCurious, 0.1, 0.05),
                                 Seed(1000, ThreatModel::kSemiMalicious, 0.1, 0.05),
                                 Seed(5, ThreatModel::kSemiMalicious, 0.2, 0.1),
                                 Seed(100000, ThreatModel::kHonestButCurious, 0.33, 0.33)});
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in(data, size);
  cohort::v1::RoundPlan plan;
  cohort::v1::SecAggParams* s = plan.mutable_secagg();
  s->set_num_participants(static_cast<int32_t>(in.U64(4)));
  s->set_neighbour_degree(static_cast<int32_t>(in.U64(4)));
  s->set_threshold(static_cast<int32_t>(in.U64(4)));
  s->set_threat_model(static_cast<cohort::v1::ThreatModel>(in.U8() % 3));
  s->set_dropout_rate(std::bit_cast<double>(in.U64()));
  s->set_corrupted_fraction(std::bit_cast<double>(in.U64()));
  s->set_security_bits(static_cast<int32_t>(in.U64(4)));
  s->set_correctness_bits(static_cast<int32_t>(in.U64(4)));
  cohort::client::internal::SecAggFloor floor;
  floor.require_semi_malicious = (in.U8() & 1) != 0;
  plan.mutable_codec()->set_modulus_bits(in.U8());
  cohort::v1::RoundPlan rest;
  if (rest.ParseFromString(in.Bytes(size))) {
    rest.MergeFrom(plan);  // the fuzzed numbers win
    plan = rest;
  }
  if (plan.round_id().empty()) plan.set_round_id("fuzz-round");
  if (plan.participant_index() == 0) plan.set_participant_index(1);

  if (!cohort::client::internal::CheckPlan(plan, floor).ok()) return 0;
  const int32_t n = plan.secagg().num_participants();
  const int32_t k = plan.secagg().neighbour_degree();
  const int32_t t = plan.secagg().threshold();
  if (t < 2 || t > k || k > n - 1) std::abort();
  if (plan.secagg().threat_model() == cohort::v1::THREAT_MODEL_SEMI_MALICIOUS && 2 * t <= k) {
    std::abort();
  }
  if (floor.require_semi_malicious &&
      plan.secagg().threat_model() != cohort::v1::THREAT_MODEL_SEMI_MALICIOUS) {
    std::abort();
  }
  cohort::secagg::FakeRandomSource rng(1);
  const cohort::secagg::SigningKey identity = cohort::secagg::SigningKey::Generate(rng);
  (void)cohort::client::internal::SecureRound::Create(plan, identity, floor, nullptr);
  return 0;
}
