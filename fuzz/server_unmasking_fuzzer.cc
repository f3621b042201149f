// The server's handling of what devices send for unmasking (secagg/server_unmasking.h): the
// reports of bundles that did not open (ReportShares) and the answers (SubmitUnmasking), all
// the devices' choice. The round is a fixed honest one (n = 7, k = 4, t = 3, one dropout
// before masking); the input is a list of
//   report: u8 0, u8 sender, u8 recipient, sized seed
//   answer: u8 1, u8 responder, u8 count, count x (u8 neighbour, u8 kind, sized share)
// applied to a fresh ServerUnmasking, then Unmask when it says it is ready. The seeds are the
// honest answers (`--write-seeds DIR`).
// Properties: nothing crashes; a refused answer changes nothing (the honest answers after it
// still unmask); the honest answers alone recover the sum of the inputs.

#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "fuzz/fuzz_input.h"
#include "secagg/packing.h"
#include "secagg/server_unmasking.h"
#include "secagg/testing/fake_random_source.h"
#include "secagg/testing/round_harness.h"

namespace {

using cohort::fuzz::Input;
using cohort::fuzz::Output;
using namespace cohort::secagg;  // NOLINT: a fuzzer's one translation unit

constexpr int kBits = 16;
constexpr int64_t kLength = 6;

struct Fixture {
  std::optional<RoundHarness> round;
  std::vector<uint64_t> masked_sum;  // of U3's masked inputs
  std::vector<uint64_t> plain_sum;
  std::map<int32_t, std::vector<UnmaskingShare>> honest;  // responder -> its answer

  Fixture() {
    FakeRandomSource rng(7);
    RoundHarnessOptions o{.num_participants = 7,
                          .neighbour_degree = 4,
                          .threshold = 3,
                          .modulus_bits = kBits,
                          .vector_length = kLength,
                          .drop_before_mask = {7}};
    round.emplace(*RoundHarness::Run(o, rng));
    masked_sum.assign(kLength, 0);
    plain_sum.assign(kLength, 0);
    for (int32_t u : round->masked_input()) {
      std::vector<uint64_t> x(kLength);
      for (int64_t j = 0; j < kLength; ++j) {
        x[static_cast<size_t>(j)] = (static_cast<uint64_t>(u) * 1000 + j) & 0xffff;
        plain_sum[static_cast<size_t>(j)] =
            (plain_sum[static_cast<size_t>(j)] + x[static_cast<size_t>(j)]) & 0xffff;
      }
      if (!round->client(u).MaskChunk(0, absl::MakeSpan(x)).ok()) std::abort();
      for (int64_t j = 0; j < kLength; ++j) {
        masked_sum[static_cast<size_t>(j)] =
            (masked_sum[static_cast<size_t>(j)] + x[static_cast<size_t>(j)]) & 0xffff;
      }
    }
    auto server = *ServerUnmasking::Create(round->graph(), round->ServerOptions());
    for (int32_t w : round->masked_input()) {
      const UnmaskingRequestLists r = server->RequestFor(w);
      honest[w] = *round->client(w).Unmask(
          {.surviving = r.surviving, .dropped = r.dropped, .excluded = r.excluded});
    }
  }

  std::string Encode(int32_t w) const {
    Output out;
    out.U8(1).U8(static_cast<uint8_t>(w)).U8(static_cast<uint8_t>(honest.at(w).size()));
    for (const UnmaskingShare& s : honest.at(w)) {
      out.U8(static_cast<uint8_t>(s.neighbour_index))
          .U8(static_cast<uint8_t>(s.kind))
          .Sized(s.share);
    }
    return out.bytes();
  }
};

const Fixture& TheFixture() {
  static const Fixture* fixture = new Fixture();
  return *fixture;
}

bool Unmasks(ServerUnmasking& server, const Fixture& f) {
  if (!server.ReadyToUnmask()) return false;
  std::vector<uint64_t> sum = f.masked_sum;
  if (!server.Unmask(absl::MakeSpan(sum)).ok()) return false;
  return sum == f.plain_sum;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  const Fixture& f = TheFixture();
  std::string all;
  std::vector<std::string> seeds;
  for (const auto& [w, shares] : f.honest) {
    seeds.push_back(f.Encode(w));
    all += f.Encode(w);
  }
  seeds.push_back(all);
  // The honest answers on their own unmask the sum: the fuzzer's oracle below relies on it.
  auto server = *ServerUnmasking::Create(f.round->graph(), f.round->ServerOptions());
  for (const auto& [w, shares] : f.honest) {
    if (!server->AddResponse(w, shares).ok()) std::abort();
  }
  if (!Unmasks(*server, f)) std::abort();
  cohort::fuzz::MaybeWriteSeeds(*argc, *argv, seeds);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Fixture& f = TheFixture();
  Input in(data, size);
  ServerUnmaskingOptions options = f.round->ServerOptions();
  std::vector<std::pair<int32_t, std::vector<UnmaskingShare>>> answers;
  for (int op = 0; op < 16 && !in.empty(); ++op) {
    if (in.U8() % 2 == 0) {
      UnopenableReport r;
      r.sender = in.U8();
      r.recipient = in.U8();
      r.pairwise_seed = in.Sized();
      options.unopenable.push_back(std::move(r));
      continue;
    }
    const int32_t responder = in.U8();
    std::vector<UnmaskingShare> shares(in.U8() % 12);
    for (UnmaskingShare& s : shares) {
      s.neighbour_index = in.U8();
      s.kind = static_cast<ShareKind>(in.U8() % 3);
      s.share = in.Sized();
    }
    answers.emplace_back(responder, std::move(shares));
  }
  absl::StatusOr<std::unique_ptr<ServerUnmasking>> server =
      ServerUnmasking::Create(f.round->graph(), options);
  if (!server.ok()) return 0;
  std::set<int32_t> accepted;
  for (const auto& [responder, shares] : answers) {
    if ((*server)->AddResponse(responder, shares).ok()) accepted.insert(responder);
  }
  if ((*server)->ReadyToUnmask()) {
    std::vector<uint64_t> sum = f.masked_sum;
    (void)(*server)->Unmask(absl::MakeSpan(sum));
    return 0;
  }
  // Refused answers left no trace: with no extra reports, the honest answers of everyone not
  // yet heard still complete the round whenever the accepted ones were the honest ones.
  if (options.unopenable.size() != f.round->ServerOptions().unopenable.size()) return 0;
  for (int32_t w : accepted) {
    bool same = false;
    for (const auto& [responder, shares] : answers) {
      if (responder != w) continue;
      same = shares.size() == f.honest.at(w).size();
      for (size_t i = 0; same && i < shares.size(); ++i) {
        same = shares[i].neighbour_index == f.honest.at(w)[i].neighbour_index &&
               shares[i].kind == f.honest.at(w)[i].kind &&
               shares[i].share == f.honest.at(w)[i].share;
      }
      if (same) break;
    }
    if (!same) return 0;  // a wrong answer was accepted: it may poison reconstruction (DATA_LOSS)
  }
  for (const auto& [w, shares] : f.honest) {
    if (accepted.count(w) == 0 && !(*server)->AddResponse(w, shares).ok()) std::abort();
  }
  if (!Unmasks(**server, f)) std::abort();
  return 0;
}
