#include "secagg/mask_streams.h"

#include <catch2/catch.hpp>

#include <vector>

#include "secagg/testing/fake_random_source.h"

namespace cohort::secagg {
namespace {

SecretKey Seed(uint8_t b) {
  std::array<uint8_t, 32> k;
  k.fill(b);
  return SecretKey(k);
}

std::vector<uint64_t> Stream(uint8_t seed, int m, int64_t offset, size_t count) {
  auto prg = *MaskPrg::Create(Seed(seed), m);
  std::vector<uint64_t> out(count);
  REQUIRE(prg.Generate(offset, absl::MakeSpan(out)).ok());
  return out;
}

// The independent oracle: each stream generated alone and combined element by element.
TEST_CASE("ApplyTo_AddsAndSubtractsEveryStreamModTheRing") {
  for (int m : {8, 18, 32, 33, 62}) {
    INFO("m=" << m);
    const uint64_t mask = (uint64_t{1} << m) - 1;
    FakeRandomSource rng(static_cast<uint64_t>(m));
    const size_t d = 20000;  // more than two blocks, with a ragged end
    std::vector<uint64_t> values(d);
    for (uint64_t& v : values) v = rng.NextU64() & mask;
    std::vector<uint64_t> expected = values;
    MaskStreams streams(m);
    for (uint8_t s : {1, 2, 3}) streams.Add(*MaskPrg::Create(Seed(s), m));
    for (uint8_t s : {4, 5}) streams.Subtract(*MaskPrg::Create(Seed(s), m));
    for (uint8_t s : {1, 2, 3, 4, 5}) {
      const std::vector<uint64_t> e = Stream(s, m, 100, d);
      for (size_t j = 0; j < d; ++j) {
        expected[j] = (s <= 3 ? expected[j] + e[j] : expected[j] - e[j]) & mask;
      }
    }
    REQUIRE(streams.ApplyTo(100, absl::MakeSpan(values)).ok());
    CHECK(values == expected);
  }
}

TEST_CASE("ApplyTo_ChunkByChunkEqualsWholeVector") {
  const int m = 20;
  std::vector<uint64_t> whole(30000, 5), pieces(30000, 5);
  MaskStreams a(m), b(m);
  for (uint8_t s : {7, 8}) {
    a.Add(*MaskPrg::Create(Seed(s), m));
    b.Add(*MaskPrg::Create(Seed(s), m));
  }
  REQUIRE(a.ApplyTo(0, absl::MakeSpan(whole)).ok());
  // Out of order, as chunk uploads may be.
  for (size_t begin : {20000, 0, 10000}) {
    REQUIRE(b.ApplyTo(static_cast<int64_t>(begin), absl::MakeSpan(pieces).subspan(begin, 10000))
                .ok());
  }
  CHECK(pieces == whole);
}

TEST_CASE("ApplyTo_AStreamAddedAndSubtractedCancels") {
  MaskStreams streams(32);
  streams.Add(*MaskPrg::Create(Seed(9), 32));
  streams.Subtract(*MaskPrg::Create(Seed(9), 32));
  std::vector<uint64_t> values = {0, 1, 0xffffffff, 12345};
  const std::vector<uint64_t> original = values;
  REQUIRE(streams.ApplyTo(0, absl::MakeSpan(values)).ok());
  CHECK(values == original);
}

TEST_CASE("ApplyTo_RefusesAStreamOfAnotherModulusAndANegativeOffset") {
  MaskStreams streams(32);
  streams.Add(*MaskPrg::Create(Seed(1), 24));
  std::vector<uint64_t> values(4);
  CHECK(streams.ApplyTo(0, absl::MakeSpan(values)).code() == absl::StatusCode::kInvalidArgument);
  MaskStreams ok(32);
  CHECK(ok.ApplyTo(-1, absl::MakeSpan(values)).code() == absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cohort::secagg
