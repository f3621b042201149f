// Every device request through the server's round (server/core/round.h): the coordinator has
// authenticated the caller (so the participant index is real), everything else is the device's
// choice. A fresh four-device round (threat model from the first byte; its randomness and the
// devices' keys are fixed) takes up to 64 operations:
//   u8 op, u8 participant (mod 4, + 1), u16 size, size bytes parsed as the op's request
//   op 0 AdvertiseKeys, 1 ShareKeys, 2 ReportShares, 3 UploadMaskedInput, 4 SignSurvivors,
//      5 SubmitUnmasking, 6 Leave, 7 advance the clock by size seconds, 8 UpdateFor
// The seeds are honest rounds recorded with SecAgg clients (`--write-seeds DIR`), so mutations
// start from every phase.
// Properties: nothing crashes; the round only moves forward along its phase graph; an update
// can be built for every participant after every call; the honest seeds commit the exact sum.

#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "fuzz/fuzz_input.h"
#include "secagg/client_session.h"
#include "secagg/key_authenticity.h"
#include "secagg/packing.h"
#include "secagg/plan_digest.h"
#include "secagg/testing/fake_random_source.h"
#include "secagg/testing/test_ca.h"
#include "server/core/round.h"
#include "server/core/task_config.h"

namespace {

using cohort::fuzz::Input;
using cohort::fuzz::Output;
using namespace cohort;  // NOLINT: a fuzzer's one translation unit

constexpr int kDevices = 4;
const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);

enum Op : uint8_t {
  kAdvertise,
  kShare,
  kReport,
  kUpload,
  kSign,
  kUnmask,
  kLeave,
  kAdvance,
  kUpdate,
  kOps
};

v1::TaskConfig Config(bool semi) {
  v1::TaskConfig config;
  config.set_population("fuzz");
  auto* t = config.mutable_layout()->add_tensors();
  t->set_name("w");
  t->add_shape(5);
  config.set_target_cohort_size(kDevices);
  config.set_over_selection_factor(1.0);
  config.set_min_participants(3);
  config.mutable_secagg()->set_enabled(true);
  config.mutable_secagg()->set_expected_dropout_rate(0.3);
  config.mutable_secagg()->set_corrupted_fraction(0.0);
  config.mutable_secagg()->set_correctness_bits(2);
  if (semi) config.mutable_secagg()->set_threat_model(v1::THREAT_MODEL_SEMI_MALICIOUS);
  config.mutable_codec()->set_l2_clip_norm(1.0);
  auto* d = config.mutable_deadlines();
  for (auto* phase :
       {d->mutable_forming(), d->mutable_advertise_keys(), d->mutable_share_keys(),
        d->mutable_masked_input(), d->mutable_consistency_check(), d->mutable_unmasking()}) {
    phase->set_seconds(10);
  }
  return *server::ValidateTaskConfig(config);
}

// Order along the phase graph (CONSISTENCY_CHECK sits between MASKED_INPUT and UNMASKING).
int Rank(v1::RoundPhase p) {
  switch (p) {
    case v1::ROUND_PHASE_FORMING:
      return 1;
    case v1::ROUND_PHASE_ADVERTISE_KEYS:
      return 2;
    case v1::ROUND_PHASE_SHARE_KEYS:
      return 3;
    case v1::ROUND_PHASE_MASKED_INPUT:
      return 4;
    case v1::ROUND_PHASE_CONSISTENCY_CHECK:
      return 5;
    case v1::ROUND_PHASE_UNMASKING:
      return 6;
    case v1::ROUND_PHASE_COMMITTED:
    case v1::ROUND_PHASE_FAILED:
      return 7;
    default:
      return 0;
  }
}

struct Setup {
  bool semi = false;
  v1::TaskConfig config;
  std::shared_ptr<const secagg::ParameterTable> table;
  std::optional<secagg::TestCa> ca;
  std::unique_ptr<secagg::CertificateAuthorityVerifier> verifier;
  std::vector<secagg::SigningKey> identities;
  std::vector<std::string> credentials;

  explicit Setup(bool semi_malicious) : semi(semi_malicious), config(Config(semi_malicious)) {
    table = *server::SecAggParameterTable(config);
    secagg::FakeRandomSource rng(3);
    if (semi) {
      ca.emplace(*secagg::TestCa::Create(rng, kStart));
      verifier = *secagg::CertificateAuthorityVerifier::Create(ca->pem());
    }
    for (int i = 0; i < kDevices; ++i) {
      identities.push_back(
          *secagg::SigningKey::FromSeed(std::string(32, static_cast<char>('a' + i))));
      credentials.push_back(semi ? *ca->Issue(identities.back().verifying_key(), kStart) : "");
    }
  }

  // A fresh round with all devices admitted; its own randomness, the same every time.
  std::unique_ptr<server::Round> NewRound(secagg::RandomSource* random) const {
    auto model = std::make_shared<v1::Model>();
    model->set_version(1);
    *model->mutable_layout() = config.layout();  // the round sizes its codec from the model's
    model->set_parameters(std::string(5 * 4, '\0'));
    model->set_sha256(std::string(32, 'x'));
    server::RoundSetup s;
    s.task_id = "task";
    s.round_number = 1;
    s.round_id = "task/r1";
    s.config = config;
    s.base_model = model;
    s.random = random;
    s.secagg_parameters = table;
    s.key_verifier = verifier.get();
    auto round = std::make_unique<server::Round>(std::move(s), kStart);
    for (int i = 0; i < kDevices; ++i) {
      server::DeviceIdentity id{identities[static_cast<size_t>(i)].verifying_key().ToBytes(),
                                credentials[static_cast<size_t>(i)]};
      if (!round->Admit(absl::StrCat("device-", i), id, kStart).ok()) std::abort();
    }
    return round;
  }
};

const Setup& TheSetup(bool semi) {
  static const Setup* hbc = new Setup(false);
  static const Setup* sm = new Setup(true);
  return semi ? *sm : *hbc;
}

// A round and its clock; Apply runs one operation and checks the round's invariants.
struct Replay {
  const Setup& setup;
  secagg::FakeRandomSource random{7};
  std::unique_ptr<server::Round> round = setup.NewRound(&random);
  absl::Time now = kStart;

  template <typename Request>
  static Request Parse(const std::string& bytes) {
    Request r;
    if (!r.ParseFromString(bytes)) r.Clear();
    return r;
  }

  void Apply(uint8_t op, int32_t index, const std::string& bytes) {
    const int before = Rank(round->phase());
    switch (op % kOps) {
      case kAdvertise:
        (void)round->AdvertiseKeys(index, Parse<v1::AdvertiseKeysRequest>(bytes), now);
        break;
      case kShare:
        (void)round->ShareKeys(index, Parse<v1::ShareKeysRequest>(bytes), now);
        break;
      case kReport:
        (void)round->ReportShares(index, Parse<v1::ReportSharesRequest>(bytes), now);
        break;
      case kUpload:
        (void)round->UploadMaskedInput(index, Parse<v1::UploadMaskedInputRequest>(bytes), now);
        break;
      case kSign:
        (void)round->SignSurvivors(index, Parse<v1::SignSurvivorsRequest>(bytes), now);
        break;
      case kUnmask:
        (void)round->SubmitUnmasking(index, Parse<v1::SubmitUnmaskingRequest>(bytes), now);
        break;
      case kLeave:
        (void)round->Leave(index, bytes, now);
        break;
      case kAdvance:
        now += absl::Seconds(static_cast<int64_t>(bytes.size()));
        round->AdvanceTo(now);
        break;
      case kUpdate:
        break;
    }
    if (Rank(round->phase()) < before) std::abort();
    for (int32_t i = 1; i <= kDevices; ++i) (void)round->UpdateFor(i);
  }
};

// An honest round, recorded as fuzz input while it is played.
class Recorder {
 public:
  explicit Recorder(bool semi) : replay_{TheSetup(semi)} {}

  // Plays the round; returns the recording (without the leading threat-model byte).
  std::string Run() {
    Round& r = *replay_.round;
    for (int32_t i = 1; i <= kDevices; ++i) {
      const v1::RoundPlan plan = r.UpdateFor(i).plan();
      secagg::SecAggClientOptions o;
      o.round_id = plan.round_id();
      o.plan_digest = secagg::PlanDigest(plan);
      o.self_index = i;
      o.num_participants = plan.secagg().num_participants();
      o.neighbour_degree = plan.secagg().neighbour_degree();
      o.threshold = plan.secagg().threshold();
      o.modulus_bits = plan.codec().modulus_bits();
      if (replay_.setup.semi) o.threat_model = secagg::ThreatModel::kSemiMalicious;
      clients_[i] = *secagg::SecAggClient::Create(o, replay_.setup.identities[i - 1], rng_);
      const secagg::Advertisement a = *clients_[i]->Advertise();
      v1::AdvertiseKeysRequest req;
      req.set_cipher_public_key(a.cipher_public_key.ToBytes());
      req.set_mask_public_key(a.mask_public_key.ToBytes());
      req.set_signature(a.signature);
      Apply(kAdvertise, i, req);
    }
    for (int32_t i = 1; i <= kDevices; ++i) {
      const v1::RoundUpdate update = r.UpdateFor(i);
      std::vector<secagg::NeighbourAdvertisement> keys;
      for (const auto& n : update.neighbour_keys().neighbours()) {
        keys.push_back({n.participant_index(), *secagg::PublicKey::FromBytes(n.cipher_public_key()),
                        *secagg::PublicKey::FromBytes(n.mask_public_key()),
                        *secagg::VerifyingKey::FromBytes(n.signing_public_key()),
                        n.advertisement_signature(), n.device_credential()});
      }
      const auto& p = update.neighbour_keys().roster_proof();
      const secagg::RosterProof proof{
          p.leaf_count(), p.position(), {p.siblings().begin(), p.siblings().end()}};
      const std::vector<secagg::EncryptedShare> shares =
          *clients_[i]->ShareKeys(proof, keys, replay_.setup.verifier.get(), kStart, rng_);
      v1::ShareKeysRequest req;
      for (const auto& s : shares) {
        auto* e = req.add_shares();
        e->set_recipient_index(s.index);
        e->set_ciphertext(s.ciphertext);
        e->set_signature(s.signature);
      }
      Apply(kShare, i, req);
    }
    for (int32_t i = 1; i <= kDevices; ++i) {
      const v1::RoundUpdate update = r.UpdateFor(i);
      std::vector<secagg::EncryptedShare> incoming;
      for (const auto& s : update.incoming_shares().shares()) {
        incoming.push_back({s.sender_index(), s.ciphertext(), s.signature()});
      }
      (void)*clients_[i]->ReceiveShares(incoming);
      Apply(kReport, i, v1::ReportSharesRequest());
      const auto& codec = update.plan().codec();
      std::vector<uint64_t> x(static_cast<size_t>(codec.vector_length()));
      for (size_t j = 0; j < x.size(); ++j) x[j] = (static_cast<uint64_t>(i) * 31 + j) & 0xff;
      if (!clients_[i]->MaskChunk(0, absl::MakeSpan(x)).ok()) std::abort();
      v1::UploadMaskedInputRequest req;
      req.set_chunk_index(0);
      req.set_data(*secagg::Pack(x, codec.modulus_bits()));
      Apply(kUpload, i, req);
    }
    if (replay_.setup.semi) {
      for (int32_t i = 1; i <= kDevices; ++i) {
        const v1::RoundUpdate update = r.UpdateFor(i);
        const auto& c = update.consistency_check();
        v1::SignSurvivorsRequest req;
        req.set_signature(*clients_[i]->SignSurvivors(
            std::vector<int32_t>(c.survivors().begin(), c.survivors().end())));
        Apply(kSign, i, req);
      }
    }
    for (int32_t i = 1; i <= kDevices; ++i) {
      const v1::RoundUpdate update = r.UpdateFor(i);
      const auto& u = update.unmasking();
      secagg::UnmaskingRequest request;
      request.surviving.assign(u.surviving_neighbours().begin(), u.surviving_neighbours().end());
      request.dropped.assign(u.dropped_neighbours().begin(), u.dropped_neighbours().end());
      request.excluded.assign(u.excluded_neighbours().begin(), u.excluded_neighbours().end());
      request.survivors.assign(u.survivors().begin(), u.survivors().end());
      for (const auto& sig : u.survivor_signatures()) {
        request.signatures.push_back({sig.signer_index(), sig.signature()});
      }
      v1::SubmitUnmaskingRequest req;
      const std::vector<secagg::UnmaskingShare> answer = *clients_[i]->Unmask(request);
      for (const auto& s : answer) {
        auto* e = req.add_shares();
        e->set_neighbour_index(s.neighbour_index);
        if (s.kind == secagg::ShareKind::kSelfMaskSeed) e->set_self_mask_seed_share(s.share);
        if (s.kind == secagg::ShareKind::kMaskKey) e->set_mask_key_share(s.share);
        if (s.kind == secagg::ShareKind::kPairwiseSeed) e->set_pairwise_mask_seed(s.share);
      }
      Apply(kUnmask, i, req);
    }
    if (!r.ready_to_commit()) std::abort();  // the honest round must complete
    return recorded_;
  }

 private:
  using Round = server::Round;
  void Apply(Op op, int32_t index, const google::protobuf::Message& request) {
    const std::string bytes = request.SerializeAsString();
    Output header;
    header.U8(op).U8(static_cast<uint8_t>(index - 1)).U64(bytes.size(), 2);
    recorded_ += header.bytes() + bytes;
    replay_.Apply(op, index, bytes);
  }

  Replay replay_;
  secagg::FakeRandomSource rng_{8};
  std::map<int32_t, std::unique_ptr<secagg::SecAggClient>> clients_;
  std::string recorded_;
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  std::vector<std::string> seeds;
  for (bool semi : {false, true}) {
    Recorder recorder(semi);
    seeds.push_back(std::string(1, semi ? '\x01' : '\x00') + recorder.Run());
  }
  cohort::fuzz::MaybeWriteSeeds(*argc, *argv, seeds);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in(data, size);
  Replay replay{TheSetup((in.U8() & 1) != 0)};
  for (int op = 0; op < 64 && !in.empty(); ++op) {
    const uint8_t kind = in.U8();
    const int32_t index = 1 + in.U8() % kDevices;
    const std::string bytes = in.Bytes(static_cast<size_t>(in.U64(2)));
    replay.Apply(kind, index, bytes);
  }
  return 0;
}
