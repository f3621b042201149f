#include "server/core/round.h"

#include <map>
#include <memory>
#include <set>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "secagg/client_session.h"
#include "secagg/packing.h"
#include "secagg/testing/fake_random_source.h"
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
    // Small cohorts: accept a higher round-failure bound than production defaults.
    config.mutable_secagg()->set_expected_dropout_rate(0.05);
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
  Harness(bool secure, int n, int min) : rng_(7) {
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
    setup.base_model = model;
    setup.random = &rng_;
    round_ = std::make_unique<Round>(std::move(setup), now_);
    for (int i = 0; i < n; ++i) {
      auto index = round_->Admit(absl::StrCat("device-", i), now_);
      REQUIRE(index.ok());
      CHECK(*index == i + 1);
    }
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
      o.self_index = i;
      o.num_participants = plan.secagg().num_participants();
      o.neighbour_degree = plan.secagg().neighbour_degree();
      o.threshold = plan.secagg().threshold();
      o.graph_seed = plan.secagg().graph_seed();
      o.modulus_bits = plan.codec().modulus_bits();
      auto client = secagg::SecAggClient::Create(o, rng_);
      REQUIRE(client.ok());
      cohort::v1::AdvertiseKeysRequest req;
      req.set_cipher_public_key((*client)->cipher_public_key().ToBytes());
      req.set_mask_public_key((*client)->mask_public_key().ToBytes());
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
      std::vector<secagg::NeighbourPublicKeys> keys;
      for (const auto& n : update.neighbour_keys().neighbours()) {
        keys.push_back({n.participant_index(), *secagg::PublicKey::FromBytes(n.cipher_public_key()),
                        *secagg::PublicKey::FromBytes(n.mask_public_key())});
      }
      auto shares = client->ShareKeys(keys, rng_);
      REQUIRE(shares.ok());
      cohort::v1::ShareKeysRequest req;
      for (const auto& s : *shares) {
        auto* e = req.add_shares();
        e->set_recipient_index(s.index);
        e->set_ciphertext(s.ciphertext);
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
          incoming.push_back({s.sender_index(), s.ciphertext()});
        }
        REQUIRE(clients_[i]->ReceiveShares(incoming).ok());
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

  void UnmaskAll(const std::set<int>& skip = {}) {
    REQUIRE(round_->phase() == cohort::v1::ROUND_PHASE_UNMASKING);
    for (auto& [i, client] : clients_) {
      if (skip.count(i)) continue;
      const cohort::v1::RoundUpdate update = round_->UpdateFor(i);
      if (update.participant_state() == cohort::v1::PARTICIPANT_STATE_DROPPED) continue;
      std::vector<int32_t> surviving(update.unmasking().surviving_neighbours().begin(),
                                     update.unmasking().surviving_neighbours().end());
      std::vector<int32_t> dropped(update.unmasking().dropped_neighbours().begin(),
                                   update.unmasking().dropped_neighbours().end());
      auto shares = client->Unmask(surviving, dropped);
      REQUIRE(shares.ok());
      cohort::v1::SubmitUnmaskingRequest req;
      for (const auto& s : *shares) {
        auto* e = req.add_shares();
        e->set_neighbour_index(s.neighbour_index);
        if (s.kind == secagg::ShareKind::kSelfMaskSeed) {
          e->set_self_mask_seed_share(s.share);
        } else {
          e->set_mask_key_share(s.share);
        }
      }
      REQUIRE(round_->SubmitUnmasking(i, req, now_).ok());
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
  secagg::SecAggClient& client(int i) { return *clients_.at(i); }

 private:
  secagg::FakeRandomSource rng_;
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

// The unmasking answer device `i` gives now.
cohort::v1::SubmitUnmaskingRequest UnmaskingAnswer(Harness& h, int i) {
  const cohort::v1::RoundUpdate update = h.round().UpdateFor(i);
  std::vector<int32_t> surviving(update.unmasking().surviving_neighbours().begin(),
                                 update.unmasking().surviving_neighbours().end());
  std::vector<int32_t> dropped(update.unmasking().dropped_neighbours().begin(),
                               update.unmasking().dropped_neighbours().end());
  auto shares = h.client(i).Unmask(surviving, dropped);
  REQUIRE(shares.ok());
  cohort::v1::SubmitUnmaskingRequest req;
  for (const auto& s : *shares) {
    auto* e = req.add_shares();
    e->set_neighbour_index(s.neighbour_index);
    if (s.kind == secagg::ShareKind::kSelfMaskSeed) {
      e->set_self_mask_seed_share(s.share);
    } else {
      e->set_mask_key_share(s.share);
    }
  }
  return req;
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
  const cohort::v1::SubmitUnmaskingRequest answer = UnmaskingAnswer(h, 1);
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

TEST_CASE("Round_FormingDeadline_ExtendsUntilMinimumThenStartsWithWhatItHas") {
  secagg::FakeRandomSource rng(3);
  auto model = std::make_shared<cohort::v1::Model>();
  model->set_parameters(std::string(36, '\0'));
  RoundSetup setup{"task", 1, "task/r1", Config(false, 10, 3), model, &rng};
  *model->mutable_layout() = setup.config.layout();
  Round round(std::move(setup), kStart);
  REQUIRE(round.Admit("a", kStart).ok());
  REQUIRE(round.Admit("b", kStart).ok());
  round.AdvanceTo(kStart + absl::Seconds(11));
  CHECK(round.phase() == cohort::v1::ROUND_PHASE_FORMING);
  REQUIRE(round.Admit("c", kStart + absl::Seconds(12)).ok());
  CHECK(*round.Admit("a", kStart + absl::Seconds(12)) == 1);  // re-admission resumes
  round.AdvanceTo(kStart + absl::Seconds(22));
  CHECK(round.phase() == cohort::v1::ROUND_PHASE_MASKED_INPUT);
  CHECK(round.Summary().selected() == 3);
}

}  // namespace
}  // namespace cohort::server
