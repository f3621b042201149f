#include "client_sdk/src/secure_round.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "secagg/client_session.h"
#include "secagg/parameter_finder.h"
#include "secagg/plan_digest.h"
#include "secagg/random_source.h"

namespace cohort::client::internal {
namespace {

secagg::ThreatModel ModelOf(const v1::RoundPlan& plan) {
  return plan.secagg().threat_model() == v1::THREAT_MODEL_SEMI_MALICIOUS
             ? secagg::ThreatModel::kSemiMalicious
             : secagg::ThreatModel::kHonestButCurious;
}

absl::Status Named(const absl::Status& status, int32_t index) {
  return absl::Status(status.code(), absl::StrCat("neighbour ", index, ": ", status.message()));
}

class SecAggRound final : public SecureRound {
 public:
  SecAggRound(std::unique_ptr<secagg::SecAggClient> client,
              const secagg::KeyAuthenticityVerifier* verifier)
      : client_(std::move(client)), verifier_(verifier) {}

  absl::StatusOr<std::string> Serialize() const override { return client_->Serialize(); }
  bool received_shares() const override { return !client_->masking_neighbours().empty(); }

  absl::Status FillAdvertiseKeys(v1::AdvertiseKeysRequest* request) override {
    absl::StatusOr<secagg::Advertisement> a = client_->Advertise();
    if (!a.ok()) return a.status();
    request->set_cipher_public_key(a->cipher_public_key.ToBytes());
    request->set_mask_public_key(a->mask_public_key.ToBytes());
    request->set_signature(a->signature);
    return absl::OkStatus();
  }

  absl::Status FillShareKeys(const v1::NeighbourKeys& keys, absl::Time now,
                             v1::ShareKeysRequest* request) override {
    std::vector<secagg::NeighbourAdvertisement> neighbours;
    neighbours.reserve(static_cast<size_t>(keys.neighbours_size()));
    for (const v1::NeighbourKeys::Neighbour& n : keys.neighbours()) {
      absl::StatusOr<secagg::PublicKey> cipher =
          secagg::PublicKey::FromBytes(n.cipher_public_key());
      if (!cipher.ok()) return Named(cipher.status(), n.participant_index());
      absl::StatusOr<secagg::PublicKey> mask = secagg::PublicKey::FromBytes(n.mask_public_key());
      if (!mask.ok()) return Named(mask.status(), n.participant_index());
      absl::StatusOr<secagg::VerifyingKey> signing =
          secagg::VerifyingKey::FromBytes(n.signing_public_key());
      if (!signing.ok()) return Named(signing.status(), n.participant_index());
      neighbours.push_back({n.participant_index(), *cipher, *mask, *signing,
                            n.advertisement_signature(), n.device_credential()});
    }
    secagg::RosterProof proof;
    proof.leaf_count = keys.roster_proof().leaf_count();
    proof.position = keys.roster_proof().position();
    proof.siblings.assign(keys.roster_proof().siblings().begin(),
                          keys.roster_proof().siblings().end());
    absl::StatusOr<std::vector<secagg::EncryptedShare>> shares =
        client_->ShareKeys(proof, neighbours, verifier_, now, *secagg::OsRandom());
    if (!shares.ok()) return shares.status();
    for (const secagg::EncryptedShare& s : *shares) {
      v1::ShareKeysRequest::EncryptedShare* out = request->add_shares();
      out->set_recipient_index(s.index);
      out->set_ciphertext(s.ciphertext);
      out->set_signature(s.signature);
    }
    return absl::OkStatus();
  }

  absl::Status ReceiveShares(const v1::IncomingShares& shares,
                             v1::ReportSharesRequest* report) override {
    std::vector<secagg::EncryptedShare> incoming;
    incoming.reserve(static_cast<size_t>(shares.shares_size()));
    for (const v1::IncomingShares::Share& s : shares.shares()) {
      incoming.push_back({s.sender_index(), s.ciphertext(), s.signature()});
    }
    // Idempotent for the same senders.
    absl::StatusOr<std::vector<secagg::UnopenableShare>> unopenable =
        client_->ReceiveShares(incoming);
    if (!unopenable.ok()) return unopenable.status();
    if (report != nullptr) {
      for (const secagg::UnopenableShare& u : *unopenable) {
        v1::UnopenableShare* out = report->add_unopenable();
        out->set_sender_index(u.sender);
        out->set_pairwise_mask_seed(u.pairwise_seed.ToBytes());
      }
    }
    return absl::OkStatus();
  }

  absl::Status MaskChunk(int64_t offset, absl::Span<uint64_t> values) override {
    return client_->MaskChunk(offset, values);
  }

  absl::Status FillSignSurvivors(const v1::ConsistencyCheck& check,
                                 v1::SignSurvivorsRequest* request) override {
    const std::vector<int32_t> survivors(check.survivors().begin(), check.survivors().end());
    absl::StatusOr<std::string> signature = client_->SignSurvivors(survivors);
    if (!signature.ok()) return signature.status();
    request->set_signature(*signature);
    return absl::OkStatus();
  }

  absl::Status FillUnmasking(const v1::UnmaskingRequest& request,
                             v1::SubmitUnmaskingRequest* response) override {
    secagg::UnmaskingRequest r;
    r.surviving.assign(request.surviving_neighbours().begin(),
                       request.surviving_neighbours().end());
    r.dropped.assign(request.dropped_neighbours().begin(), request.dropped_neighbours().end());
    r.excluded.assign(request.excluded_neighbours().begin(), request.excluded_neighbours().end());
    r.survivors.assign(request.survivors().begin(), request.survivors().end());
    for (const v1::SurvivorSignature& s : request.survivor_signatures()) {
      r.signatures.push_back({s.signer_index(), s.signature()});
    }
    absl::StatusOr<std::vector<secagg::UnmaskingShare>> shares = client_->Unmask(r);
    if (!shares.ok()) return shares.status();
    for (secagg::UnmaskingShare& s : *shares) {
      v1::SubmitUnmaskingRequest::NeighbourShare* out = response->add_shares();
      out->set_neighbour_index(s.neighbour_index);
      switch (s.kind) {
        case secagg::ShareKind::kSelfMaskSeed:
          out->set_self_mask_seed_share(s.share);
          break;
        case secagg::ShareKind::kMaskKey:
          out->set_mask_key_share(s.share);
          break;
        case secagg::ShareKind::kPairwiseSeed:
          out->set_pairwise_mask_seed(s.share);
          break;
      }
      OPENSSL_cleanse(s.share.data(), s.share.size());
    }
    return absl::OkStatus();
  }

 private:
  std::unique_ptr<secagg::SecAggClient> client_;
  const secagg::KeyAuthenticityVerifier* verifier_;
};

absl::StatusOr<secagg::SecAggClientOptions> OptionsOf(const v1::RoundPlan& plan) {
  if (!plan.has_secagg()) {
    return absl::InvalidArgumentError("the round runs without secure aggregation");
  }
  secagg::SecAggClientOptions o;
  o.round_id = plan.round_id();
  o.plan_digest = secagg::PlanDigest(plan);
  o.self_index = plan.participant_index();
  o.num_participants = plan.secagg().num_participants();
  o.neighbour_degree = plan.secagg().neighbour_degree();
  o.threshold = plan.secagg().threshold();
  o.modulus_bits = plan.codec().modulus_bits();
  o.threat_model = ModelOf(plan);
  return o;
}

}  // namespace

absl::Status CheckPlan(const v1::RoundPlan& plan, const SecAggFloor& floor) {
  if (!plan.has_secagg()) {
    return absl::InvalidArgumentError("the round runs without secure aggregation");
  }
  const v1::SecAggParams& s = plan.secagg();
  if (floor.require_semi_malicious && s.threat_model() != v1::THREAT_MODEL_SEMI_MALICIOUS) {
    return absl::FailedPreconditionError(
        "the plan's threat model is weaker than this device requires (semi-malicious)");
  }
  secagg::ParameterOptions o;
  o.num_participants = s.num_participants();
  o.dropout_rate = std::max(s.dropout_rate(), floor.min_dropout_rate);
  o.corrupted_fraction = std::max(s.corrupted_fraction(), floor.min_corrupted_fraction);
  o.threat_model = ModelOf(plan);
  o.security_bits = std::max(s.security_bits(), floor.min_security_bits);
  o.correctness_bits = std::max(1, s.correctness_bits());
  absl::Status secure = secagg::CheckSecurity(o, s.neighbour_degree(), s.threshold());
  if (secure.ok()) return absl::OkStatus();
  if (secure.code() == absl::StatusCode::kInvalidArgument) {
    return absl::FailedPreconditionError(
        absl::StrCat("the plan's secure aggregation settings are unusable: ", secure.message()));
  }
  absl::StatusOr<secagg::SecAggParameters> own = secagg::FindParameters(o);
  return absl::FailedPreconditionError(absl::StrFormat(
      "refusing the plan's k = %d, t = %d for n = %d: %s (the parameter finder gives %s)",
      s.neighbour_degree(), s.threshold(), s.num_participants(), secure.message(),
      own.ok() ? absl::StrFormat("k = %d, t = %d", own->neighbour_degree, own->threshold)
               : std::string("no parameters at all")));
}

absl::StatusOr<std::unique_ptr<SecureRound>> SecureRound::Create(
    const v1::RoundPlan& plan, const secagg::SigningKey& identity, const SecAggFloor& floor,
    const secagg::KeyAuthenticityVerifier* verifier) {
  if (absl::Status s = CheckPlan(plan, floor); !s.ok()) return s;
  absl::StatusOr<secagg::SecAggClientOptions> options = OptionsOf(plan);
  if (!options.ok()) return options.status();
  absl::StatusOr<std::unique_ptr<secagg::SecAggClient>> client =
      secagg::SecAggClient::Create(*options, identity, *secagg::OsRandom());
  if (!client.ok()) return client.status();
  return std::unique_ptr<SecureRound>(new SecAggRound(*std::move(client), verifier));
}

absl::StatusOr<std::unique_ptr<SecureRound>> SecureRound::Deserialize(
    const v1::RoundPlan& plan, const std::string& bytes,
    const secagg::KeyAuthenticityVerifier* verifier) {
  absl::StatusOr<secagg::SecAggClientOptions> options = OptionsOf(plan);
  if (!options.ok()) return options.status();
  absl::StatusOr<std::unique_ptr<secagg::SecAggClient>> client =
      secagg::SecAggClient::Deserialize(bytes);
  if (!client.ok()) return client.status();
  const secagg::SecAggClientOptions& o = (*client)->options();
  if (o.round_id != options->round_id || o.self_index != options->self_index ||
      o.modulus_bits != options->modulus_bits || o.plan_digest != options->plan_digest) {
    return absl::InvalidArgumentError("persisted secagg session belongs to another round or plan");
  }
  return std::unique_ptr<SecureRound>(new SecAggRound(*std::move(client), verifier));
}

}  // namespace cohort::client::internal
