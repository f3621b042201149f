#include "tests/server/test_device.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "base/version.h"
#include "codec/dp_codec.h"
#include "codec/model.h"
#include "codec/update_encoder.h"
#include "google/protobuf/duration.pb.h"
#include "grpcpp/client_context.h"
#include "secagg/client_session.h"
#include "secagg/packing.h"
#include "secagg/plan_digest.h"
#include "secagg/signed_messages.h"
#include "secagg/signing.h"
#include "secagg/testing/fake_random_source.h"

namespace cohort::server::test_util {

cohort::v1::RoundPhase StalledPhase(StopAt stop) {
  switch (stop) {
    case StopAt::kBeforeKeys:
      return cohort::v1::ROUND_PHASE_ADVERTISE_KEYS;
    case StopAt::kAfterKeys:
      return cohort::v1::ROUND_PHASE_SHARE_KEYS;
    case StopAt::kAfterShares:
      return cohort::v1::ROUND_PHASE_MASKED_INPUT;
    case StopAt::kAfterMaskedInput:
      return cohort::v1::ROUND_PHASE_UNMASKING;
    case StopAt::kNever:
      break;
  }
  return cohort::v1::ROUND_PHASE_UNSPECIFIED;
}
namespace {

using cohort::v1::RoundPhase;

absl::Status FromGrpc(const grpc::Status& s, absl::string_view call) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      absl::StrCat(call, ": ", s.error_message()));
}

std::unique_ptr<grpc::ClientContext> Context(absl::Duration timeout) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
  return context;
}

// A device call, sent again while it runs out of time: the server accepts identical repeats
// (docs/protocol.md), and on a loaded machine one call can take longer than its deadline, which
// says nothing about the server. A server that is gone (UNAVAILABLE) is not retried: the
// recovery tests kill it on purpose.
constexpr absl::Duration kCallTimeout = absl::Seconds(30);

template <typename Call>
grpc::Status Retried(absl::Time until, Call call) {
  while (true) {
    auto context = Context(kCallTimeout);
    grpc::Status s = call(context.get());
    if (s.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED || absl::Now() > until) return s;
  }
}

}  // namespace

void DeviceLog::Done(RoundPhase phase) {
  absl::MutexLock lock(&mu_);
  ++done_[phase];
}

int DeviceLog::DoneWith(RoundPhase phase) const {
  absl::MutexLock lock(&mu_);
  auto it = done_.find(phase);
  return it == done_.end() ? 0 : it->second;
}

bool DeviceLog::AwaitDoneWith(RoundPhase phase, int n, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto reached = [&]() {
    auto it = done_.find(phase);
    return it != done_.end() && it->second >= n;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
}

PhaseGate::PhaseGate(RoundPhase phase) : phase_(phase) {}

PhaseGate::~PhaseGate() { Open(); }

std::function<void(RoundPhase)> PhaseGate::Hook() {
  return [state = state_, held_phase = phase_](RoundPhase phase) {
    if (phase != held_phase) return;
    absl::MutexLock lock(&state->mu);
    ++state->held;
    state->mu.Await(absl::Condition(&state->open));
  };
}

bool PhaseGate::AwaitHeld(int n, absl::Duration timeout) {
  State& state = *state_;
  absl::MutexLock lock(&state.mu);
  auto reached = [&state, n]() { return state.held >= n; };
  return state.mu.AwaitWithTimeout(absl::Condition(&reached), timeout);
}

void PhaseGate::Open() {
  absl::MutexLock lock(&state_->mu);
  state_->open = true;
}

absl::StatusOr<std::vector<uint64_t>> EncodeForRound(const cohort::v1::CodecParams& codec,
                                                     const std::vector<float>& delta,
                                                     int64_t examples, uint64_t seed) {
  // A DP round: the device's noise share comes from the OS CSPRNG, as on a phone.
  absl::StatusOr<codec::EncodedUpdate> encoded =
      codec.has_dp() ? codec::EncodeDpUpdate(codec, delta, examples, *secagg::OsRandom())
                     : codec::EncodeUpdate(codec, delta, examples, seed);
  if (!encoded.ok()) return encoded.status();
  return std::move(encoded->values);
}

TestDevice::TestDevice(std::shared_ptr<cohort::v1::DeviceService::StubInterface> stub,
                       TestDeviceOptions options)
    : stub_(std::move(stub)), options_(std::move(options)) {}

TestDevice::~TestDevice() = default;

absl::StatusOr<TestDevice::Result> TestDevice::Run(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  secagg::FakeRandomSource rng(options_.seed * 7919 + 17);
  Result result;
  std::string seed = options_.identity_seed;
  if (seed.empty()) {
    seed = codec::Sha256(absl::StrCat("test device key ", options_.device_id));
  }
  absl::StatusOr<secagg::SigningKey> identity = secagg::SigningKey::FromSeed(seed);
  if (!identity.ok()) return identity.status();

  // Check in until accepted (tests retry quickly instead of honouring the retry window).
  std::string token;
  std::string last_refusal = "no answer";  // says why, should a test time out here
  while (true) {
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("never accepted; last answer: ", last_refusal));
    }
    cohort::v1::CheckInRequest request;
    request.set_population(options_.population);
    request.set_device_id(options_.device_id);
    request.set_sdk_version(cohort::kProtocolVersion);
    request.set_device_public_key(identity->verifying_key().ToBytes());
    auto signature =
        identity->Sign(secagg::CheckInMessage(options_.population, options_.device_id));
    if (!signature.ok()) return signature.status();
    request.set_device_key_signature(*signature);
    request.set_device_credential(options_.credential);
    auto* e = request.mutable_eligibility();
    e->set_charging(true);
    e->set_unmetered_network(true);
    e->set_idle(true);
    e->set_battery_percent(90);
    cohort::v1::CheckInResponse response;
    const grpc::Status checked_in = Retried(deadline, [&](grpc::ClientContext* c) {
      // A first connect that fails (seen once on a loaded machine) would otherwise end the
      // device at once with UNAVAILABLE, and its round would wait for it until the test timed
      // out; wait-for-ready lets the channel reconnect within the call's deadline.
      c->set_wait_for_ready(true);
      return stub_->CheckIn(c, request, &response);
    });
    if (checked_in.error_code() == grpc::StatusCode::PERMISSION_DENIED) {
      // Refused outright (an impostor): the caller inspects this.
      result.check_in_error = checked_in.error_code();
      result.check_in_message = checked_in.error_message();
      return result;
    }
    if (absl::Status s = FromGrpc(checked_in, "CheckIn"); !s.ok()) return s;
    if (response.has_accepted()) {
      token = response.accepted().session_token();
      result.round_id = response.accepted().round_id();
      break;
    }
    last_refusal = response.retry_later().reason();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  result.accepted = true;
  result.session_token = token;

  std::unique_ptr<secagg::SecAggClient> client;
  RoundPhase known = cohort::v1::ROUND_PHASE_UNSPECIFIED;
  while (true) {
    if (absl::Now() > deadline) return absl::DeadlineExceededError("round did not end in time");
    cohort::v1::WaitForPhaseRequest wait;
    wait.set_session_token(token);
    wait.set_known_phase(known);
    wait.mutable_max_wait()->set_seconds(absl::ToInt64Seconds(options_.max_wait));
    cohort::v1::RoundUpdate update;
    auto context = Context(options_.max_wait + kCallTimeout);
    const grpc::Status polled = stub_->WaitForPhase(context.get(), wait, &update);
    if (polled.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) continue;  // poll again
    if (absl::Status s = FromGrpc(polled, "WaitForPhase"); !s.ok()) return s;
    result.last_phase = update.phase();
    if (update.has_plan()) result.participant_index = update.plan().participant_index();
    if (update.phase() == cohort::v1::ROUND_PHASE_COMMITTED ||
        update.phase() == cohort::v1::ROUND_PHASE_FAILED) {
      result.outcome = update.outcome();
      result.dropped = update.participant_state() == cohort::v1::PARTICIPANT_STATE_DROPPED;
      result.dropped_reason = update.dropped_reason();
      return result;
    }
    if (update.participant_state() == cohort::v1::PARTICIPANT_STATE_DROPPED) {
      result.dropped = true;
      result.dropped_reason = update.dropped_reason();
      return result;
    }
    if (update.phase() == known) continue;  // long-poll timed out without a change
    const cohort::v1::RoundPlan& plan = update.plan();
    const RoundPhase phase = update.phase();
    if (phase != cohort::v1::ROUND_PHASE_FORMING && options_.on_phase) options_.on_phase(phase);
    // Marks this device done with the phase: it acted (whatever the answer) or vanished.
    auto done = [&] {
      if (options_.log != nullptr) options_.log->Done(phase);
    };
    switch (phase) {
      case cohort::v1::ROUND_PHASE_FORMING:
        break;
      case cohort::v1::ROUND_PHASE_ADVERTISE_KEYS: {
        if (options_.stop_at == StopAt::kBeforeKeys) {
          result.vanished = true;
          done();
          return result;
        }
        secagg::SecAggClientOptions o;
        o.round_id = plan.round_id();
        o.plan_digest = secagg::PlanDigest(plan);
        o.self_index = plan.participant_index();
        o.num_participants = plan.secagg().num_participants();
        o.neighbour_degree = plan.secagg().neighbour_degree();
        o.threshold = plan.secagg().threshold();
        o.modulus_bits = plan.codec().modulus_bits();
        o.threat_model = plan.secagg().threat_model() == cohort::v1::THREAT_MODEL_SEMI_MALICIOUS
                             ? secagg::ThreatModel::kSemiMalicious
                             : secagg::ThreatModel::kHonestButCurious;
        auto created = secagg::SecAggClient::Create(o, *identity, rng);
        if (!created.ok()) return created.status();
        client = std::move(*created);
        auto advertisement = client->Advertise();
        if (!advertisement.ok()) return advertisement.status();
        cohort::v1::AdvertiseKeysRequest request;
        request.set_session_token(token);
        request.set_cipher_public_key(advertisement->cipher_public_key.ToBytes());
        request.set_mask_public_key(advertisement->mask_public_key.ToBytes());
        request.set_signature(advertisement->signature);
        cohort::v1::AdvertiseKeysResponse response;
        if (absl::Status s = FromGrpc(Retried(deadline,
                                              [&](grpc::ClientContext* c) {
                                                return stub_->AdvertiseKeys(c, request, &response);
                                              }),
                                      "AdvertiseKeys");
            !s.ok()) {
          return s;
        }
        done();
        break;
      }
      case cohort::v1::ROUND_PHASE_SHARE_KEYS: {
        if (options_.stop_at == StopAt::kAfterKeys) {
          result.vanished = true;
          done();
          return result;
        }
        std::vector<secagg::NeighbourAdvertisement> keys;
        for (const auto& n : update.neighbour_keys().neighbours()) {
          auto cipher = secagg::PublicKey::FromBytes(n.cipher_public_key());
          auto mask = secagg::PublicKey::FromBytes(n.mask_public_key());
          auto signing = secagg::VerifyingKey::FromBytes(n.signing_public_key());
          if (!cipher.ok()) return cipher.status();
          if (!mask.ok()) return mask.status();
          if (!signing.ok()) return signing.status();
          keys.push_back({n.participant_index(), *cipher, *mask, *signing,
                          n.advertisement_signature(), n.device_credential()});
        }
        secagg::RosterProof proof;
        proof.leaf_count = update.neighbour_keys().roster_proof().leaf_count();
        proof.position = update.neighbour_keys().roster_proof().position();
        proof.siblings.assign(update.neighbour_keys().roster_proof().siblings().begin(),
                              update.neighbour_keys().roster_proof().siblings().end());
        auto shares = client->ShareKeys(proof, keys, options_.verifier, absl::Now(), rng);
        if (!shares.ok()) return shares.status();
        cohort::v1::ShareKeysRequest request;
        request.set_session_token(token);
        const std::string digest = secagg::PlanDigest(plan);
        for (const auto& s : *shares) {
          auto* e = request.add_shares();
          e->set_recipient_index(s.index);
          e->set_ciphertext(s.ciphertext);
          if (options_.garbage_bundles) {
            std::string junk(s.ciphertext.size(), '\0');
            rng.Fill(absl::MakeSpan(reinterpret_cast<uint8_t*>(junk.data()), junk.size()));
            e->set_ciphertext(junk);
          } else if (options_.replay_bundles && previous_shares_.shares_size() > 0) {
            // Every neighbour gets an old bundle, whatever the new graph: the one the previous
            // Run sent to the same index if there was one, else another old one (the graph is
            // drawn anew each round, so the neighbours of this round may have had none).
            const auto& olds = previous_shares_.shares();
            e->set_ciphertext(olds.Get((request.shares_size() - 1) % olds.size()).ciphertext());
            for (const auto& old : olds) {
              if (old.recipient_index() == s.index) e->set_ciphertext(old.ciphertext());
            }
          }
          // Whatever it sends, the device signs: the garbage is provably its own.
          auto signature = identity->Sign(
              secagg::BundleMessage(digest, plan.participant_index(), s.index, e->ciphertext()));
          if (!signature.ok()) return signature.status();
          e->set_signature(*signature);
        }
        if (!options_.replay_bundles || previous_shares_.shares_size() == 0) {
          previous_shares_ = request;
        }
        cohort::v1::ShareKeysResponse response;
        if (absl::Status s = FromGrpc(Retried(deadline,
                                              [&](grpc::ClientContext* c) {
                                                return stub_->ShareKeys(c, request, &response);
                                              }),
                                      "ShareKeys");
            !s.ok()) {
          return s;
        }
        done();
        break;
      }
      case cohort::v1::ROUND_PHASE_MASKED_INPUT: {
        if (options_.stop_at == StopAt::kAfterShares) {
          result.vanished = true;
          done();
          return result;
        }
        // Download the model in chunks and check it.
        std::string model;
        int64_t total = -1;
        std::string sha;
        bool refused = false;
        while (total < 0 || static_cast<int64_t>(model.size()) < total) {
          cohort::v1::DownloadModelRequest request;
          request.set_session_token(token);
          request.set_offset(static_cast<int64_t>(model.size()));
          request.set_max_bytes(options_.download_chunk_bytes);
          cohort::v1::ModelChunk chunk;
          const grpc::Status downloaded = Retried(deadline, [&](grpc::ClientContext* c) {
            return stub_->DownloadModel(c, request, &chunk);
          });
          // A device whose bundles do not open may be excluded as soon as its neighbours have
          // reported, before it has downloaded: the next poll says DROPPED. (An honest device
          // refused here is an error.)
          if (downloaded.error_code() == grpc::StatusCode::FAILED_PRECONDITION &&
              (options_.garbage_bundles || options_.replay_bundles)) {
            refused = true;
            break;
          }
          if (absl::Status s = FromGrpc(downloaded, "DownloadModel"); !s.ok()) return s;
          total = chunk.total_size();
          sha = chunk.sha256();
          model += chunk.data();
          if (chunk.data().empty() && static_cast<int64_t>(model.size()) < total) {
            return absl::DataLossError("empty model chunk");
          }
        }
        if (refused) {
          done();
          break;
        }
        if (codec::Sha256(model) != sha || sha != plan.model_sha256()) {
          return absl::DataLossError("model checksum mismatch");
        }
        const auto& codec = plan.codec();
        auto encoded = EncodeForRound(codec, options_.delta, options_.examples, options_.seed);
        if (!encoded.ok()) return encoded.status();
        if (client != nullptr) {
          std::vector<secagg::EncryptedShare> incoming;
          for (const auto& s : update.incoming_shares().shares()) {
            incoming.push_back({s.sender_index(), s.ciphertext(), s.signature()});
          }
          auto unopenable = client->ReceiveShares(incoming);
          if (!unopenable.ok()) return unopenable.status();
          cohort::v1::ReportSharesRequest report;
          report.set_session_token(token);
          for (const auto& u : *unopenable) {
            auto* r = report.add_unopenable();
            r->set_sender_index(u.sender);
            r->set_pairwise_mask_seed(u.pairwise_seed.ToBytes());
          }
          cohort::v1::ReportSharesResponse response;
          auto ctx = Context(kCallTimeout);
          const grpc::Status reported = stub_->ReportShares(ctx.get(), report, &response);
          // Refused when the device was excluded meanwhile: the next poll says DROPPED.
          if (!reported.ok() && reported.error_code() != grpc::StatusCode::FAILED_PRECONDITION) {
            return FromGrpc(reported, "ReportShares");
          }
        }
        std::vector<uint64_t> input = std::move(*encoded);
        if (options_.wrong_vector_length) input.pop_back();
        const int64_t c = codec.chunk_elements();
        const int64_t chunks = (static_cast<int64_t>(input.size()) + c - 1) / c;
        for (int64_t i = 0; i < chunks; ++i) {
          const int64_t begin = i * c;
          const int64_t end = std::min<int64_t>(begin + c, static_cast<int64_t>(input.size()));
          std::vector<uint64_t> chunk(input.begin() + begin, input.begin() + end);
          if (client != nullptr) {
            if (absl::Status s = client->MaskChunk(begin, absl::MakeSpan(chunk)); !s.ok()) {
              return s;
            }
          }
          std::string data;
          if (codec.encoding() == cohort::v1::UPDATE_ENCODING_FLOAT32) {
            data.resize(chunk.size() * 4);
            for (size_t j = 0; j < chunk.size(); ++j) {
              const uint32_t bits = static_cast<uint32_t>(chunk[j]);
              std::memcpy(data.data() + 4 * j, &bits, 4);
            }
          } else {
            auto packed = secagg::Pack(chunk, codec.modulus_bits());
            if (!packed.ok()) return packed.status();
            data = std::move(*packed);
          }
          cohort::v1::UploadMaskedInputRequest request;
          request.set_session_token(token);
          request.set_chunk_index(i);
          request.set_data(std::move(data));
          cohort::v1::UploadMaskedInputResponse response;
          const grpc::Status s = Retried(deadline, [&](grpc::ClientContext* c) {
            return stub_->UploadMaskedInput(c, request, &response);
          });
          if (!s.ok()) {
            result.upload_error = s.error_code();
            break;
          }
        }
        done();
        break;
      }
      case cohort::v1::ROUND_PHASE_UNMASKING: {
        if (options_.stop_at == StopAt::kAfterMaskedInput) {
          result.vanished = true;
          done();
          return result;
        }
        secagg::UnmaskingRequest u;
        const auto& r = update.unmasking();
        u.surviving.assign(r.surviving_neighbours().begin(), r.surviving_neighbours().end());
        u.dropped.assign(r.dropped_neighbours().begin(), r.dropped_neighbours().end());
        u.excluded.assign(r.excluded_neighbours().begin(), r.excluded_neighbours().end());
        u.survivors.assign(r.survivors().begin(), r.survivors().end());
        for (const auto& sig : r.survivor_signatures()) {
          u.signatures.push_back({sig.signer_index(), sig.signature()});
        }
        auto shares = client->Unmask(u);
        if (!shares.ok()) return shares.status();
        cohort::v1::SubmitUnmaskingRequest request;
        request.set_session_token(token);
        for (const auto& s : *shares) {
          auto* e = request.add_shares();
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
        cohort::v1::SubmitUnmaskingResponse response;
        if (absl::Status s = FromGrpc(Retried(deadline,
                                              [&](grpc::ClientContext* c) {
                                                return stub_->SubmitUnmasking(c, request,
                                                                              &response);
                                              }),
                                      "SubmitUnmasking");
            !s.ok()) {
          return s;
        }
        done();
        break;
      }
      case cohort::v1::ROUND_PHASE_CONSISTENCY_CHECK: {
        std::vector<int32_t> survivors(update.consistency_check().survivors().begin(),
                                       update.consistency_check().survivors().end());
        auto signature = client->SignSurvivors(survivors);
        if (!signature.ok()) return signature.status();
        cohort::v1::SignSurvivorsRequest request;
        request.set_session_token(token);
        request.set_signature(*signature);
        cohort::v1::SignSurvivorsResponse response;
        auto ctx = Context(kCallTimeout);
        if (absl::Status s =
                FromGrpc(stub_->SignSurvivors(ctx.get(), request, &response), "SignSurvivors");
            !s.ok()) {
          return s;
        }
        break;
      }
      default:
        break;
    }
    known = phase;
  }
}

}  // namespace cohort::server::test_util
