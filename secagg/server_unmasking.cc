#include "secagg/server_unmasking.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace cohort::secagg {
namespace {

absl::Status Annotate(const absl::Status& s, absl::string_view what) {
  return absl::Status(s.code(), absl::StrCat(what, ": ", s.message()));
}

const char* KindName(ShareKind kind) {
  switch (kind) {
    case ShareKind::kSelfMaskSeed:
      return "self-mask-seed";
    case ShareKind::kMaskKey:
      return "mask-key";
    case ShareKind::kPairwiseSeed:
      return "pairwise-seed";
  }
  return "?";
}

}  // namespace

ServerUnmasking::ServerUnmasking(NeighbourGraph graph, ServerUnmaskingOptions options)
    : graph_(std::move(graph)), options_(std::move(options)) {}

ServerUnmasking::~ServerUnmasking() = default;

bool ServerUnmasking::MaskedWith(int32_t u, int32_t v) const {
  if (!graph_.AreNeighbours(u, v)) return false;
  auto in_u2 = [](Role r) { return r == Role::kDropped || r == Role::kSurvived; };
  return in_u2(device(u).role) && in_u2(device(v).role) && !Reported(v, u);
}

std::vector<int32_t> ServerUnmasking::HoldersOf(int32_t v) const {
  std::vector<int32_t> out;
  for (int32_t u : graph_.Neighbours(v)) {
    if (device(u).role == Role::kSurvived && MaskedWith(u, v)) out.push_back(u);
  }
  return out;
}

absl::StatusOr<std::unique_ptr<ServerUnmasking>> ServerUnmasking::Create(
    const NeighbourGraph& graph, ServerUnmaskingOptions options) {
  if (options.modulus_bits < kMinModulusBits || options.modulus_bits > kMaxModulusBits) {
    return absl::InvalidArgumentError(
        absl::StrCat("modulus_bits ", options.modulus_bits, " is outside [8, 62]"));
  }
  if (options.threshold < 2 || options.threshold > graph.degree()) {
    return absl::InvalidArgumentError(
        absl::StrCat("threshold ", options.threshold, " is outside 2..", graph.degree()));
  }
  if (options.vector_length < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("vector_length ", options.vector_length, " is negative"));
  }
  const int32_t n = graph.num_participants();
  std::unique_ptr<ServerUnmasking> u(new ServerUnmasking(graph, std::move(options)));
  u->devices_.resize(static_cast<size_t>(n) + 1);
  u->responded_.assign(static_cast<size_t>(n) + 1, false);
  for (const AdvertisedKeys& k : u->options_.advertised) {
    if (!graph.Contains(k.index)) {
      return absl::InvalidArgumentError(
          absl::StrCat("advertised device ", k.index, " is outside 1..", n));
    }
    Device& d = u->devices_[static_cast<size_t>(k.index)];
    if (d.role != Role::kAbsent) {
      return absl::InvalidArgumentError(absl::StrCat("device ", k.index, " advertised twice"));
    }
    d.role = Role::kAdvertised;
    d.keys = k;
  }
  for (int32_t i : u->options_.shared_keys) {
    if (!graph.Contains(i) || u->devices_[static_cast<size_t>(i)].role != Role::kAdvertised) {
      return absl::InvalidArgumentError(absl::StrCat(
          "device ", i, " is in the shared-keys set twice or without advertised keys"));
    }
    u->devices_[static_cast<size_t>(i)].role = Role::kDropped;
  }
  for (int32_t i : u->options_.masked_input) {
    if (!graph.Contains(i) || u->devices_[static_cast<size_t>(i)].role != Role::kDropped) {
      return absl::InvalidArgumentError(absl::StrCat(
          "device ", i, " is in the masked-input set twice or without having shared keys"));
    }
    u->devices_[static_cast<size_t>(i)].role = Role::kSurvived;
  }
  auto in_u2 = [&](int32_t i) {
    if (!graph.Contains(i)) return false;
    const Role r = u->devices_[static_cast<size_t>(i)].role;
    return r == Role::kDropped || r == Role::kSurvived;
  };
  for (const UnopenableReport& r : u->options_.unopenable) {
    if (!in_u2(r.sender) || !in_u2(r.recipient) || !graph.AreNeighbours(r.sender, r.recipient)) {
      return absl::InvalidArgumentError(absl::StrCat("device ", r.recipient, " reported ", r.sender,
                                                     ", which is not its neighbour in U2"));
    }
    if (r.pairwise_seed.size() != kSecretKeySize) {
      return absl::InvalidArgumentError(absl::StrCat("device ", r.recipient,
                                                     "'s pairwise seed for ", r.sender, " is ",
                                                     r.pairwise_seed.size(), " bytes"));
    }
    if (!u->reports_.emplace(std::make_pair(r.sender, r.recipient), r.pairwise_seed).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("device ", r.recipient, " reported ", r.sender, " twice"));
    }
  }
  // A dropped device whose survivors-that-masked-with-it are fewer than t cannot have its key
  // rebuilt: those survivors reveal their pairwise seeds with it instead.
  for (int32_t v = 1; v <= n; ++v) {
    if (u->device(v).role != Role::kDropped) continue;
    const size_t holders = u->HoldersOf(v).size();
    if (holders > 0 && holders < static_cast<size_t>(u->options_.threshold)) {
      u->excluded_.insert(v);
    }
  }
  return u;
}

UnmaskingRequestLists ServerUnmasking::RequestFor(int32_t responder) const {
  UnmaskingRequestLists lists;
  if (!graph_.Contains(responder) || device(responder).role != Role::kSurvived) return lists;
  for (int32_t v : graph_.Neighbours(responder)) {
    if (!MaskedWith(responder, v)) continue;
    if (device(v).role == Role::kSurvived) {
      lists.surviving.push_back(v);
    } else if (excluded_.count(v) != 0) {
      lists.excluded.push_back(v);
    } else {
      lists.dropped.push_back(v);
    }
  }
  return lists;
}

absl::Status ServerUnmasking::AddResponse(int32_t responder,
                                          absl::Span<const UnmaskingShare> shares) {
  if (reconstructed_) {
    return absl::FailedPreconditionError("unmasking responses after the secrets were rebuilt");
  }
  if (!graph_.Contains(responder) || device(responder).role != Role::kSurvived) {
    return absl::FailedPreconditionError(absl::StrCat(
        "device ", responder, " is not in the masked sum and cannot answer the unmasking"));
  }
  if (responded_[static_cast<size_t>(responder)]) {
    return absl::FailedPreconditionError(
        absl::StrCat("device ", responder, " already answered the unmasking"));
  }
  const UnmaskingRequestLists request = RequestFor(responder);
  std::map<int32_t, ShareKind> expected;
  for (int32_t v : request.surviving) expected[v] = ShareKind::kSelfMaskSeed;
  for (int32_t v : request.dropped) expected[v] = ShareKind::kMaskKey;
  for (int32_t v : request.excluded) expected[v] = ShareKind::kPairwiseSeed;
  std::map<int32_t, const UnmaskingShare*> answered;
  for (const UnmaskingShare& s : shares) {
    auto it = expected.find(s.neighbour_index);
    if (it == expected.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("device ", responder, " answered for ", s.neighbour_index,
                       ", which is not a neighbour it was asked about"));
    }
    if (it->second != s.kind) {
      return absl::InvalidArgumentError(
          absl::StrCat("device ", responder, " sent a ", KindName(s.kind), " answer for ",
                       s.neighbour_index, ", which needs a ", KindName(it->second), " answer"));
    }
    const size_t want = s.kind == ShareKind::kPairwiseSeed ? kSecretKeySize : kShamirShareSize;
    if (s.share.size() != want) {
      return absl::InvalidArgumentError(absl::StrCat("device ", responder, "'s answer for ",
                                                     s.neighbour_index, " is ", s.share.size(),
                                                     " bytes, expected ", want));
    }
    if (!answered.emplace(s.neighbour_index, &s).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("device ", responder, " answered twice for ", s.neighbour_index));
    }
  }
  if (answered.size() != expected.size()) {
    return absl::InvalidArgumentError(absl::StrCat("device ", responder, " answered for ",
                                                   answered.size(), " neighbours, expected ",
                                                   expected.size()));
  }
  for (const auto& [v, s] : answered) {
    Device& d = devices_[static_cast<size_t>(v)];
    if (s->kind == ShareKind::kPairwiseSeed) {
      d.pairwise[responder] = s->share;
    } else {
      d.shares.push_back({responder, s->share});
    }
  }
  responded_[static_cast<size_t>(responder)] = true;
  responders_.push_back(responder);
  return absl::OkStatus();
}

std::vector<int32_t> ServerUnmasking::ShortOfShares() const {
  std::vector<int32_t> out;
  const size_t t = static_cast<size_t>(options_.threshold);
  for (int32_t i = 1; i <= graph_.num_participants(); ++i) {
    const Device& d = device(i);
    if (d.role == Role::kSurvived) {
      if (d.shares.size() < t) out.push_back(i);
    } else if (d.role == Role::kDropped) {
      if (excluded_.count(i) != 0) {
        if (d.pairwise.size() < HoldersOf(i).size()) out.push_back(i);
      } else if (d.shares.size() < t && !HoldersOf(i).empty()) {
        out.push_back(i);
      }
    }
  }
  return out;
}

bool ServerUnmasking::ReadyToUnmask() const { return ShortOfShares().empty(); }

absl::Status ServerUnmasking::ReconstructSecrets() {
  if (reconstructed_) return absl::OkStatus();
  if (std::vector<int32_t> short_of = ShortOfShares(); !short_of.empty()) {
    const int32_t i = short_of.front();
    const Device& d = device(i);
    return absl::FailedPreconditionError(absl::StrCat(
        "device ", i, " (", d.role == Role::kSurvived ? "survived" : "dropped", ") has ",
        excluded_.count(i) != 0 ? d.pairwise.size() : d.shares.size(),
        excluded_.count(i) != 0 ? " pairwise seeds of the survivors that masked with it"
                                : " shares, fewer than the threshold",
        ": its mask cannot be removed"));
  }
  MaskStreams streams(options_.modulus_bits);
  std::map<int32_t, KeyPair> dropped_keys;  // rebuilt mask keys of dropped devices
  for (int32_t i = 1; i <= graph_.num_participants(); ++i) {
    const Device& d = device(i);
    if (d.role == Role::kSurvived) {
      absl::StatusOr<SecretKey> secret = ShamirReconstruct(d.shares, options_.threshold);
      if (!secret.ok()) return Annotate(secret.status(), absl::StrCat("device ", i));
      COHORT_ASSIGN_OR_RETURN(MaskPrg prg, MaskPrg::Create(*secret, options_.modulus_bits));
      streams.Subtract(std::move(prg));
    } else if (d.role == Role::kDropped && excluded_.count(i) == 0 && !HoldersOf(i).empty()) {
      absl::StatusOr<SecretKey> secret = ShamirReconstruct(d.shares, options_.threshold);
      if (!secret.ok()) return Annotate(secret.status(), absl::StrCat("device ", i));
      std::string bytes = secret->ToBytes();
      absl::StatusOr<PrivateKey> key = PrivateKey::FromBytes(bytes);
      OPENSSL_cleanse(bytes.data(), bytes.size());
      if (!key.ok()) return key.status();
      COHORT_ASSIGN_OR_RETURN(KeyPair pair, KeyPair::FromPrivateKey(*key));
      if (!(pair.public_key() == d.keys->mask_public_key)) {
        return absl::DataLossError(
            absl::StrCat("device ", i,
                         ": the reconstructed mask key does not match its advertised public key "
                         "(a share is corrupt)"));
      }
      dropped_keys.emplace(i, std::move(pair));
    }
  }
  // Every pairwise mask a survivor applied that no partner cancelled.
  for (int32_t u = 1; u <= graph_.num_participants(); ++u) {
    if (device(u).role != Role::kSurvived) continue;
    for (int32_t v : graph_.Neighbours(u)) {
      if (!MaskedWith(u, v)) continue;
      const Device& dv = device(v);
      SecretKey seed;
      if (dv.role == Role::kSurvived) {
        if (MaskedWith(v, u)) continue;  // cancels in the sum
        COHORT_ASSIGN_OR_RETURN(seed, SecretKey::FromBytes(reports_.at({u, v})));
      } else if (excluded_.count(v) != 0) {
        COHORT_ASSIGN_OR_RETURN(seed, SecretKey::FromBytes(dv.pairwise.at(u)));
      } else {
        COHORT_ASSIGN_OR_RETURN(
            seed, DerivePairwiseMaskSeed(dropped_keys.at(v), v, device(u).keys->mask_public_key, u,
                                         options_.round_id, options_.plan_digest));
      }
      COHORT_ASSIGN_OR_RETURN(MaskPrg prg, MaskPrg::Create(seed, options_.modulus_bits));
      // Survivor u added sign(u, v) * PRG(s_uv); undo exactly that.
      if (NeighbourGraph::Sign(u, v) > 0) {
        streams.Subtract(std::move(prg));
      } else {
        streams.Add(std::move(prg));
      }
    }
  }
  streams_ = std::move(streams);
  reconstructed_ = true;
  return absl::OkStatus();
}

absl::Status ServerUnmasking::UnmaskChunk(int64_t offset, absl::Span<uint64_t> chunk) {
  if (!reconstructed_) {
    return absl::FailedPreconditionError("UnmaskChunk before ReconstructSecrets");
  }
  if (offset < 0 || (options_.vector_length > 0 &&
                     offset + static_cast<int64_t>(chunk.size()) > options_.vector_length)) {
    return absl::InvalidArgumentError(absl::StrCat("chunk [", offset, ", ",
                                                   offset + static_cast<int64_t>(chunk.size()),
                                                   ") is outside the vector of ",
                                                   options_.vector_length));
  }
  return streams_->ApplyTo(offset, chunk);
}

absl::Status ServerUnmasking::Unmask(absl::Span<uint64_t> sum) {
  if (static_cast<int64_t>(sum.size()) != options_.vector_length) {
    return absl::InvalidArgumentError(absl::StrCat("the sum has ", sum.size(),
                                                   " elements, expected ",
                                                   options_.vector_length));
  }
  COHORT_RETURN_IF_ERROR(ReconstructSecrets());
  return UnmaskChunk(0, sum);
}

}  // namespace cohort::secagg
