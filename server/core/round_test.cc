#include "server/core/round.h"

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "secagg/client_session.h"
#include "secagg/packing.h"
#include "secagg/plan_digest.h"
#include "secagg/signed_messages.h"
#include "secagg/signing.h"
#include "secagg/testing/fake_random_source.h"
#include "secagg/testing/test_ca.h"
#include "server/core/aggregation.h"
#include "server/core/task_config.h"

namespace cohort::server {
namespace {

using cohort::v1::RoundPhase;

const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);

cohort::v1::TaskConfig Config(bool secure, int target, int min) {
  cohort::v1::TaskConfig config;
  config.set_population("test");
  auto* t = config.mutable_layout()->add_tensors();
  t->set_name("w");
  t->add_shape(9);
  config.set_target_cohort_size(target);
  config.set_over_selection_factor(1.0);
  config.set_min_participants(min);
  config.mutable_secagg()->set_enabled(secure);
  if (secure) {
    // Small cohorts sized for two dropouts; accept a higher round-failure bound than
    // production defaults.
    config.mutable_secagg()->set_expected_dropout_rate(0.3);
    config.mutable_secagg()->set_corrupted_fraction(0.05);
    config.mutable_secagg()->set_correctness_bits(2);
  }
  config.mutable_codec()->set_l2_clip_norm(1.0);
  auto* d = config.mutable_deadlines();
  d->mutable_forming()->set_seconds(10);
  d->mutable_advertise_keys()->set_seconds(10);
  d->mutable_share_keys()->set_seconds(10);
  d->mutable_masked_input()->set_seconds(10);
  d->mutable_unmasking()->set_seconds(10);
  auto valid = ValidateTaskConfig(config);
  REQUIRE(valid.ok());
  return *valid;
}

// Drives a round with pure SecAgg clients: every device acts unless told to stop at a phase.
class Harness {
 public:
  // `tweak` may change the setup before the round is made (e.g. give it an upload budget).
  Harness(bool secure, int n, int min, bool semi_malicious = false,
          std::function<void(RoundSetup&)> tweak = nullptr)
      : rng_(7) {
    auto model = std::make_shared<cohort::v1::Model>();
    RoundSetup setup;
    setup.config = Config(secure, n, min);
    model->set_version(3);
    *model->mutable_layout() = setup.config.layout();
    model->set_parameters(std::string(9 * 4, '\0'));
    model->set_sha256(std::string(32, 'x'));
    setup.task_id = "task";
    setup.round_number = 1;
    setup.round_id = "task/r1-00";
    if (semi_malicious) {
      setup.config.mutable_secagg()->set_threat_model(cohort::v1::THREAT_MODEL_SEMI_MALICIOUS);
      setup.config.mutable_secagg()->set_expected_dropout_rate(0.25);
      setup.config.mutable_secagg()->set_corrupted_fraction(0.0);
      setup.config = *ValidateTaskConfig(setup.config);
      ca_.emplace(*secagg::TestCa::Create(rng_, now_));
      verifier_ = *secagg::CertificateAuthorityVerifier::Create(ca_->pem());
      setup.key_verifier = verifier_.get();
    }
    setup.base_model = model;
    setup.random = &rng_;
    if (secure) setup.secagg_parameters = *SecAggParameterTable(setup.config);
    if (tweak) tweak(setup);
    round_ = std::make_unique<Round>(std::move(setup), now_);
    for (int i = 0; i < n; ++i) {
      identities_.push_back(secagg::SigningKey::Generate(rng_));
      auto index = round_->Admit(absl::StrCat("device-", i), Identity(i), now_);
      REQUIRE(index.ok());
      CHECK(*index == i + 1);
    }
  }

  DeviceIdentity Identity(int i) const {
    const secagg::SigningKey& key = identities_[static_cast<size_t>(i)];
    return {key.verifying_key().ToBytes(),
            ca_.has_value() ? *ca_->Issue(key.verifying_key(), now_) : ""};
  }
  const secagg::SigningKey& identity(int index) const {
    return identities_[static_cast<size_t>(index - 1)];
  }

  Round& round() { return *round_; }
  absl::Time now() const { return now_; }
  void Advance(absl::Duration d) {
    now_ += d;
    round_->AdvanceTo(now_);
  }
  int n() const { return round_->num_admitted(); }

  void AdvertiseAll(const std::set<int>& skip = {}) {
    REQUIRE(round_->phase() == cohort::v1::ROUND_PHASE_ADVERTISE_KEYS);
    for (int i = 1; i <= n(); ++i) {
      if (skip.count(i)) continue;
      const cohort::v1::RoundPlan plan = round_->UpdateFor(i).plan();
      secagg::SecAggClientOptions o;
      o.round_id = plan.round_id();
      o.plan_digest = secagg::PlanDigest(plan);
      o.self_index = i;
      o.num_participants = plan.secagg().num_participants();
      o.neighbour_degree = plan.secagg().neighbour_degree();
      o.threshold = plan.secagg().threshold();
      o.modulus_bits = plan.codec().modulus_bits();
      if (plan.secagg().threat_model() == cohort::v1::THREAT_MODEL_SEMI_MALICIOUS) {
        o.threat_model = secagg::ThreatModel::kSemiMalicious;
      }
      auto client = secagg::SecAggClient::Create(o, identity(i), rng_);
      REQUIRE(client.ok());
      auto advertisement = (*client)->Advertise();
      REQUIRE(advertisement.ok());
      cohort::v1::AdvertiseKeysRequest req;
      req.set_cipher_public_key(advertisement->cipher_public_key.ToBytes());
      req.set_mask_public_key(advertisement->mask_public_key.ToBytes());
      req.set_signature(advertisement->signature);
      clients_[i] = std::move(*client);
      REQUIRE(round_->AdvertiseKeys(i, req, now_).ok());
    }
  }

  void ShareAll(const std::set<int>& skip = {}) {
    REQUIRE(round_->phase() == cohort::v1::ROUND_PHASE_SHARE_KEYS);
    for (auto& [i, client] : clients_) {
      if (skip.count(i)) continue;
      const cohort::v1::RoundUpdate update = round_->UpdateFor(i);
      if (update.participant_state() == cohort::v1::PARTICIPANT_STATE_DROPPED) continue;
      std::vector<secagg::NeighbourAdvertisement> keys;
      for (const auto& n : update.neighbour_keys().neighbours()) {
        keys.push_back({n.participant_index(), *secagg::PublicKey::FromBytes(n.cipher_public_key()),
                        *secagg::PublicKey::FromBytes(n.mask_public_key()),
                        *secagg::VerifyingKey::FromBytes(n.signing_public_key()),
                        n.advertisement_signature(), n.device_credential()});
      }
      const auto& p = update.neighbour_keys().roster_proof();
      secagg::RosterProof proof{
          p.leaf_count(), p.position(), {p.siblings().begin(), p.siblings().end()}};
      auto shares = client->ShareKeys(proof, keys, verifier_.get(), now_, rng_);
      REQUIRE(shares.ok());
      cohort::v1::ShareKeysRequest req;
      for (const auto& s : *shares) {
        auto* e = req.add_shares();
        e->set_recipient_index(s.index);
        e->set_ciphertext(s.ciphertext);
        e->set_signature(s.signature);
        if (garbage_.count(i) != 0) {
          // Signed garbage: provably the sender's own.
          e->set_ciphertext(std::string(s.ciphertext.size(), 'g'));
          e->set_signature(*identity(i).Sign(secagg::BundleMessage(
              secagg::PlanDigest(update.plan()), i, s.index, e->ciphertext())));
        }
      }
      REQUIRE(round_->ShareKeys(i, req, now_).ok());
    }
  }

  // Uploads a random input for every active device not skipped; remembers the inputs.
  void UploadAll(const std::set<int>& skip = {}) {
    REQUIRE(round_->phase() == cohort::v1::ROUND_PHASE_MASKED_INPUT);
    for (int i = 1; i <= n(); ++i) {
      if (skip.count(i)) continue;
      const cohort::v1::RoundUpdate update = round_->UpdateFor(i);
      if (update.participant_state() == cohort::v1::PARTICIPANT_STATE_DROPPED) continue;
      const auto& codec = update.plan().codec();
      const int m = codec.modulus_bits();
      std::vector<uint64_t> input(static_cast<size_t>(codec.vector_length()));
      for (auto& x : input) x = rng_.NextU64() & ((uint64_t{1} << m) - 1);
      std::vector<uint64_t> masked = input;
      if (round_->secure()) {
        std::vector<secagg::EncryptedShare> incoming;
        for (const auto& s : update.incoming_shares().shares()) {
          incoming.push_back({s.sender_index(), s.ciphertext(), s.signature()});
        }
        auto unopenable = clients_[i]->ReceiveShares(incoming);
        REQUIRE(unopenable.ok());
        cohort::v1::ReportSharesRequest report;
        for (const auto& u : *unopenable) {
          auto* r = report.add_unopenable();
          r->set_sender_index(u.sender);
          r->set_pairwise_mask_seed(u.pairwise_seed.ToBytes());
        }
        REQUIRE(round_->ReportShares(i, report, now_).ok());
        if (garbage_.count(i) != 0) continue;  // excluded: it uploads nothing
        REQUIRE(clients_[i]->MaskChunk(0, absl::MakeSpan(masked)).ok());
      }
      cohort::v1::UploadMaskedInputRequest req;
      req.set_chunk_index(0);
      req.set_data(*secagg::Pack(masked, m));
      auto response = round_->UploadMaskedInput(i, req, now_);
      REQUIRE(response.ok());
      CHECK(response->complete());
      inputs_[i] = input;
    }
  }

  // CONSISTENCY_CHECK: every survivor signs the set it is shown.
  void SignAll(const std::set<int>& skip = {}) {
    REQUIRE(round_->phase() == cohort::v1::ROUND_PHASE_CONSISTENCY_CHECK);
    for (auto& [i, client] : clients_) {
      if (skip.count(i)) continue;
      const cohort::v1::RoundUpdate update = round_->UpdateFor(i);
      if (update.participant_state() == cohort::v1::PARTICIPANT_STATE_DROPPED) continue;
      if (!update.has_consistency_check()) continue;
      const auto& c = update.consistency_check();
      const std::vector<int32_t> survivors(c.survivors().begin(), c.survivors().end());
      auto signature = client->SignSurvivors(survivors);
      REQUIRE(signature.ok());
      cohort::v1::SignSurvivorsRequest req;
      req.set_signature(*signature);
      REQUIRE(round_->SignSurvivors(i, req, now_).ok());
    }
  }

  // The unmasking answer device `i` gives now.
  cohort::v1::SubmitUnmaskingRequest UnmaskingAnswer(int i) {
    const cohort::v1::RoundUpdate update = round_->UpdateFor(i);
    const auto& u = update.unmasking();
    secagg::UnmaskingRequest request;
    request.surviving.assign(u.surviving_neighbours().begin(), u.surviving_neighbours().end());
    request.dropped.assign(u.dropped_neighbours().begin(), u.dropped_neighbours().end());
    request.excluded.assign(u.excluded_neighbours().begin(), u.excluded_neighbours().end());
    request.survivors.assign(u.survivors().begin(), u.survivors().end());
    for (const auto& sig : u.survivor_signatures()) {
      request.signatures.push_back({sig.signer_index(), sig.signature()});
    }
    auto shares = clients_.at(i)->Unmask(request);
    REQUIRE(shares.ok());
    cohort::v1::SubmitUnmaskingRequest req;
    for (const auto& s : *shares) {
      auto* e = req.add_shares();
      e->set_neighbour_index(s.neighbour_index);
      switch (s.kind) {
        case secagg::ShareKind::kSelfMaskSeed:
          e->set_self_mask_seed_share(s.share);
          break;
        case secagg::ShareKind::kMaskKey:
          e->set_mask_key_share(s.share);
          break;
        case secagg::ShareKind::kPairwiseSeed:
          e->set_pairwise_mask_seed(s.share);
          break;
      }
    }
    return req;
  }

  void UnmaskAll(const std::set<int>& skip = {}) {
    REQUIRE(round_->phase() == cohort::v1::ROUND_PHASE_UNMASKING);
    for (auto& [i, client] : clients_) {
      if (skip.count(i)) continue;
      if (round_->UpdateFor(i).participant_state() == cohort::v1::PARTICIPANT_STATE_DROPPED) {
        continue;
      }
      REQUIRE(round_->SubmitUnmasking(i, UnmaskingAnswer(i), now_).ok());
    }
  }

  std::vector<uint64_t> ExpectedSum() const {
    const cohort::v1::CodecParams codec = round_->UpdateFor(1).plan().codec();
    const uint64_t mask = (uint64_t{1} << codec.modulus_bits()) - 1;
    std::vector<uint64_t> sum(static_cast<size_t>(codec.vector_length()), 0);
    for (const auto& [i, input] : inputs_) {
      for (size_t j = 0; j < sum.size(); ++j) sum[j] = (sum[j] + input[j]) & mask;
    }
    return sum;
  }

  std::map<int, std::vector<uint64_t>>& inputs() { return inputs_; }
  // Devices that share signed garbage instead of bundles.
  void SendGarbage(int index) { garbage_.insert(index); }

 private:
  secagg::FakeRandomSource rng_;
  std::optional<secagg::TestCa> ca_;
  std::unique_ptr<secagg::CertificateAuthorityVerifier> verifier_;
  std::vector<secagg::SigningKey> identities_;
  std::set<int> garbage_;
  absl::Time now_ = kStart;
  std::unique_ptr<Round> round_;
  std::map<int, std::unique_ptr<secagg::SecAggClient>> clients_;
  std::map<int, std::vector<uint64_t>> inputs_;
};

std::vector<uint64_t> SumOf(const Round& round) {
  return std::vector<uint64_t>(round.sum().begin(), round.sum().end());
}

TEST_CASE("IsLegalTransition_ListsExactlyTheRoundGraph") {
  using cohort::v1::RoundPhase;
  CHECK(IsLegalTransition(cohort::v1::ROUND_PHASE_FORMING, cohort::v1::ROUND_PHASE_ADVERTISE_KEYS));
  CHECK(IsLegalTransition(cohort::v1::ROUND_PHASE_FORMING, cohort::v1::ROUND_PHASE_MASKED_INPUT));
  CHECK(IsLegalTransition(cohort::v1::ROUND_PHASE_UNMASKING, cohort::v1::ROUND_PHASE_COMMITTED));
  CHECK_FALSE(
      IsLegalTransition(cohort::v1::ROUND_PHASE_FORMING, cohort::v1::ROUND_PHASE_COMMITTED));
  CHECK_FALSE(IsLegalTransition(cohort::v1::ROUND_PHASE_SHARE_KEYS,
                                cohort::v1::ROUND_PHASE_ADVERTISE_KEYS));
  CHECK_FALSE(IsLegalTransition(cohort::v1::ROUND_PHASE_COMMITTED, cohort::v1::ROUND_PHASE_FAILED));
  CHECK_FALSE(IsLegalTransition(cohort::v1::ROUND_PHASE_FAILED, cohort::v1::ROUND_PHASE_FORMING));
}

TEST_CASE("Round_NoDropout_UnmasksTheExactSum") {
  Harness h(/*secure=*/true, 6, 4);
  CHECK(h.round().phase() == cohort::v1::ROUND_PHASE_ADVERTISE_KEYS);
  h.AdvertiseAll();
  h.ShareAll();
  h.UploadAll();
  h.UnmaskAll();
  REQUIRE(h.round().ready_to_commit());
  CHECK(SumOf(h.round()) == h.ExpectedSum());
  CHECK(h.inputs().size() == 6);
}

TEST_CASE("Round_DropoutBeforeKeys_RoundGoesOnWithoutTheDevice") {
  Harness h(true, 6, 4);
  h.AdvertiseAll({2});
  CHECK(h.round().phase() == cohort::v1::ROUND_PHASE_ADVERTISE_KEYS);
  h.Advance(absl::Seconds(11));
  REQUIRE(h.round().phase() == cohort::v1::ROUND_PHASE_SHARE_KEYS);
  CHECK(h.round().UpdateFor(2).participant_state() == cohort::v1::PARTICIPANT_STATE_DROPPED);
  h.ShareAll();
  h.UploadAll();
  h.UnmaskAll();
  REQUIRE(h.round().ready_to_commit());
  CHECK(SumOf(h.round()) == h.ExpectedSum());
}

TEST_CASE("Round_DropoutAfterSharesBeforeInput_MasksOfTheDroppedAreRemoved") {
  Harness h(true, 7, 4);
  h.AdvertiseAll();
  h.ShareAll();
  h.UploadAll({3, 5});
  h.Advance(absl::Seconds(11));
  REQUIRE(h.round().phase() == cohort::v1::ROUND_PHASE_UNMASKING);
  int asked_for_mask_keys = 0;
  for (int i : {1, 2, 4, 6, 7}) {
    asked_for_mask_keys += h.round().UpdateFor(i).unmasking().dropped_neighbours_size();
  }
  CHECK(asked_for_mask_keys > 0);
  CHECK(h.round().UpdateFor(3).participant_state() == cohort::v1::PARTICIPANT_STATE_DROPPED);
  h.UnmaskAll();
  REQUIRE(h.round().ready_to_commit());
  CHECK(h.inputs().size() == 5);
  CHECK(SumOf(h.round()) == h.ExpectedSum());
}

TEST_CASE("Round_DropoutAfterInput_SelfMaskIsReconstructed") {
  Harness h(true, 7, 4);
  h.AdvertiseAll();
  h.ShareAll();
  h.UploadAll();
  h.UnmaskAll({4});
  CHECK(h.round().phase() == cohort::v1::ROUND_PHASE_UNMASKING);
  h.Advance(absl::Seconds(11));
  REQUIRE(h.round().ready_to_commit());
  CHECK(SumOf(h.round()) == h.ExpectedSum());
  CHECK(h.inputs().size() == 7);
}

TEST_CASE("Round_TooFewAdvertise_FailsWithCounts") {
  Harness h(true, 5, 4);
  h.AdvertiseAll({1, 2});
  h.Advance(absl::Seconds(11));
  CHECK(h.round().phase() == cohort::v1::ROUND_PHASE_FAILED);
  CHECK(h.round().failure_reason().find("only 3 devices advertised keys") != std::string::npos);
  CHECK(h.round().UpdateFor(3).outcome().failure_reason() == h.round().failure_reason());
}

TEST_CASE("Round_SharersStarvedOfNeighbours_FailWithAMessageThatCountsThem") {
  // Two of five share; each then has one neighbour with shares, below the threshold, so both are
  // dropped too. The reason says so rather than "only 0 devices completed SHARE_KEYS".
  Harness h(true, 5, 4);
  h.AdvertiseAll();
  h.ShareAll({1, 2, 3});
  h.Advance(absl::Seconds(11));
  CHECK(h.round().phase() == cohort::v1::ROUND_PHASE_FAILED);
  const std::string& reason = h.round().failure_reason();
  CHECK_THAT(reason, Catch::Contains("2 devices completed SHARE_KEYS, 2 of them then dropped"));
  CHECK_THAT(reason, Catch::Contains("0 remain and the round needs 4"));
}

TEST_CASE("Round_OutOfPhaseAndLateCalls_AreFailedPrecondition") {
  Harness h(true, 5, 4);
  cohort::v1::ShareKeysRequest share;
  auto s = h.round().ShareKeys(1, share, h.now());
  CHECK(s.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(s.message().find("is in phase ADVERTISE_KEYS") != std::string::npos);
  h.AdvertiseAll({5});
  h.Advance(absl::Seconds(11));
  // The late device was dropped: its keys are refused with the reason.
  cohort::v1::AdvertiseKeysRequest late;
  s = h.round().AdvertiseKeys(5, late, h.now());
  CHECK(s.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(s.message().find("dropped") != std::string::npos);
}

TEST_CASE("Round_MalformedKeys_AreInvalidArgument") {
  Harness h(true, 5, 4);
  cohort::v1::AdvertiseKeysRequest req;
  req.set_cipher_public_key("short");
  req.set_mask_public_key(std::string(32, '\x09'));
  REQUIRE(h.round().phase() == cohort::v1::ROUND_PHASE_ADVERTISE_KEYS);
  auto s = h.round().AdvertiseKeys(1, req, h.now());
  CHECK(s.code() == absl::StatusCode::kInvalidArgument);
  CHECK(s.message().find("cipher_public_key") != std::string::npos);
  CHECK(h.round().UpdateFor(1).participant_state() == cohort::v1::PARTICIPANT_STATE_ACTIVE);
}

TEST_CASE("Round_WrongVectorLength_DropsTheSenderAndTheRoundGoesOn") {
  Harness h(true, 6, 4);
  h.AdvertiseAll();
  h.ShareAll();
  cohort::v1::UploadMaskedInputRequest bad;
  bad.set_chunk_index(0);
  bad.set_data(std::string(3, '\0'));
  auto response = h.round().UploadMaskedInput(2, bad, h.now());
  CHECK(response.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(response.status().message().find("elements of a vector of length 10") != std::string::npos);
  CHECK(h.round().UpdateFor(2).participant_state() == cohort::v1::PARTICIPANT_STATE_DROPPED);
  h.UploadAll({2});
  REQUIRE(h.round().phase() == cohort::v1::ROUND_PHASE_UNMASKING);
  h.UnmaskAll();
  REQUIRE(h.round().ready_to_commit());
  CHECK(SumOf(h.round()) == h.ExpectedSum());
}

TEST_CASE("Round_IdenticalRetries_AreAcceptedDifferentOnesRefused") {
  Harness h(true, 5, 4);
  h.AdvertiseAll();
  REQUIRE(h.round().phase() == cohort::v1::ROUND_PHASE_SHARE_KEYS);
  // Device 1's accepted keys, as its neighbours see them.
  cohort::v1::AdvertiseKeysRequest keys;
  for (int i = 2; i <= h.n() && keys.cipher_public_key().empty(); ++i) {
    const cohort::v1::RoundUpdate update = h.round().UpdateFor(i);
    for (const auto& n : update.neighbour_keys().neighbours()) {
      if (n.participant_index() != 1) continue;
      keys.set_cipher_public_key(n.cipher_public_key());
      keys.set_mask_public_key(n.mask_public_key());
    }
  }
  REQUIRE_FALSE(keys.cipher_public_key().empty());
  CHECK(h.round().AdvertiseKeys(1, keys, h.now()).ok());
  cohort::v1::AdvertiseKeysRequest other = keys;
  other.set_mask_public_key(keys.cipher_public_key());
  other.set_cipher_public_key(keys.mask_public_key());
  absl::Status refused = h.round().AdvertiseKeys(1, other, h.now());
  CHECK(refused.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(refused.message().find("already advertised different keys") != std::string::npos);

  h.ShareAll();
  h.UploadAll();
  REQUIRE(h.round().phase() == cohort::v1::ROUND_PHASE_UNMASKING);
  // A repeated upload after completion is acknowledged and not added again, whatever it holds.
  const cohort::v1::CodecParams codec = h.round().UpdateFor(1).plan().codec();
  cohort::v1::UploadMaskedInputRequest upload;
  upload.set_chunk_index(0);
  upload.set_data(*secagg::Pack(
      std::vector<uint64_t>(static_cast<size_t>(codec.vector_length()), 1), codec.modulus_bits()));
  auto again = h.round().UploadMaskedInput(1, upload, h.now());
  REQUIRE(again.ok());
  CHECK(again->complete());

  h.UnmaskAll({1});
  const cohort::v1::SubmitUnmaskingRequest answer = h.UnmaskingAnswer(1);
  REQUIRE(h.round().SubmitUnmasking(1, answer, h.now()).ok());
  REQUIRE(h.round().ready_to_commit());
  CHECK(h.round().SubmitUnmasking(1, answer, h.now()).ok());
  cohort::v1::SubmitUnmaskingRequest fewer = answer;
  fewer.mutable_shares()->RemoveLast();
  refused = h.round().SubmitUnmasking(1, fewer, h.now());
  CHECK(refused.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(refused.message().find("already answered with different shares") != std::string::npos);
  // Each input is in the sum once: the retries changed nothing.
  CHECK(SumOf(h.round()) == h.ExpectedSum());
}

TEST_CASE("Round_UnmaskingEntryWithoutShare_IsRefusedWithoutDroppingAndRepeatsAfterCommitAreOk") {
  Harness h(true, 5, 4);
  h.AdvertiseAll();
  h.ShareAll();
  h.UploadAll();
  h.UnmaskAll({1});
  const cohort::v1::SubmitUnmaskingRequest answer = h.UnmaskingAnswer(1);
  cohort::v1::SubmitUnmaskingRequest empty_entry = answer;
  empty_entry.mutable_shares(0)->clear_share();
  const absl::Status refused = h.round().SubmitUnmasking(1, empty_entry, h.now());
  CHECK(refused.code() == absl::StatusCode::kInvalidArgument);
  CHECK(refused.message().find("shares[0] sets none of") != std::string::npos);
  // Not dropped: the corrected answer is taken and the round completes.
  REQUIRE(h.round().SubmitUnmasking(1, answer, h.now()).ok());
  REQUIRE(h.round().ready_to_commit());
  h.round().MarkCommitted(4, h.now());
  REQUIRE(h.round().ended());
  // docs/protocol.md, "Repeats and refusals": identical repeats stay OK after the round ended,
  // a different one is refused.
  CHECK(h.round().SubmitUnmasking(1, answer, h.now()).ok());
  cohort::v1::SubmitUnmaskingRequest fewer = answer;
  fewer.mutable_shares()->RemoveLast();
  CHECK(h.round().SubmitUnmasking(1, fewer, h.now()).code() ==
        absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("Round_PlainRound_SkipsKeyPhasesAndSums") {
  Harness h(false, 4, 3);
  CHECK(h.round().phase() == cohort::v1::ROUND_PHASE_MASKED_INPUT);
  CHECK_FALSE(h.round().UpdateFor(1).plan().has_secagg());
  cohort::v1::AdvertiseKeysRequest keys;
  CHECK(h.round().AdvertiseKeys(1, keys, h.now()).code() == absl::StatusCode::kFailedPrecondition);
  h.UploadAll({4});
  CHECK_FALSE(h.round().ready_to_commit());
  h.Advance(absl::Seconds(11));
  REQUIRE(h.round().ready_to_commit());
  CHECK(SumOf(h.round()) == h.ExpectedSum());
}

// Uploads chunk `chunk` of device i's input (made on its first chunk) in a plain round.
absl::StatusOr<cohort::v1::UploadMaskedInputResponse> UploadPlainChunk(
    Harness& h, int i, int64_t chunk, secagg::FakeRandomSource& rng) {
  const cohort::v1::CodecParams codec = h.round().UpdateFor(i).plan().codec();
  const int m = codec.modulus_bits();
  std::vector<uint64_t>& input = h.inputs()[i];
  if (input.empty()) {
    input.resize(static_cast<size_t>(codec.vector_length()));
    for (auto& x : input) x = rng.NextU64() & ((uint64_t{1} << m) - 1);
  }
  const int64_t c = codec.chunk_elements();
  const int64_t begin = chunk * c;
  const int64_t end = std::min<int64_t>(begin + c, codec.vector_length());
  cohort::v1::UploadMaskedInputRequest req;
  req.set_chunk_index(chunk);
  req.set_data(*secagg::Pack(
      absl::MakeConstSpan(input).subspan(static_cast<size_t>(begin),
                                         static_cast<size_t>(end - begin)),
      m));
  return h.round().UploadMaskedInput(i, req, h.now());
}

// A model of 140,000 parameters: an input of three chunks of kChunkElements.
void UseThreeChunkModel(RoundSetup& setup) {
  auto model = std::make_shared<cohort::v1::Model>(*setup.base_model);
  model->mutable_layout()->mutable_tensors(0)->set_shape(0, 140000);
  model->set_parameters(std::string(140000 * 4, '\0'));
  *setup.config.mutable_layout() = model->layout();
  setup.base_model = std::move(model);
}

TEST_CASE("Round_UploadBudget_AFullBufferAsksTheNextDeviceToRetryAndLosesNothing") {
  // Room for one device's input at a time.
  UploadBudget budget(1);
  Harness h(false, 4, 3, false, [&budget](RoundSetup& setup) {
    UseThreeChunkModel(setup);
    setup.upload_budget = &budget;
  });
  REQUIRE(h.round().UpdateFor(1).plan().codec().vector_length() > 2 * kChunkElements);
  secagg::FakeRandomSource rng(11);
  REQUIRE(h.round().phase() == cohort::v1::ROUND_PHASE_MASKED_INPUT);
  REQUIRE(UploadPlainChunk(h, 1, 0, rng).ok());
  const int64_t one_input = budget.reserved();
  CHECK(one_input > 0);
  // Device 2 cannot begin while device 1 holds the buffer; nothing of it is kept.
  auto refused = UploadPlainChunk(h, 2, 0, rng);
  CHECK(refused.status().code() == absl::StatusCode::kResourceExhausted);
  CHECK(refused.status().message().find("resend this chunk") != absl::string_view::npos);
  CHECK(budget.reserved() == one_input);
  CHECK(h.round().UpdateFor(2).participant_state() != cohort::v1::PARTICIPANT_STATE_DROPPED);
  // Device 1 finishes; its input is folded and the buffer is free again.
  REQUIRE(UploadPlainChunk(h, 1, 1, rng).ok());
  REQUIRE(UploadPlainChunk(h, 1, 2, rng)->complete());
  CHECK(budget.reserved() == 0);
  // The same chunk resent now goes through, and so do the others, one device at a time.
  for (int i : {2, 3}) {
    for (int64_t chunk = 0; chunk < 3; ++chunk) REQUIRE(UploadPlainChunk(h, i, chunk, rng).ok());
  }
  // Device 4 begins and vanishes: the deadline drops it and gives its reservation back.
  REQUIRE(UploadPlainChunk(h, 4, 0, rng).ok());
  CHECK(budget.reserved() == one_input);
  h.inputs().erase(4);
  h.Advance(absl::Seconds(11));
  REQUIRE(h.round().ready_to_commit());
  CHECK(SumOf(h.round()) == h.ExpectedSum());
  CHECK(budget.reserved() == 0);
  CHECK(budget.refusals() == 1);
}

TEST_CASE("Round_UploadBudget_ARoundDroppedMidUploadGivesItsReservationsBack") {
  UploadBudget budget(0);  // no bound, but reservations are still counted
  {
    Harness h(false, 4, 3, false, [&budget](RoundSetup& setup) {
      UseThreeChunkModel(setup);
      setup.upload_budget = &budget;
    });
    secagg::FakeRandomSource rng(12);
    REQUIRE(UploadPlainChunk(h, 1, 0, rng).ok());
    REQUIRE(UploadPlainChunk(h, 2, 0, rng).ok());
    CHECK(budget.reserved() > 0);
  }  // e.g. the server shuts down
  CHECK(budget.reserved() == 0);
}

TEST_CASE("Round_FormingDeadline_ExtendsUntilMinimumThenStartsWithWhatItHas") {
  secagg::FakeRandomSource rng(3);
  auto model = std::make_shared<cohort::v1::Model>();
  model->set_parameters(std::string(36, '\0'));
  RoundSetup setup{"task", 1, "task/r1", Config(false, 10, 3), model, &rng};
  *model->mutable_layout() = setup.config.layout();
  Round round(std::move(setup), kStart);
  const DeviceIdentity a{secagg::SigningKey::Generate(rng).verifying_key().ToBytes(), ""};
  const DeviceIdentity b{secagg::SigningKey::Generate(rng).verifying_key().ToBytes(), ""};
  REQUIRE(round.Admit("a", a, kStart).ok());
  REQUIRE(round.Admit("b", b, kStart).ok());
  round.AdvanceTo(kStart + absl::Seconds(11));
  CHECK(round.phase() == cohort::v1::ROUND_PHASE_FORMING);
  REQUIRE(round.Admit("c", b, kStart + absl::Seconds(12)).ok());
  CHECK(*round.Admit("a", a, kStart + absl::Seconds(12)) == 1);  // re-admission resumes
  round.AdvanceTo(kStart + absl::Seconds(22));
  CHECK(round.phase() == cohort::v1::ROUND_PHASE_MASKED_INPUT);
  CHECK(round.Summary().selected() == 3);
}

TEST_CASE("Round_GarbageSender_IsExcludedAndTheSumOfEveryoneElseIsExact") {
  Harness h(true, 7, 4);
  h.SendGarbage(3);
  h.AdvertiseAll();
  h.ShareAll();
  h.UploadAll();
  // Its neighbours reported it before its input could reach the sum; it was excluded.
  CHECK(h.round().UpdateFor(3).participant_state() == cohort::v1::PARTICIPANT_STATE_DROPPED);
  CHECK(h.round().UpdateFor(3).dropped_reason().find("excluded") != std::string::npos);
  REQUIRE(h.round().phase() == cohort::v1::ROUND_PHASE_UNMASKING);
  h.UnmaskAll();
  REQUIRE(h.round().ready_to_commit());
  CHECK(h.inputs().count(3) == 0);
  CHECK(SumOf(h.round()) == h.ExpectedSum());
  CHECK(h.round().Summary().excluded() == 1);
  CHECK(h.round().TakeExcluded() == std::vector<std::string>{"device-2"});
  CHECK(h.round().TakeExcluded().empty());
}

TEST_CASE("Round_DeviceWithAnotherKey_CannotTakeOverAnAdmittedPseudonym") {
  Harness h(true, 5, 4);
  secagg::FakeRandomSource rng(99);
  const DeviceIdentity impostor{secagg::SigningKey::Generate(rng).verifying_key().ToBytes(), ""};
  auto taken = h.round().Admit("device-1", impostor, h.now());
  CHECK(taken.status().code() == absl::StatusCode::kPermissionDenied);
  auto resumed = h.round().Admit("device-1", h.Identity(1), h.now());
  REQUIRE(resumed.ok());
  CHECK(*resumed == 2);
}

TEST_CASE("Round_AdvertiseKeys_RefusesKeysNotSignedByTheDevice") {
  Harness h(true, 5, 4);
  secagg::FakeRandomSource rng(5);
  cohort::v1::AdvertiseKeysRequest req;
  req.set_cipher_public_key(secagg::KeyPair::Generate(rng).public_key().ToBytes());
  req.set_mask_public_key(secagg::KeyPair::Generate(rng).public_key().ToBytes());
  req.set_signature(*h.identity(2).Sign(secagg::AdvertisementMessage(
      secagg::PlanDigest(h.round().UpdateFor(1).plan()), 1, req.cipher_public_key(),
      req.mask_public_key())));  // signed by device 2, for device 1
  auto s = h.round().AdvertiseKeys(1, req, h.now());
  CHECK(s.code() == absl::StatusCode::kInvalidArgument);
  CHECK(s.message().find("signature") != std::string::npos);
}

TEST_CASE("Round_PlanCarriesTheSettingsDevicesCheckAndNoGraphSeed") {
  Harness h(true, 6, 4);
  const cohort::v1::RoundUpdate update = h.round().UpdateFor(1);
  const cohort::v1::SecAggParams& s = update.plan().secagg();
  CHECK(s.threshold() >= 2);
  CHECK(s.dropout_rate() == 0.3);
  CHECK(s.corrupted_fraction() == 0.05);
  CHECK(s.security_bits() == 40);
  CHECK(s.threat_model() == cohort::v1::THREAT_MODEL_HONEST_BUT_CURIOUS);
  CHECK(s.graph_seed().empty());  // derived from the advertised keys instead
}

TEST_CASE("Round_SemiMalicious_SurvivorsSignTheSetThenUnmaskTheExactSum") {
  Harness h(true, 8, 5, /*semi_malicious=*/true);
  h.AdvertiseAll();
  h.ShareAll();
  h.UploadAll({6});
  h.Advance(absl::Seconds(11));
  REQUIRE(h.round().phase() == cohort::v1::ROUND_PHASE_CONSISTENCY_CHECK);
  const auto check = h.round().UpdateFor(1).consistency_check();
  CHECK(std::vector<int32_t>(check.survivors().begin(), check.survivors().end()) ==
        std::vector<int32_t>({1, 2, 3, 4, 5, 7, 8}));
  // A signature over another set is refused and does not count.
  cohort::v1::SignSurvivorsRequest forged;
  forged.set_signature(std::string(64, 'x'));
  CHECK(h.round().SignSurvivors(1, forged, h.now()).code() == absl::StatusCode::kInvalidArgument);
  h.SignAll();
  REQUIRE(h.round().phase() == cohort::v1::ROUND_PHASE_UNMASKING);
  const auto unmasking = h.round().UpdateFor(1).unmasking();
  CHECK(unmasking.survivors_size() == 7);
  CHECK(unmasking.survivor_signatures_size() >= 2);
  h.UnmaskAll();
  REQUIRE(h.round().ready_to_commit());
  CHECK(SumOf(h.round()) == h.ExpectedSum());
}

TEST_CASE("Round_SurvivorsWhoseGraphComesApart_FailTheRoundBeforeUnmasking") {
  // Far more dropouts than the parameters were sized for: rather than unmask sums of pieces of
  // the graph, the round fails.
  Harness h(true, 12, 3);
  h.AdvertiseAll();
  h.ShareAll();
  h.UploadAll({1, 2, 3, 4, 5, 6, 7, 8, 9});
  h.Advance(absl::Seconds(11));
  CHECK(h.round().phase() == cohort::v1::ROUND_PHASE_FAILED);
  CHECK((h.round().failure_reason().find("disconnected") != std::string::npos ||
         h.round().failure_reason().find("keep private") != std::string::npos));
}

}  // namespace
}  // namespace cohort::server
