#include "tests/server/test_device.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "codec/dp_codec.h"
#include "codec/model.h"
#include "codec/update_encoder.h"
#include "google/protobuf/duration.pb.h"
#include "grpcpp/client_context.h"
#include "secagg/client_session.h"
#include "secagg/packing.h"
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

  // Check in until accepted (tests retry quickly instead of honouring the retry window).
  std::string token;
  while (true) {
    if (absl::Now() > deadline) return absl::DeadlineExceededError("never accepted");
    cohort::v1::CheckInRequest request;
    request.set_population(options_.population);
    request.set_device_id(options_.device_id);
    request.set_sdk_version("1.0.0");
    auto* e = request.mutable_eligibility();
    e->set_charging(true);
    e->set_unmetered_network(true);
    e->set_idle(true);
    e->set_battery_percent(90);
    cohort::v1::CheckInResponse response;
    if (absl::Status s = FromGrpc(
            Retried(deadline,
                    [&](grpc::ClientContext* c) { return stub_->CheckIn(c, request, &response); }),
            "CheckIn");
        !s.ok()) {
      return s;
    }
    if (response.has_accepted()) {
      token = response.accepted().session_token();
      result.round_id = response.accepted().round_id();
      break;
    }
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
        o.self_index = plan.participant_index();
        o.num_participants = plan.secagg().num_participants();
        o.neighbour_degree = plan.secagg().neighbour_degree();
        o.threshold = plan.secagg().threshold();
        o.graph_seed = plan.secagg().graph_seed();
        o.modulus_bits = plan.codec().modulus_bits();
        auto created = secagg::SecAggClient::Create(o, rng);
        if (!created.ok()) return created.status();
        client = std::move(*created);
        cohort::v1::AdvertiseKeysRequest request;
        request.set_session_token(token);
        request.set_cipher_public_key(client->cipher_public_key().ToBytes());
        request.set_mask_public_key(client->mask_public_key().ToBytes());
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
        std::vector<secagg::NeighbourPublicKeys> keys;
        for (const auto& n : update.neighbour_keys().neighbours()) {
          auto cipher = secagg::PublicKey::FromBytes(n.cipher_public_key());
          auto mask = secagg::PublicKey::FromBytes(n.mask_public_key());
          if (!cipher.ok()) return cipher.status();
          if (!mask.ok()) return mask.status();
          keys.push_back({n.participant_index(), *cipher, *mask});
        }
        auto shares = client->ShareKeys(keys, rng);
        if (!shares.ok()) return shares.status();
        cohort::v1::ShareKeysRequest request;
        request.set_session_token(token);
        for (const auto& s : *shares) {
          auto* e = request.add_shares();
          e->set_recipient_index(s.index);
          e->set_ciphertext(s.ciphertext);
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
        while (total < 0 || static_cast<int64_t>(model.size()) < total) {
          cohort::v1::DownloadModelRequest request;
          request.set_session_token(token);
          request.set_offset(static_cast<int64_t>(model.size()));
          request.set_max_bytes(options_.download_chunk_bytes);
          cohort::v1::ModelChunk chunk;
          if (absl::Status s = FromGrpc(Retried(deadline,
                                                [&](grpc::ClientContext* c) {
                                                  return stub_->DownloadModel(c, request, &chunk);
                                                }),
                                        "DownloadModel");
              !s.ok()) {
            return s;
          }
          total = chunk.total_size();
          sha = chunk.sha256();
          model += chunk.data();
          if (chunk.data().empty() && static_cast<int64_t>(model.size()) < total) {
            return absl::DataLossError("empty model chunk");
          }
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
            incoming.push_back({s.sender_index(), s.ciphertext()});
          }
          if (absl::Status s = client->ReceiveShares(incoming); !s.ok()) return s;
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
        std::vector<int32_t> surviving(update.unmasking().surviving_neighbours().begin(),
                                       update.unmasking().surviving_neighbours().end());
        std::vector<int32_t> dropped(update.unmasking().dropped_neighbours().begin(),
                                     update.unmasking().dropped_neighbours().end());
        auto shares = client->Unmask(surviving, dropped);
        if (!shares.ok()) return shares.status();
        cohort::v1::SubmitUnmaskingRequest request;
        request.set_session_token(token);
        for (const auto& s : *shares) {
          auto* e = request.add_shares();
          e->set_neighbour_index(s.neighbour_index);
          if (s.kind == secagg::ShareKind::kSelfMaskSeed) {
            e->set_self_mask_seed_share(s.share);
          } else {
            e->set_mask_key_share(s.share);
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
      default:
        break;
    }
    known = phase;
  }
}

}  // namespace cohort::server::test_util
