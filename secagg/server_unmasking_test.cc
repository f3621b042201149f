#include "secagg/server_unmasking.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <vector>

#include "secagg/packing.h"
#include "secagg/testing/fake_random_source.h"
#include "secagg/testing/round_harness.h"

namespace cohort::secagg {
namespace {

struct Outcome {
  absl::Status status;
  std::vector<uint64_t> unmasked;
  std::vector<uint64_t> plain;
};

// Masks random inputs of U3 (in two chunks, through the wire packing), collects the answers of
// survivors not in `silent`, and unmasks.
Outcome MaskAndUnmask(RoundHarness& round, const RoundHarnessOptions& o,
                      const std::set<int32_t>& silent, FakeRandomSource& rng) {
  const size_t d = static_cast<size_t>(o.vector_length);
  const uint64_t mask = (uint64_t{1} << o.modulus_bits) - 1;
  Outcome out;
  out.plain.assign(d, 0);
  std::vector<uint64_t> sum(d, 0);
  const size_t half = d / 2;
  for (int32_t u : round.masked_input()) {
    std::vector<uint64_t> x(d);
    for (size_t j = 0; j < d; ++j) {
      x[j] = rng.NextU64() & mask;
      out.plain[j] = (out.plain[j] + x[j]) & mask;
    }
    for (auto [begin, end] : {std::pair{size_t{0}, half}, std::pair{half, d}}) {
      absl::Span<uint64_t> chunk = absl::MakeSpan(x).subspan(begin, end - begin);
      REQUIRE(round.client(u).MaskChunk(static_cast<int64_t>(begin), chunk).ok());
      REQUIRE(UnpackAndAccumulate(*Pack(chunk, o.modulus_bits), o.modulus_bits,
                                  static_cast<int64_t>(begin), absl::MakeSpan(sum))
                  .ok());
    }
  }
  auto server = ServerUnmasking::Create(round.graph(), round.ServerOptions());
  REQUIRE(server.ok());
  for (int32_t w : round.masked_input()) {
    if (silent.count(w) != 0) continue;
    const UnmaskingRequestLists req = (*server)->RequestFor(w);
    auto shares = round.client(w).Unmask(
        {.surviving = req.surviving, .dropped = req.dropped, .excluded = req.excluded});
    if (!shares.ok()) {
      // A device only refuses when too few of its neighbours survived.
      REQUIRE(shares.status().code() == absl::StatusCode::kFailedPrecondition);
      continue;
    }
    REQUIRE((*server)->AddResponse(w, *shares).ok());
  }
  out.status = (*server)->Unmask(absl::MakeSpan(sum));
  out.unmasked = std::move(sum);
  return out;
}

// Independent statement of when unmasking must succeed. A device w of U2 masked with the
// neighbours in U2 whose bundles it opened (not reported). Responders are survivors that were
// not silent and agreed to answer (at least t surviving neighbours they masked with). Every
// survivor needs t responders that hold its seed share; every dropped device that some
// survivor masked with needs t responding holders of its key, or else (fewer than t holders in
// U3: it is excluded) every holder must answer with the pairwise seed.
bool EveryNeighbourhoodHasThreshold(RoundHarness& round, const RoundHarnessOptions& o,
                                    const std::set<int32_t>& silent) {
  const std::set<int32_t> u3(round.masked_input().begin(), round.masked_input().end());
  const std::set<int32_t> u2(round.shared_keys().begin(), round.shared_keys().end());
  std::set<std::pair<int32_t, int32_t>> reported;  // (sender, recipient)
  for (const UnopenableReport& r : round.reports()) reported.insert({r.sender, r.recipient});
  auto masked_with = [&](int32_t u, int32_t v) {
    return u2.count(u) != 0 && u2.count(v) != 0 && round.graph().AreNeighbours(u, v) &&
           reported.count({v, u}) == 0;
  };
  std::set<int32_t> responders;
  for (int32_t w : u3) {
    if (silent.count(w) != 0) continue;
    int surviving = 0;
    for (int32_t v : round.graph().Neighbours(w)) {
      surviving += (u3.count(v) != 0 && masked_with(w, v)) ? 1 : 0;
    }
    if (surviving >= o.threshold) responders.insert(w);
  }
  for (int32_t u : u2) {
    int holders = 0, answering = 0;
    for (int32_t w : round.graph().Neighbours(u)) {
      if (u3.count(w) == 0 || !masked_with(w, u)) continue;
      ++holders;
      answering += responders.count(w) != 0 ? 1 : 0;
    }
    if (u3.count(u) != 0) {
      if (answering < o.threshold) return false;
    } else if (holders >= o.threshold) {
      if (answering < o.threshold) return false;
    } else if (answering < holders) {
      return false;
    }
  }
  return true;
}

TEST_CASE("Unmask_PropertyExactSumIffEveryNeighbourhoodHasThreshold") {
  FakeRandomSource rng(20240601);
  int succeeded = 0, refused = 0;
  for (int trial = 0; trial < 60; ++trial) {
    RoundHarnessOptions o;
    o.num_participants = 3 + static_cast<int32_t>(rng.NextU64() % 28);
    const int32_t n = o.num_participants;
    if (rng.NextU64() % 4 == 0) {
      o.neighbour_degree = n - 1;  // complete graph
    } else {
      o.neighbour_degree = std::min<int32_t>(n - 1, 2 + 2 * static_cast<int32_t>(rng.NextU64() % 6));
      if (o.neighbour_degree % 2 == 1 && n % 2 == 1) o.neighbour_degree -= 1;
      o.neighbour_degree = std::max<int32_t>(o.neighbour_degree, 2);
    }
    const int32_t k = o.neighbour_degree;
    o.threshold = 2 + static_cast<int32_t>(rng.NextU64() % static_cast<uint64_t>(k - 1));
    o.modulus_bits = 8 + static_cast<int>(rng.NextU64() % 55);
    o.vector_length = 1 + static_cast<int64_t>(rng.NextU64() % 200);
    o.round_id = "round-" + std::to_string(trial);
    o.plan_digest = std::string(32, static_cast<char>('a' + trial % 26));
    const double rate = static_cast<double>(rng.NextU64() % 40) / 100.0;
    auto dropped = [&] { return static_cast<double>(rng.NextU64() % 1000) / 1000.0 < rate; };
    std::set<int32_t> silent;
    for (int32_t i = 1; i <= n; ++i) {
      if (dropped()) o.drop_before_advertise.insert(i);
      if (dropped()) o.drop_before_share.insert(i);
      if (dropped()) o.drop_before_mask.insert(i);
      if (dropped()) silent.insert(i);
      // Now and then a device shares signed garbage with every neighbour.
      if (rng.NextU64() % 12 == 0) o.garbage_senders.insert(i);
    }
    auto round = RoundHarness::Run(o, rng);
    REQUIRE(round.ok());
    const bool expect_ok = EveryNeighbourhoodHasThreshold(*round, o, silent);
    Outcome r = MaskAndUnmask(*round, o, silent, rng);
    INFO("trial " << trial << " n=" << n << " k=" << k << " t=" << o.threshold
                  << " m=" << o.modulus_bits << " d=" << o.vector_length
                  << " |U2|=" << round->shared_keys().size()
                  << " |U3|=" << round->masked_input().size() << " status=" << r.status);
    if (expect_ok) {
      REQUIRE(r.status.ok());
      CHECK(r.unmasked == r.plain);
      ++succeeded;
    } else {
      CHECK(r.status.code() == absl::StatusCode::kFailedPrecondition);
      ++refused;
    }
  }
  // The generator must exercise both sides of the property.
  CHECK(succeeded >= 15);
  CHECK(refused >= 5);
}

UnmaskingRequest Request(const UnmaskingRequestLists& lists) {
  return {.surviving = lists.surviving, .dropped = lists.dropped, .excluded = lists.excluded};
}

RoundHarnessOptions SmallRound() {
  RoundHarnessOptions o;
  o.num_participants = 12;
  o.neighbour_degree = 6;
  o.threshold = 3;
  o.modulus_bits = 20;
  o.vector_length = 50;
  o.drop_before_mask = {4};
  return o;
}

TEST_CASE("Unmask_RemovesDroppedDevicesPairwiseMasks") {
  FakeRandomSource rng(1);
  RoundHarnessOptions o = SmallRound();
  auto round = *RoundHarness::Run(o, rng);
  REQUIRE(std::count(round.shared_keys().begin(), round.shared_keys().end(), 4) == 1);
  REQUIRE(std::count(round.masked_input().begin(), round.masked_input().end(), 4) == 0);
  Outcome r = MaskAndUnmask(round, o, {}, rng);
  REQUIRE(r.status.ok());
  CHECK(r.unmasked == r.plain);
}

TEST_CASE("AddResponse_RejectsWrongShareKind") {
  FakeRandomSource rng(2);
  RoundHarnessOptions o = SmallRound();
  auto round = *RoundHarness::Run(o, rng);
  auto server = *ServerUnmasking::Create(round.graph(), round.ServerOptions());
  const int32_t w = round.graph().Neighbours(4)[0];
  REQUIRE(w != 4);
  UnmaskingRequestLists req = server->RequestFor(w);
  REQUIRE(std::count(req.dropped.begin(), req.dropped.end(), 4) == 1);
  auto shares = *round.client(w).Unmask(Request(req));
  for (UnmaskingShare& s : shares) {
    if (s.neighbour_index == 4) s.kind = ShareKind::kSelfMaskSeed;  // asks for 4's seed too
  }
  CHECK(server->AddResponse(w, shares).code() == absl::StatusCode::kInvalidArgument);
  CHECK(server->num_responses() == 0);
}

TEST_CASE("AddResponse_RejectsSecondResponseAndNonSurvivors") {
  FakeRandomSource rng(3);
  RoundHarnessOptions o = SmallRound();
  auto round = *RoundHarness::Run(o, rng);
  auto server = *ServerUnmasking::Create(round.graph(), round.ServerOptions());
  const int32_t w = round.masked_input()[0];
  UnmaskingRequestLists req = server->RequestFor(w);
  auto shares = *round.client(w).Unmask(Request(req));
  REQUIRE(server->AddResponse(w, shares).ok());
  CHECK(server->AddResponse(w, shares).code() == absl::StatusCode::kFailedPrecondition);
  CHECK(server->AddResponse(4, {}).code() == absl::StatusCode::kFailedPrecondition);
  CHECK(server->RequestFor(4).surviving.empty());
}

TEST_CASE("AddResponse_RejectsSharesForNonNeighboursAndMissingShares") {
  FakeRandomSource rng(4);
  RoundHarnessOptions o = SmallRound();
  auto round = *RoundHarness::Run(o, rng);
  auto server = *ServerUnmasking::Create(round.graph(), round.ServerOptions());
  const int32_t w = round.masked_input()[0];
  UnmaskingRequestLists req = server->RequestFor(w);
  auto shares = *round.client(w).Unmask(Request(req));
  auto missing = shares;
  missing.pop_back();
  CHECK(server->AddResponse(w, missing).code() == absl::StatusCode::kInvalidArgument);
  int32_t stranger = 1;
  while (stranger == w || round.graph().AreNeighbours(w, stranger)) ++stranger;
  auto extra = shares;
  extra.push_back({stranger, ShareKind::kSelfMaskSeed, shares[0].share});
  CHECK(server->AddResponse(w, extra).code() == absl::StatusCode::kInvalidArgument);
  auto dup = shares;
  dup.back() = dup.front();
  CHECK(server->AddResponse(w, dup).code() == absl::StatusCode::kInvalidArgument);
  CHECK(server->AddResponse(w, shares).ok());
}

TEST_CASE("Unmask_RefusesNamingDeviceWithTooFewShares") {
  FakeRandomSource rng(5);
  RoundHarnessOptions o = SmallRound();
  auto round = *RoundHarness::Run(o, rng);
  auto server = *ServerUnmasking::Create(round.graph(), round.ServerOptions());
  const int32_t w = round.masked_input()[0];
  UnmaskingRequestLists req = server->RequestFor(w);
  REQUIRE(server->AddResponse(w, *round.client(w).Unmask(Request(req))).ok());
  CHECK_FALSE(server->ReadyToUnmask());
  CHECK_FALSE(server->ShortOfShares().empty());
  std::vector<uint64_t> sum(50);
  absl::Status s = server->Unmask(absl::MakeSpan(sum));
  CHECK(s.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(s.message().find("device " + std::to_string(server->ShortOfShares()[0])) !=
        absl::string_view::npos);
}

TEST_CASE("Unmask_DetectsCorruptMaskKeyShare") {
  FakeRandomSource rng(6);
  RoundHarnessOptions o = SmallRound();
  o.threshold = 6;  // exactly t answers per neighbourhood when all survivors answer
  auto round = *RoundHarness::Run(o, rng);
  auto server = *ServerUnmasking::Create(round.graph(), round.ServerOptions());
  for (int32_t w : round.masked_input()) {
    UnmaskingRequestLists req = server->RequestFor(w);
    auto shares = round.client(w).Unmask(Request(req));
    if (!shares.ok()) continue;
    for (UnmaskingShare& s : *shares) {
      if (s.neighbour_index == 4) s.share[2] = static_cast<char>(s.share[2] ^ 1);
    }
    REQUIRE(server->AddResponse(w, *shares).ok());
  }
  std::vector<uint64_t> sum(50);
  absl::Status s = server->Unmask(absl::MakeSpan(sum));
  CHECK((s.code() == absl::StatusCode::kDataLoss || s.code() == absl::StatusCode::kFailedPrecondition));
}

TEST_CASE("Create_RejectsInconsistentSets") {
  FakeRandomSource rng(7);
  RoundHarnessOptions o = SmallRound();
  auto round = *RoundHarness::Run(o, rng);
  ServerUnmaskingOptions bad = round.ServerOptions();
  bad.masked_input.push_back(4);  // dropped after sharing, cannot be in the sum... unless listed
  bad.masked_input.push_back(4);
  CHECK(ServerUnmasking::Create(round.graph(), bad).status().code() ==
        absl::StatusCode::kInvalidArgument);
  ServerUnmaskingOptions no_keys = round.ServerOptions();
  no_keys.advertised.clear();
  CHECK(ServerUnmasking::Create(round.graph(), no_keys).status().code() ==
        absl::StatusCode::kInvalidArgument);
  ServerUnmaskingOptions bad_t = round.ServerOptions();
  bad_t.threshold = 7;
  CHECK(ServerUnmasking::Create(round.graph(), bad_t).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("Unmask_GarbageSenderIsExcludedAndTheSumOfEveryoneElseIsExact") {
  // 4 shares signed garbage: every recipient reports it and masks without it; no survivor holds
  // its shares, and nothing of it is in the sum.
  FakeRandomSource rng(8);
  RoundHarnessOptions o = SmallRound();
  o.drop_before_mask.clear();
  o.garbage_senders = {4};
  auto round = *RoundHarness::Run(o, rng);
  CHECK(std::count(round.masked_input().begin(), round.masked_input().end(), 4) == 0);
  size_t reported = 0;
  for (const UnopenableReport& r : round.reports()) reported += r.sender == 4 ? 1 : 0;
  CHECK(reported == round.graph().Neighbours(4).size());
  Outcome r = MaskAndUnmask(round, o, {}, rng);
  REQUIRE(r.status.ok());
  CHECK(r.unmasked == r.plain);
}

TEST_CASE("Unmask_ASurvivorReportedByOneNeighbourKeepsTheSumExact") {
  // A survivor's bundle to one neighbour did not open: that neighbour does not mask with it and
  // reveals their pairwise seed, which is enough to cancel the survivor's side of the pair.
  FakeRandomSource rng(9);
  RoundHarnessOptions o = SmallRound();
  o.drop_before_mask.clear();
  auto round = *RoundHarness::Run(o, rng);
  ServerUnmaskingOptions options = round.ServerOptions();
  REQUIRE(options.unopenable.empty());
  // Pretend recipient w could not open sender v's bundle: w's session would then not mask with
  // v, which the harness cannot undo, so check the server's bookkeeping on the lists instead.
  const int32_t v = round.masked_input()[0];
  const int32_t w = round.graph().Neighbours(v)[0];
  options.unopenable.push_back({v, w, std::string(32, 's')});
  auto server = ServerUnmasking::Create(round.graph(), options);
  REQUIRE(server.ok());
  const UnmaskingRequestLists lists = (*server)->RequestFor(w);
  CHECK(std::count(lists.surviving.begin(), lists.surviving.end(), v) == 0);
  CHECK(std::count(lists.dropped.begin(), lists.dropped.end(), v) == 0);
  // A report about a device that is not a neighbour in U2 is refused.
  int32_t stranger = 1;
  while (stranger == w || round.graph().AreNeighbours(w, stranger)) ++stranger;
  ServerUnmaskingOptions bad = round.ServerOptions();
  bad.unopenable.push_back({stranger, w, std::string(32, 's')});
  CHECK(ServerUnmasking::Create(round.graph(), bad).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("Unmask_DroppedDeviceWithTooFewHoldersIsRemovedThroughPairwiseSeeds") {
  // 4 sent garbage to all but two neighbours, then dropped before masking: its key cannot be
  // rebuilt from two holders (t = 3), so those two answer with their pairwise seeds.
  FakeRandomSource rng(10);
  RoundHarnessOptions o;
  o.num_participants = 12;
  o.neighbour_degree = 6;
  o.threshold = 3;
  o.modulus_bits = 20;
  o.vector_length = 40;
  auto round = *RoundHarness::Run(o, rng);
  ServerUnmaskingOptions options = round.ServerOptions();
  // Make 4 a dropped device whose bundles opened for two neighbours only.
  options.masked_input.erase(
      std::remove(options.masked_input.begin(), options.masked_input.end(), 4),
      options.masked_input.end());
  const std::vector<int32_t> nb = round.graph().Neighbours(4);
  for (size_t i = 2; i < nb.size(); ++i)
    options.unopenable.push_back({4, nb[i], std::string(32, 'x')});
  auto server = ServerUnmasking::Create(round.graph(), options);
  REQUIRE(server.ok());
  CHECK((*server)->excluded().count(4) == 1);
  const UnmaskingRequestLists lists = (*server)->RequestFor(nb[0]);
  CHECK(std::count(lists.excluded.begin(), lists.excluded.end(), 4) == 1);
  CHECK(std::count(lists.dropped.begin(), lists.dropped.end(), 4) == 0);
}

}  // namespace
}  // namespace cohort::secagg
