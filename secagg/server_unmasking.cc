#include "secagg/server_unmasking.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace cohort::secagg {
namespace {

// Sum elements unmasked per pass over all streams (see kMaskBlock in client_session.cc).
constexpr size_t kUnmaskBlock = 8192;

absl::Status Annotate(const absl::Status& s, absl::string_view what) {
  return absl::Status(s.code(), absl::StrCat(what, ": ", s.message()));
}

}  // namespace

ServerUnmasking::ServerUnmasking(NeighbourGraph graph, ServerUnmaskingOptions options)
    : graph_(std::move(graph)), options_(std::move(options)) {}

ServerUnmasking::~ServerUnmasking() = default;

absl::StatusOr<std::unique_ptr<ServerUnmasking>> ServerUnmasking::Create(
    const NeighbourGraph& graph, ServerUnmaskingOptions options) {
  if (options.modulus_bits < kMinModulusBits || options.modulus_bits > kMaxModulusBits) {
    return absl::InvalidArgumentError(
        absl::StrCat("modulus_bits ", options.modulus_bits, " is outside [8, 62]"));
  }
  if (options.threshold < 1 || options.threshold > graph.degree()) {
    return absl::InvalidArgumentError(absl::StrCat("threshold ", options.threshold,
                                                   " is outside 1..", graph.degree()));
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
  return u;
}

UnmaskingRequestLists ServerUnmasking::RequestFor(int32_t responder) const {
  UnmaskingRequestLists lists;
  if (!graph_.Contains(responder) || device(responder).role != Role::kSurvived) return lists;
  for (int32_t v : graph_.Neighbours(responder)) {
    const Role r = device(v).role;
    if (r == Role::kSurvived) lists.surviving.push_back(v);
    if (r == Role::kDropped) lists.dropped.push_back(v);
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
  std::map<int32_t, const UnmaskingShare*> answered;
  for (const UnmaskingShare& s : shares) {
    auto it = expected.find(s.neighbour_index);
    if (it == expected.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("device ", responder, " sent a share for ", s.neighbour_index,
                       ", which is not its neighbour in the shared-keys set"));
    }
    if (it->second != s.kind) {
      return absl::InvalidArgumentError(absl::StrCat(
          "device ", responder, " sent a ",
          s.kind == ShareKind::kMaskKey ? "mask-key" : "self-mask-seed", " share for ",
          s.neighbour_index, ", which ", it->second == ShareKind::kMaskKey ? "dropped" : "survived"));
    }
    if (s.share.size() != kShamirShareSize) {
      return absl::InvalidArgumentError(absl::StrCat("device ", responder, "'s share for ",
                                                     s.neighbour_index, " is ", s.share.size(),
                                                     " bytes, expected ", kShamirShareSize));
    }
    if (!answered.emplace(s.neighbour_index, &s).second) {
      return absl::InvalidArgumentError(absl::StrCat("device ", responder,
                                                     " sent two shares for ", s.neighbour_index));
    }
  }
  if (answered.size() != expected.size()) {
    return absl::InvalidArgumentError(absl::StrCat("device ", responder, " answered for ",
                                                   answered.size(), " neighbours, expected ",
                                                   expected.size()));
  }
  for (const auto& [v, s] : answered) {
    devices_[static_cast<size_t>(v)].shares.push_back({responder, s->share});
  }
  responded_[static_cast<size_t>(responder)] = true;
  responders_.push_back(responder);
  return absl::OkStatus();
}

std::vector<int32_t> ServerUnmasking::ShortOfShares() const {
  std::vector<int32_t> out;
  for (int32_t i = 1; i <= graph_.num_participants(); ++i) {
    const Device& d = device(i);
    if ((d.role == Role::kSurvived || d.role == Role::kDropped) &&
        static_cast<int32_t>(d.shares.size()) < options_.threshold) {
      out.push_back(i);
    }
  }
  return out;
}

bool ServerUnmasking::ReadyToUnmask() const { return ShortOfShares().empty(); }

absl::Status ServerUnmasking::ReconstructSecrets() {
  if (reconstructed_) return absl::OkStatus();
  for (int32_t i = 1; i <= graph_.num_participants(); ++i) {
    const Device& d = device(i);
    if ((d.role == Role::kSurvived || d.role == Role::kDropped) &&
        static_cast<int32_t>(d.shares.size()) < options_.threshold) {
      return absl::FailedPreconditionError(absl::StrCat(
          "device ", i, " (", d.role == Role::kSurvived ? "survived" : "dropped", ") has ",
          d.shares.size(), " shares, fewer than the threshold ", options_.threshold,
          ": its mask cannot be removed"));
    }
  }
  std::vector<MaskPrg> subtract, add;
  for (int32_t i = 1; i <= graph_.num_participants(); ++i) {
    const Device& d = device(i);
    if (d.role != Role::kSurvived && d.role != Role::kDropped) continue;
    absl::StatusOr<SecretKey> secret = ShamirReconstruct(d.shares, options_.threshold);
    if (!secret.ok()) return Annotate(secret.status(), absl::StrCat("device ", i));
    if (d.role == Role::kSurvived) {
      COHORT_ASSIGN_OR_RETURN(MaskPrg prg, MaskPrg::Create(*secret, options_.modulus_bits));
      subtract.push_back(std::move(prg));
      continue;
    }
    COHORT_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::FromBytes(secret->ToBytes()));
    COHORT_ASSIGN_OR_RETURN(KeyPair pair, KeyPair::FromPrivateKey(key));
    if (!(pair.public_key() == d.keys->mask_public_key)) {
      return absl::DataLossError(absl::StrCat(
          "device ", i, ": the reconstructed mask key does not match its advertised public key "
                        "(a share is corrupt)"));
    }
    for (int32_t u : graph_.Neighbours(i)) {
      const Device& survivor = device(u);
      if (survivor.role != Role::kSurvived) continue;
      COHORT_ASSIGN_OR_RETURN(SecretKey seed,
                              DerivePairwiseMaskSeed(pair, i, survivor.keys->mask_public_key, u,
                                                     options_.round_id));
      COHORT_ASSIGN_OR_RETURN(MaskPrg prg, MaskPrg::Create(seed, options_.modulus_bits));
      // Survivor u added sign(u, i) * PRG(s_ui); undo exactly that.
      (NeighbourGraph::Sign(u, i) > 0 ? subtract : add).push_back(std::move(prg));
    }
  }
  subtract_streams_ = std::move(subtract);
  add_streams_ = std::move(add);
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
  for (size_t start = 0; start < chunk.size(); start += kUnmaskBlock) {
    absl::Span<uint64_t> block = chunk.subspan(start, std::min(kUnmaskBlock, chunk.size() - start));
    const int64_t at = offset + static_cast<int64_t>(start);
    for (MaskPrg& prg : subtract_streams_) COHORT_RETURN_IF_ERROR(prg.SubtractFrom(at, block));
    for (MaskPrg& prg : add_streams_) COHORT_RETURN_IF_ERROR(prg.AddTo(at, block));
  }
  return absl::OkStatus();
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
