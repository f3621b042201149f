#include "client_sdk/src/secure_round.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "secagg/client_session.h"
#include "secagg/random_source.h"

namespace cohort::client::internal {
namespace {

class SecAggRound final : public SecureRound {
 public:
  explicit SecAggRound(std::unique_ptr<secagg::SecAggClient> client)
      : client_(std::move(client)) {}

  absl::StatusOr<std::string> Serialize() const override { return client_->Serialize(); }

  absl::Status FillAdvertiseKeys(v1::AdvertiseKeysRequest* request) override {
    request->set_cipher_public_key(client_->cipher_public_key().ToBytes());
    request->set_mask_public_key(client_->mask_public_key().ToBytes());
    return absl::OkStatus();
  }

  absl::Status FillShareKeys(const v1::NeighbourKeys& keys,
                             v1::ShareKeysRequest* request) override {
    std::vector<secagg::NeighbourPublicKeys> neighbours;
    neighbours.reserve(keys.neighbours_size());
    for (const v1::NeighbourKeys::Neighbour& n : keys.neighbours()) {
      absl::StatusOr<secagg::PublicKey> cipher =
          secagg::PublicKey::FromBytes(n.cipher_public_key());
      if (!cipher.ok()) return Named(cipher.status(), n.participant_index());
      absl::StatusOr<secagg::PublicKey> mask = secagg::PublicKey::FromBytes(n.mask_public_key());
      if (!mask.ok()) return Named(mask.status(), n.participant_index());
      neighbours.push_back({n.participant_index(), *cipher, *mask});
    }
    absl::StatusOr<std::vector<secagg::EncryptedShare>> shares =
        client_->ShareKeys(neighbours, *secagg::OsRandom());
    if (!shares.ok()) return shares.status();
    for (const secagg::EncryptedShare& s : *shares) {
      v1::ShareKeysRequest::EncryptedShare* out = request->add_shares();
      out->set_recipient_index(s.index);
      out->set_ciphertext(s.ciphertext);
    }
    return absl::OkStatus();
  }

  absl::Status ReceiveShares(const v1::IncomingShares& shares) override {
    std::vector<secagg::EncryptedShare> incoming;
    incoming.reserve(shares.shares_size());
    for (const v1::IncomingShares::Share& s : shares.shares()) {
      incoming.push_back({s.sender_index(), s.ciphertext()});
    }
    return client_->ReceiveShares(incoming);  // idempotent for the same senders
  }

  absl::Status MaskChunk(int64_t offset, absl::Span<uint64_t> values) override {
    return client_->MaskChunk(offset, values);
  }

  absl::Status FillUnmasking(const v1::UnmaskingRequest& request,
                             v1::SubmitUnmaskingRequest* response) override {
    const std::vector<int32_t> surviving(request.surviving_neighbours().begin(),
                                         request.surviving_neighbours().end());
    const std::vector<int32_t> dropped(request.dropped_neighbours().begin(),
                                       request.dropped_neighbours().end());
    absl::StatusOr<std::vector<secagg::UnmaskingShare>> shares =
        client_->Unmask(surviving, dropped);
    if (!shares.ok()) return shares.status();
    for (const secagg::UnmaskingShare& s : *shares) {
      v1::SubmitUnmaskingRequest::NeighbourShare* out = response->add_shares();
      out->set_neighbour_index(s.neighbour_index);
      if (s.kind == secagg::ShareKind::kSelfMaskSeed) {
        out->set_self_mask_seed_share(s.share);
      } else {
        out->set_mask_key_share(s.share);
      }
    }
    return absl::OkStatus();
  }

 private:
  static absl::Status Named(const absl::Status& status, int32_t index) {
    return absl::Status(status.code(), absl::StrCat("neighbour ", index, ": ", status.message()));
  }

  std::unique_ptr<secagg::SecAggClient> client_;
};

absl::StatusOr<secagg::SecAggClientOptions> OptionsOf(const v1::RoundPlan& plan) {
  if (!plan.has_secagg()) {
    return absl::InvalidArgumentError("the round runs without secure aggregation");
  }
  secagg::SecAggClientOptions o;
  o.round_id = plan.round_id();
  o.self_index = plan.participant_index();
  o.num_participants = plan.secagg().num_participants();
  o.neighbour_degree = plan.secagg().neighbour_degree();
  o.threshold = plan.secagg().threshold();
  o.graph_seed = plan.secagg().graph_seed();
  o.modulus_bits = plan.codec().modulus_bits();
  return o;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SecureRound>> SecureRound::Create(const v1::RoundPlan& plan) {
  absl::StatusOr<secagg::SecAggClientOptions> options = OptionsOf(plan);
  if (!options.ok()) return options.status();
  absl::StatusOr<std::unique_ptr<secagg::SecAggClient>> client =
      secagg::SecAggClient::Create(*options, *secagg::OsRandom());
  if (!client.ok()) return client.status();
  return std::unique_ptr<SecureRound>(new SecAggRound(*std::move(client)));
}

absl::StatusOr<std::unique_ptr<SecureRound>> SecureRound::Deserialize(const v1::RoundPlan& plan,
                                                                      const std::string& bytes) {
  absl::StatusOr<secagg::SecAggClientOptions> options = OptionsOf(plan);
  if (!options.ok()) return options.status();
  absl::StatusOr<std::unique_ptr<secagg::SecAggClient>> client =
      secagg::SecAggClient::Deserialize(bytes);
  if (!client.ok()) return client.status();
  const secagg::SecAggClientOptions& o = (*client)->options();
  if (o.round_id != options->round_id || o.self_index != options->self_index ||
      o.modulus_bits != options->modulus_bits) {
    return absl::InvalidArgumentError("persisted secagg session belongs to another round");
  }
  return std::unique_ptr<SecureRound>(new SecAggRound(*std::move(client)));
}

}  // namespace cohort::client::internal
