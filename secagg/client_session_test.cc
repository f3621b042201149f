#include "secagg/client_session.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <utility>
#include <vector>

#include "secagg/testing/fake_random_source.h"
#include "secagg/testing/round_harness.h"

namespace cohort::secagg {
namespace {

RoundHarnessOptions Options() {
  RoundHarnessOptions o;
  o.num_participants = 10;
  o.neighbour_degree = 4;
  o.threshold = 2;
  o.modulus_bits = 24;
  o.vector_length = 100;
  return o;
}

SecAggClientOptions ClientOptions(int32_t self) {
  return {"r", self, 10, 4, 2, std::string(32, 's'), 24};
}

TEST_CASE("Create_RejectsBadOptions") {
  FakeRandomSource rng(1);
  SecAggClientOptions o = ClientOptions(0);
  CHECK(SecAggClient::Create(o, rng).status().code() == absl::StatusCode::kInvalidArgument);
  o = ClientOptions(1);
  o.threshold = 5;
  CHECK(SecAggClient::Create(o, rng).status().code() == absl::StatusCode::kInvalidArgument);
  o = ClientOptions(1);
  o.modulus_bits = 63;
  CHECK(SecAggClient::Create(o, rng).status().code() == absl::StatusCode::kInvalidArgument);
  o = ClientOptions(1);
  o.graph_seed = std::string(1, 'x');  // (a literal trips GCC 12's -Wrestrict)
  CHECK(SecAggClient::Create(o, rng).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("ShareKeys_RejectsNonNeighbourAndDuplicates") {
  FakeRandomSource rng(2);
  auto c = *SecAggClient::Create(ClientOptions(1), rng);
  auto other = *SecAggClient::Create(ClientOptions(2), rng);
  int32_t stranger = 2;
  while (c->graph().AreNeighbours(1, stranger)) ++stranger;
  const std::vector<int32_t> nb = c->graph().Neighbours(1);
  std::vector<NeighbourPublicKeys> keys;
  for (int32_t v : nb) keys.push_back({v, other->cipher_public_key(), other->mask_public_key()});
  auto with_stranger = keys;
  with_stranger.push_back({stranger, other->cipher_public_key(), other->mask_public_key()});
  CHECK(c->ShareKeys(with_stranger, rng).status().code() == absl::StatusCode::kInvalidArgument);
  auto dup = keys;
  dup.push_back(keys[0]);
  CHECK(c->ShareKeys(dup, rng).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(c->ShareKeys(absl::MakeConstSpan(keys).subspan(0, 1), rng).status().code() ==
        absl::StatusCode::kFailedPrecondition);  // fewer than t = 2
  auto first = c->ShareKeys(keys, rng);
  REQUIRE(first.ok());
  REQUIRE(first->size() == nb.size());
  auto again = c->ShareKeys(keys, rng);
  REQUIRE(again.ok());
  CHECK((*again)[0].ciphertext == (*first)[0].ciphertext);  // idempotent, no fresh shares
  CHECK(c->ShareKeys(absl::MakeConstSpan(keys).subspan(0, 3), rng).status().code() ==
        absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("MaskChunk_RequiresReceiveShares") {
  FakeRandomSource rng(3);
  auto c = *SecAggClient::Create(ClientOptions(1), rng);
  std::vector<uint64_t> v(4);
  CHECK(c->MaskChunk(0, absl::MakeSpan(v)).code() == absl::StatusCode::kFailedPrecondition);
  CHECK(c->ReceiveShares({}).code() == absl::StatusCode::kFailedPrecondition);
  CHECK(c->Unmask({}, {}).status().code() == absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("MaskChunk_ChunkedEqualsWholeAndRejectsWideInputs") {
  FakeRandomSource rng(4);
  auto round = *RoundHarness::Run(Options(), rng);
  SecAggClient& c = round.client(round.masked_input()[0]);
  std::vector<uint64_t> whole(10000), pieces(10000);
  for (size_t i = 0; i < whole.size(); ++i) whole[i] = pieces[i] = i;
  REQUIRE(c.MaskChunk(0, absl::MakeSpan(whole)).ok());
  for (size_t start = 0; start < pieces.size(); start += 777) {
    const size_t len = std::min<size_t>(777, pieces.size() - start);
    REQUIRE(c.MaskChunk(static_cast<int64_t>(start), absl::MakeSpan(pieces).subspan(start, len)).ok());
  }
  CHECK(whole == pieces);
  std::vector<uint64_t> wide = {1u << 24};
  CHECK(c.MaskChunk(0, absl::MakeSpan(wide)).code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("ReceiveShares_RejectsTamperedOrMisroutedCiphertextAndRecordsNothing") {
  // Three devices on the complete graph, t = 2: out[u] holds u's sealed bundle per recipient.
  FakeRandomSource rng(5);
  std::vector<std::unique_ptr<SecAggClient>> c(4);
  for (int32_t i = 1; i <= 3; ++i) {
    c[i] = *SecAggClient::Create({"r", i, 3, 2, 2, std::string(32, 's'), 16}, rng);
  }
  std::map<std::pair<int32_t, int32_t>, std::string> sealed;  // (sender, recipient)
  for (int32_t u = 1; u <= 3; ++u) {
    std::vector<NeighbourPublicKeys> keys;
    for (int32_t v = 1; v <= 3; ++v) {
      if (v != u) keys.push_back({v, c[v]->cipher_public_key(), c[v]->mask_public_key()});
    }
    auto out = c[u]->ShareKeys(keys, rng);
    REQUIRE(out.ok());
    for (const EncryptedShare& e : *out) sealed[{u, e.index}] = e.ciphertext;
  }
  std::string flipped = sealed[{2, 1}];
  flipped[20] = static_cast<char>(flipped[20] ^ 0x10);
  CHECK(c[1]->ReceiveShares({{2, flipped}, {3, sealed[{3, 1}]}}).code() ==
        absl::StatusCode::kDataLoss);
  // 2's bundle for 3, delivered to 1 as if it were 2's bundle for 1.
  CHECK(c[1]->ReceiveShares({{2, sealed[{2, 3}]}, {3, sealed[{3, 1}]}}).code() ==
        absl::StatusCode::kDataLoss);
  CHECK(c[1]->masking_neighbours().empty());
  std::vector<uint64_t> v(2);
  CHECK(c[1]->MaskChunk(0, absl::MakeSpan(v)).code() == absl::StatusCode::kFailedPrecondition);
  REQUIRE(c[1]->ReceiveShares({{2, sealed[{2, 1}]}, {3, sealed[{3, 1}]}}).ok());
  CHECK(c[1]->masking_neighbours() == std::vector<int32_t>{2, 3});
  // Idempotent for the same senders, refused for a different set.
  CHECK(c[1]->ReceiveShares({{3, sealed[{3, 1}]}, {2, sealed[{2, 1}]}}).ok());
  CHECK(c[1]->ReceiveShares({{3, sealed[{3, 1}]}}).code() ==
        absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("Unmask_NeverRevealsBothSharesOfOneNeighbour") {
  FakeRandomSource rng(6);
  auto round = *RoundHarness::Run(Options(), rng);
  const int32_t u = round.masked_input()[0];
  SecAggClient& c = round.client(u);
  const std::vector<int32_t> senders = c.masking_neighbours();
  REQUIRE(senders.size() == 4);
  std::vector<int32_t> surviving = senders;
  std::vector<int32_t> dropped = {senders[0]};
  CHECK(c.Unmask(surviving, dropped).status().code() == absl::StatusCode::kFailedPrecondition);
  // Honest request: answered, then a different one (flipping a neighbour's status) refused.
  std::vector<int32_t> s1(senders.begin() + 1, senders.end());
  auto first = c.Unmask(s1, dropped);
  REQUIRE(first.ok());
  CHECK(first->size() == 4);
  CHECK(std::count_if(first->begin(), first->end(), [&](const UnmaskingShare& s) {
          return s.neighbour_index == senders[0] && s.kind == ShareKind::kMaskKey;
        }) == 1);
  CHECK(c.Unmask(senders, {}).status().code() == absl::StatusCode::kFailedPrecondition);
  auto repeat = c.Unmask(s1, dropped);
  REQUIRE(repeat.ok());
  CHECK((*repeat)[0].share == (*first)[0].share);
  std::vector<uint64_t> v(3);
  CHECK(c.MaskChunk(0, absl::MakeSpan(v)).code() == absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("Unmask_RefusesRequestsInconsistentWithSenders") {
  FakeRandomSource rng(7);
  auto round = *RoundHarness::Run(Options(), rng);
  SecAggClient& c = round.client(round.masked_input()[0]);
  const std::vector<int32_t> senders = c.masking_neighbours();
  std::vector<int32_t> missing(senders.begin() + 1, senders.end());
  CHECK(c.Unmask(missing, {}).status().code() == absl::StatusCode::kFailedPrecondition);
  std::vector<int32_t> extra = senders;
  int32_t stranger = 1;
  while (std::count(senders.begin(), senders.end(), stranger) != 0 ||
         stranger == round.masked_input()[0]) {
    ++stranger;
  }
  extra.push_back(stranger);
  CHECK(c.Unmask(extra, {}).status().code() == absl::StatusCode::kFailedPrecondition);
  std::vector<int32_t> twice = senders;
  twice.push_back(senders[0]);
  CHECK(c.Unmask(twice, {}).status().code() == absl::StatusCode::kFailedPrecondition);
  // Fewer than t = 2 surviving neighbours: refuse to help.
  std::vector<int32_t> one = {senders[0]};
  std::vector<int32_t> rest(senders.begin() + 1, senders.end());
  CHECK(c.Unmask(one, rest).status().code() == absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("Serialize_ResumesWithSameKeysMasksAndAnswers") {
  FakeRandomSource rng(8);
  auto round = *RoundHarness::Run(Options(), rng);
  SecAggClient& c = round.client(round.masked_input()[0]);
  auto restored = SecAggClient::Deserialize(c.Serialize());
  REQUIRE(restored.ok());
  CHECK((*restored)->mask_public_key() == c.mask_public_key());
  CHECK((*restored)->masking_neighbours() == c.masking_neighbours());
  std::vector<uint64_t> a(300, 5), b(300, 5);
  REQUIRE(c.MaskChunk(17, absl::MakeSpan(a)).ok());
  REQUIRE((*restored)->MaskChunk(17, absl::MakeSpan(b)).ok());
  CHECK(a == b);
  const std::vector<int32_t> senders = c.masking_neighbours();
  std::vector<int32_t> s(senders.begin() + 1, senders.end());
  std::vector<int32_t> d = {senders[0]};
  REQUIRE(c.Unmask(s, d).ok());
  // The answered request survives a restart: a different request is still refused.
  auto after = *SecAggClient::Deserialize(c.Serialize());
  CHECK(after->Unmask(senders, {}).status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(after->Unmask(s, d).ok());
  CHECK(after->Serialize() == c.Serialize());
}

TEST_CASE("Deserialize_RejectsCorruptBytes") {
  FakeRandomSource rng(9);
  auto c = *SecAggClient::Create(ClientOptions(3), rng);
  const std::string blob = c->Serialize();
  CHECK(SecAggClient::Deserialize("").status().code() == absl::StatusCode::kDataLoss);
  CHECK(SecAggClient::Deserialize(blob.substr(0, blob.size() - 1)).status().code() ==
        absl::StatusCode::kDataLoss);
  CHECK(SecAggClient::Deserialize(blob + "x").status().code() == absl::StatusCode::kDataLoss);
  std::string wrong_magic = blob;
  wrong_magic[0] = 'X';
  CHECK(SecAggClient::Deserialize(wrong_magic).status().code() == absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace cohort::secagg
