// MASKED_INPUT: every device of U2 (every admitted device without secure aggregation) uploads
// its masked input in chunks; a complete input is folded into the running sum. Closing fixes U3
// (the contributors) and, with secure aggregation, prepares the unmasking.

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "secagg/key_agreement.h"
#include "secagg/packing.h"
#include "server/core/phases/phase_units.h"

namespace cohort::server {
namespace {

// Folds a complete upload into the sum. Every chunk is validated before the sum is touched, so
// a bad chunk leaves it as it was.
absl::Status FoldIntoSum(RoundContext& ctx, Participant& p) {
  const auto& codec = ctx.plan_template.codec();
  const int64_t c = codec.chunk_elements();
  if (codec.encoding() == cohort::v1::UPDATE_ENCODING_FLOAT32) {
    for (const auto& [i, data] : p.chunks) {
      for (size_t j = 0; j < data.size() / 4; ++j) {
        float v;
        std::memcpy(&v, data.data() + 4 * j, 4);
        if (!std::isfinite(v)) {
          return absl::InvalidArgumentError(
              absl::StrCat("chunk ", i, " element ", j, " is not a finite float32"));
        }
      }
    }
    for (const auto& [i, data] : p.chunks) {
      for (size_t j = 0; j < data.size() / 4; ++j) {
        float v;
        std::memcpy(&v, data.data() + 4 * j, 4);
        ctx.float_sum[static_cast<size_t>(i * c) + j] += v;
      }
    }
  } else {
    // Unpack checks the padding; run it on a scratch copy first. Elements are < 2^m by
    // construction of the packing.
    for (const auto& [i, data] : p.chunks) {
      absl::StatusOr<std::vector<uint64_t>> unpacked =
          secagg::Unpack(data, codec.modulus_bits(), static_cast<size_t>(ChunkLength(ctx, i)));
      if (!unpacked.ok()) return unpacked.status();
    }
    for (const auto& [i, data] : p.chunks) {
      if (absl::Status s = secagg::UnpackAndAccumulate(data, codec.modulus_bits(), i * c,
                                                       absl::MakeSpan(ctx.sum));
          !s.ok()) {
        return absl::InternalError(absl::StrCat("accumulating chunk ", i, ": ", s.message()));
      }
    }
  }
  p.chunks.clear();
  return absl::OkStatus();
}

}  // namespace

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
  const int32_t dropped = ctx.DropLaggards(
      [](const Participant& p) { return p.contributed; },
      "did not upload its masked input before the MASKED_INPUT deadline");
  for (auto& p : ctx.participants) p.chunks.clear();
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
  secagg::ServerUnmaskingOptions options;
  options.round_id = ctx.setup.round_id;
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
    if (p.in_u2) options.shared_keys.push_back(i);
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
    s->set_ciphertext(it->second);
  }
}

absl::StatusOr<cohort::v1::UploadMaskedInputResponse> UploadMaskedInputCall(
    RoundContext& ctx, int32_t index, const cohort::v1::UploadMaskedInputRequest& req) {
  Participant& p = ctx.participant(index);
  cohort::v1::UploadMaskedInputResponse response;
  if (p.contributed && !p.dropped) {
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
  auto [it, inserted] = p.chunks.emplace(req.chunk_index(), req.data());
  if (!inserted && it->second != req.data()) {
    return absl::FailedPreconditionError(
        absl::StrCat("chunk ", req.chunk_index(), " was already received with different contents"));
  }
  if (inserted) ctx.metrics.set_bytes_uploaded(ctx.metrics.bytes_uploaded() + want);
  response.set_chunks_total(chunks);
  if (static_cast<int64_t>(p.chunks.size()) == chunks) {
    if (absl::Status s = FoldIntoSum(ctx, p); !s.ok()) {
      ctx.Drop(index, absl::StrCat("sent a malformed masked input: ", s.message()));
      return absl::InvalidArgumentError(s.message());
    }
    p.contributed = true;
    p.last_completed = cohort::v1::ROUND_PHASE_MASKED_INPUT;
    response.set_chunks_received(chunks);
    response.set_complete(true);
    return response;
  }
  response.set_chunks_received(static_cast<int64_t>(p.chunks.size()));
  return response;
}

}  // namespace cohort::server
