// MASKED_INPUT: every device of U2 first reports which incoming bundles did not open
// (ReportShares), then uploads its masked input in chunks (every admitted device, without secure
// aggregation). A complete input is folded into the running sum once every neighbour that
// received its bundles has reported, so a sender that enough of them report is excluded before
// its input can reach the sum (docs/secagg.md#attributable-exclusion). Closing fixes U3 (the
// contributors), checks that the survivors' graph holds together and, with secure aggregation,
// moves on to the consistency check (semi-malicious) or the unmasking.

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "secagg/key_agreement.h"
#include "secagg/packing.h"
#include "secagg/parameter_finder.h"
#include "server/core/phases/phase_units.h"

namespace cohort::server {
namespace {

// Every chunk of a complete upload is well formed (before anything touches the sum).
absl::Status ValidateChunks(const RoundContext& ctx, const Participant& p) {
  const auto& codec = ctx.plan_template.codec();
  for (const auto& [i, data] : p.chunks) {
    if (codec.encoding() == cohort::v1::UPDATE_ENCODING_FLOAT32) {
      for (size_t j = 0; j < data.size() / 4; ++j) {
        float v;
        std::memcpy(&v, data.data() + 4 * j, 4);
        if (!std::isfinite(v)) {
          return absl::InvalidArgumentError(
              absl::StrCat("chunk ", i, " element ", j, " is not a finite float32"));
        }
      }
    } else if (absl::Status s = secagg::CheckPacked(data, codec.modulus_bits(),
                                                    static_cast<size_t>(ChunkLength(ctx, i)));
               !s.ok()) {
      // Elements are < 2^m by construction of the packing; only the framing can be wrong.
      return s;
    }
  }
  return absl::OkStatus();
}

// Adds a validated complete upload into the sum and frees its chunks.
void Fold(RoundContext& ctx, Participant& p) {
  const auto& codec = ctx.plan_template.codec();
  const int64_t c = codec.chunk_elements();
  for (const auto& [i, data] : p.chunks) {
    if (codec.encoding() == cohort::v1::UPDATE_ENCODING_FLOAT32) {
      for (size_t j = 0; j < data.size() / 4; ++j) {
        float v;
        std::memcpy(&v, data.data() + 4 * j, 4);
        ctx.float_sum[static_cast<size_t>(i * c) + j] += v;
      }
    } else {
      // Validated already: this cannot fail.
      (void)secagg::UnpackAndAccumulate(data, codec.modulus_bits(), i * c, absl::MakeSpan(ctx.sum));
    }
  }
  ctx.ReleaseUpload(p);
  p.contributed = true;
}

// Every neighbour that received index's bundles has told the server which bundles did not open
// (or was dropped), so whether index is excluded is settled.
bool NeighboursSettled(const RoundContext& ctx, int32_t index) {
  if (!ctx.secure()) return true;
  for (int32_t w : ctx.graph->Neighbours(index)) {
    const Participant& q = ctx.participant(w);
    if (q.in_u2 && !q.reported && !q.dropped) return false;
  }
  return true;
}

}  // namespace

void FoldReadyInputs(RoundContext& ctx) {
  for (int32_t i = 1; i <= ctx.num_admitted(); ++i) {
    Participant& p = ctx.participant(i);
    if (p.upload_complete && !p.contributed && !p.dropped && !p.excluded &&
        NeighboursSettled(ctx, i)) {
      Fold(ctx, p);
    }
  }
}

absl::Status CheckSurvivorsHoldTogether(const RoundContext& ctx) {
  // The honest survivors must form one component, or the server learns partial sums: check
  // the survivors' graph itself, then that the bound still holds for the dropouts that
  // actually happened (they may exceed what the parameters were sized for).
  std::vector<int32_t> survivors;
  for (int32_t i = 1; i <= ctx.num_admitted(); ++i) {
    if (ctx.participant(i).contributed) survivors.push_back(i);
  }
  if (survivors.empty()) return absl::OkStatus();
  std::vector<bool> seen(static_cast<size_t>(ctx.num_admitted()) + 1, false);
  std::vector<int32_t> stack{survivors.front()};
  seen[static_cast<size_t>(survivors.front())] = true;
  size_t reached = 0;
  while (!stack.empty()) {
    const int32_t u = stack.back();
    stack.pop_back();
    ++reached;
    for (int32_t v : ctx.graph->Neighbours(u)) {
      if (!seen[static_cast<size_t>(v)] && ctx.participant(v).contributed) {
        seen[static_cast<size_t>(v)] = true;
        stack.push_back(v);
      }
    }
  }
  if (reached != survivors.size()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the survivors' graph is disconnected (", reached, " of ", survivors.size(),
                     " survivors reachable from participant ", survivors.front(),
                     "): unmasking would reveal partial sums"));
  }
  const auto& sc = ctx.setup.config.secagg();
  secagg::ParameterOptions actual;
  actual.num_participants = ctx.num_admitted();
  actual.dropout_rate = static_cast<double>(ctx.num_admitted() - ctx.contributors) /
                        static_cast<double>(ctx.num_admitted());
  actual.corrupted_fraction = sc.corrupted_fraction();
  actual.threat_model = sc.threat_model() == cohort::v1::THREAT_MODEL_SEMI_MALICIOUS
                            ? secagg::ThreatModel::kSemiMalicious
                            : secagg::ThreatModel::kHonestButCurious;
  actual.security_bits = sc.security_bits();
  actual.correctness_bits = sc.correctness_bits();
  if (absl::Status s = secagg::CheckSecurity(actual, ctx.degree, ctx.threshold); !s.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        ctx.num_admitted() - ctx.contributors, " of ", ctx.num_admitted(),
        " devices dropped, more than the round's parameters keep private: ", s.message()));
  }
  return absl::OkStatus();
}

int64_t NumChunks(const RoundContext& ctx) {
  const int64_t d = ctx.plan_template.codec().vector_length();
  const int64_t c = ctx.plan_template.codec().chunk_elements();
  return (d + c - 1) / c;
}

int64_t ChunkLength(const RoundContext& ctx, int64_t chunk_index) {
  const int64_t d = ctx.plan_template.codec().vector_length();
  const int64_t c = ctx.plan_template.codec().chunk_elements();
  return std::min(c, d - chunk_index * c);
}

int64_t ChunkBytes(const RoundContext& ctx, int64_t chunk_index) {
  const int64_t len = ChunkLength(ctx, chunk_index);
  if (ctx.plan_template.codec().encoding() == cohort::v1::UPDATE_ENCODING_FLOAT32) return len * 4;
  return static_cast<int64_t>(
      secagg::PackedSize(static_cast<size_t>(len), ctx.plan_template.codec().modulus_bits()));
}

bool MaskedInputPhase::Complete(const RoundContext& ctx) const {
  for (const auto& p : ctx.participants) {
    if (!p.dropped && !p.contributed) return false;
  }
  return true;
}

void MaskedInputPhase::Close(RoundContext& ctx, absl::Time now) const {
  const int32_t dropped =
      ctx.DropLaggards([](const Participant& p) { return p.upload_complete; },
                       "did not upload its masked input before the MASKED_INPUT deadline");
  // Every neighbour has reported or been dropped by now: fold what was held back.
  FoldReadyInputs(ctx);
  for (auto& p : ctx.participants) ctx.ReleaseUpload(p);
  ctx.contributors = 0;
  for (const auto& p : ctx.participants) ctx.contributors += p.contributed ? 1 : 0;
  ctx.metrics.set_contributors(ctx.contributors);
  const int32_t need =
      std::max(ctx.setup.config.min_participants(), ctx.secure() ? ctx.threshold : int32_t{1});
  if (!ctx.Settle(ctx.contributors, ctx.contributors >= need,
                  absl::StrCat("only ", ctx.contributors,
                               " devices uploaded their input; the round needs ", need),
                  dropped, now)) {
    return;
  }
  if (!ctx.secure()) {
    ctx.MarkReadyToCommit(dropped, now);
    return;
  }
  if (absl::Status s = CheckSurvivorsHoldTogether(ctx); !s.ok()) {
    ctx.Fail(std::string(s.message()), now);
    ctx.changes.back().dropped = dropped;
    return;
  }
  if (ctx.semi_malicious()) {
    ctx.survivors.clear();
    for (int32_t i = 1; i <= ctx.num_admitted(); ++i) {
      if (ctx.participant(i).contributed) ctx.survivors.push_back(i);
    }
    ctx.MoveTo(cohort::v1::ROUND_PHASE_CONSISTENCY_CHECK, absl::StrCat("u3=", ctx.contributors),
               dropped, now);
    return;
  }
  OpenUnmasking(ctx, dropped, now);
}

void OpenUnmasking(RoundContext& ctx, int32_t dropped, absl::Time now) {
  secagg::ServerUnmaskingOptions options;
  options.round_id = ctx.setup.round_id;
  options.plan_digest = ctx.plan_digest;
  options.threshold = ctx.threshold;
  options.modulus_bits = ctx.plan_template.codec().modulus_bits();
  options.vector_length = ctx.plan_template.codec().vector_length();
  for (int32_t i = 1; i <= ctx.num_admitted(); ++i) {
    const Participant& p = ctx.participant(i);
    if (p.in_u1) {
      secagg::AdvertisedKeys keys;
      keys.index = i;
      // Validated on arrival, so these cannot fail.
      keys.cipher_public_key = *secagg::PublicKey::FromBytes(p.cipher_public_key);
      keys.mask_public_key = *secagg::PublicKey::FromBytes(p.mask_public_key);
      options.advertised.push_back(std::move(keys));
    }
    if (p.in_u2) {
      options.shared_keys.push_back(i);
      for (const auto& [sender, seed] : p.unopenable) {
        options.unopenable.push_back({sender, i, seed});
      }
    }
    if (p.contributed) options.masked_input.push_back(i);
  }
  absl::StatusOr<std::unique_ptr<secagg::ServerUnmasking>> unmasking =
      secagg::ServerUnmasking::Create(*ctx.graph, std::move(options));
  if (!unmasking.ok()) {
    ctx.Fail(absl::StrCat("unmasking setup: ", unmasking.status().message()), now);
    ctx.changes.back().dropped = dropped;
    return;
  }
  ctx.unmasking = std::move(*unmasking);
  // Survivors whose input is not in the sum have nothing to answer for.
  for (auto& p : ctx.participants) p.outgoing.clear();
  ctx.MoveTo(cohort::v1::ROUND_PHASE_UNMASKING, absl::StrCat("u3=", ctx.contributors), dropped,
             now);
}

void MaskedInputPhase::FillUpdate(const RoundContext& ctx, int32_t index,
                                  cohort::v1::RoundUpdate* update) const {
  const Participant& p = ctx.participant(index);
  if (!ctx.secure() || !p.in_u2 || p.dropped) return;
  auto* shares = update->mutable_incoming_shares();
  for (int32_t v : ctx.graph->Neighbours(index)) {
    const Participant& q = ctx.participant(v);
    if (!q.in_u2) continue;
    auto it = q.outgoing.find(index);
    if (it == q.outgoing.end()) continue;
    auto* s = shares->add_shares();
    s->set_sender_index(v);
    s->set_ciphertext(it->second.first);
    s->set_signature(it->second.second);
  }
}

namespace {

// A device's whole input is reserved at its first chunk (upload_budget.h says why). Refused:
// RESOURCE_EXHAUSTED, which a device answers by backing off and resending the same chunk
// (docs/protocol.md); nothing of its upload is kept, so it costs the server nothing meanwhile.
absl::Status ReserveUpload(RoundContext& ctx, Participant& p) {
  UploadBudget* budget = ctx.setup.upload_budget;
  if (budget == nullptr || p.upload_reserved > 0) return absl::OkStatus();
  int64_t bytes = 0;
  for (int64_t i = 0; i < NumChunks(ctx); ++i) bytes += ChunkBytes(ctx, i);
  if (!budget->TryReserve(bytes)) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the server's upload buffer is full (", budget->reserved(), " of ", budget->capacity(),
        " bytes held for inputs in flight; this input needs ", bytes,
        "): resend this chunk after a short backoff"));
  }
  p.upload_reserved = bytes;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<cohort::v1::UploadMaskedInputResponse> UploadMaskedInputCall(
    RoundContext& ctx, int32_t index, const cohort::v1::UploadMaskedInputRequest& req) {
  Participant& p = ctx.participant(index);
  cohort::v1::UploadMaskedInputResponse response;
  if (p.upload_complete && !p.dropped) {
    // Retries after completion are acknowledged; the input is in the sum exactly once.
    response.set_chunks_received(NumChunks(ctx));
    response.set_chunks_total(NumChunks(ctx));
    response.set_complete(true);
    return response;
  }
  if (absl::Status s = ctx.CheckActiveIn(index, cohort::v1::ROUND_PHASE_MASKED_INPUT,
                                         "UploadMaskedInput");
      !s.ok()) {
    return s;
  }
  if (ctx.secure() && !p.in_u2) {
    return absl::FailedPreconditionError(
        absl::StrCat("UploadMaskedInput: participant ", index, " did not share keys"));
  }
  const int64_t chunks = NumChunks(ctx);
  if (req.chunk_index() < 0 || req.chunk_index() >= chunks) {
    return absl::InvalidArgumentError(
        absl::StrCat("chunk_index must be in [0, ", chunks, "), got ", req.chunk_index()));
  }
  const auto& codec = ctx.plan_template.codec();
  const int64_t want = ChunkBytes(ctx, req.chunk_index());
  if (static_cast<int64_t>(req.data().size()) != want) {
    const std::string reason = absl::StrCat(
        "chunk ", req.chunk_index(), " data must be ", want, " bytes (",
        ChunkLength(ctx, req.chunk_index()), " elements of a vector of length ",
        codec.vector_length(),
        codec.encoding() == cohort::v1::UPDATE_ENCODING_FLOAT32
            ? " as float32"
            : absl::StrCat(" packed at ", codec.modulus_bits(), " bits"),
        "), got ", req.data().size());
    // The device encodes a vector of the wrong length: it cannot contribute correctly.
    ctx.Drop(index, absl::StrCat("sent a malformed masked input: ", reason));
    return absl::InvalidArgumentError(reason);
  }
  if (absl::Status s = ReserveUpload(ctx, p); !s.ok()) return s;
  auto [it, inserted] = p.chunks.emplace(req.chunk_index(), req.data());
  if (!inserted && it->second != req.data()) {
    return absl::FailedPreconditionError(
        absl::StrCat("chunk ", req.chunk_index(), " was already received with different contents"));
  }
  if (inserted) ctx.metrics.set_bytes_uploaded(ctx.metrics.bytes_uploaded() + want);
  // Masking has begun: the set of neighbours the device masks with is fixed.
  p.reported = true;
  response.set_chunks_total(chunks);
  if (static_cast<int64_t>(p.chunks.size()) == chunks) {
    if (absl::Status s = ValidateChunks(ctx, p); !s.ok()) {
      ctx.Drop(index, absl::StrCat("sent a malformed masked input: ", s.message()));
      return absl::InvalidArgumentError(s.message());
    }
    p.upload_complete = true;
    p.last_completed = cohort::v1::ROUND_PHASE_MASKED_INPUT;
    FoldReadyInputs(ctx);
    response.set_chunks_received(chunks);
    response.set_complete(true);
    return response;
  }
  response.set_chunks_received(static_cast<int64_t>(p.chunks.size()));
  return response;
}

namespace {

// Recipients that must report a sender before it is excluded: more than the corrupt neighbours
// the parameters allow it (t - 1, so corrupt devices alone cannot frame an honest one), and
// never more than leave it fewer than t holders of valid shares (so a sender that is not
// excluded can still be unmasked).
int32_t ExclusionThreshold(const RoundContext& ctx, const Participant& sender) {
  const int32_t recipients = static_cast<int32_t>(sender.outgoing.size());
  return std::max<int32_t>(1, std::min(ctx.threshold, recipients - ctx.threshold + 1));
}

void Exclude(RoundContext& ctx, int32_t index) {
  Participant& p = ctx.participant(index);
  if (p.excluded) return;
  p.excluded = true;
  ctx.ReleaseUpload(p);
  ctx.newly_excluded.push_back(p.pseudonym);
  ctx.Drop(index, absl::StrCat("excluded: ", p.accusations,
                               " neighbours could not open the share bundles it signed"));
}

}  // namespace

absl::Status ReportSharesCall(RoundContext& ctx, int32_t index,
                              const cohort::v1::ReportSharesRequest& req) {
  if (!ctx.secure()) {
    return absl::FailedPreconditionError(absl::StrCat("ReportShares: round ", ctx.setup.round_id,
                                                      " runs without secure aggregation"));
  }
  Participant& p = ctx.participant(index);
  std::map<int32_t, std::string> report;
  for (int i = 0; i < req.unopenable_size(); ++i) {
    const auto& u = req.unopenable(i);
    const int32_t v = u.sender_index();
    if (!ctx.graph.has_value() || !ctx.graph->AreNeighbours(index, v) ||
        !ctx.participant(v).in_u2) {
      return absl::InvalidArgumentError(absl::StrCat("unopenable[", i, "].sender_index ", v,
                                                     " sent this device no share bundle"));
    }
    if (u.pairwise_mask_seed().size() != secagg::kSecretKeySize) {
      return absl::InvalidArgumentError(
          absl::StrCat("unopenable[", i, "].pairwise_mask_seed must be ", secagg::kSecretKeySize,
                       " bytes, got ", u.pairwise_mask_seed().size()));
    }
    if (!report.emplace(v, u.pairwise_mask_seed()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("unopenable[", i, "].sender_index ", v, " appears twice"));
    }
  }
  if (p.reported && !p.dropped) {
    if (report == p.unopenable) return absl::OkStatus();
    return absl::FailedPreconditionError(
        absl::StrCat("ReportShares: participant ", index,
                     " already reported (or began uploading) with a different report"));
  }
  if (absl::Status s =
          ctx.CheckActiveIn(index, cohort::v1::ROUND_PHASE_MASKED_INPUT, "ReportShares");
      !s.ok()) {
    return s;
  }
  if (!p.in_u2) {
    return absl::FailedPreconditionError(
        absl::StrCat("ReportShares: participant ", index, " did not share keys"));
  }
  p.reported = true;
  p.unopenable = std::move(report);
  for (const auto& [v, seed] : p.unopenable) {
    Participant& sender = ctx.participant(v);
    ++sender.accusations;
    if (!sender.contributed && sender.accusations >= ExclusionThreshold(ctx, sender)) {
      Exclude(ctx, v);
    }
  }
  ctx.metrics.set_bytes_uploaded(ctx.metrics.bytes_uploaded() +
                                 static_cast<int64_t>(req.ByteSizeLong()));
  FoldReadyInputs(ctx);
  return absl::OkStatus();
}

}  // namespace cohort::server
