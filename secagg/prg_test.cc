#include "secagg/prg.h"

#include <catch2/catch.hpp>

#include <vector>

#include "secagg/testing/fake_random_source.h"
#include "secagg/testing/hex.h"

namespace cohort::secagg {
namespace {

SecretKey CountingSeed() {
  std::array<uint8_t, 32> k;
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(i);
  return SecretKey(k);
}

std::vector<uint64_t> First(int m, size_t count, int64_t offset = 0) {
  auto prg = MaskPrg::Create(CountingSeed(), m);
  REQUIRE(prg.ok());
  std::vector<uint64_t> out(count);
  REQUIRE(prg->Generate(offset, absl::MakeSpan(out)).ok());
  return out;
}

TEST_CASE("RawKeystream_MatchesAes256CtrKnownAnswer") {
  // `head -c 32 /dev/zero | openssl enc -aes-256-ctr -K 0001..1f -iv 00..00`
  std::string ks(32, '\0');
  REQUIRE(RawKeystream(CountingSeed(),
                       absl::MakeSpan(reinterpret_cast<uint8_t*>(ks.data()), ks.size()))
              .ok());
  CHECK(ToHex(ks) == "f29000b62a499fd0a9f39a6add2e7780f05d76ae4ab99fe5a6f69b3148c2363d");
}

TEST_CASE("Generate_FixedSeedGivesKnownFirstElements") {
  CHECK(First(32, 4) == std::vector<uint64_t>{0xb60090f2, 0xd09f492a, 0x6a9af3a9, 0x80772edd});
  CHECK(First(20, 4) == std::vector<uint64_t>{0x90f2, 0x92ab6, 0x9d09f, 0xa9af3});
  CHECK(First(62, 4) == std::vector<uint64_t>{0x109f492ab60090f2, 0x772edd6a9af3a9,
                                              0x259fb94aae765df0, 0x3d36c248319bf6a6});
}

TEST_CASE("Generate_OffsetStreamEqualsTailOfFullStream") {
  for (int m : {8, 13, 20, 32, 33, 47, 62}) {
    const std::vector<uint64_t> full = First(m, 10000);
    for (int64_t offset : {1, 2, 3, 5, 7, 15, 16, 17, 2047, 2048, 2049, 4999}) {
      const std::vector<uint64_t> tail = First(m, 10000 - static_cast<size_t>(offset), offset);
      INFO("m=" << m << " offset=" << offset);
      CHECK(std::equal(tail.begin(), tail.end(), full.begin() + offset));
    }
  }
}

TEST_CASE("Generate_ElementsStayBelowModulus") {
  for (int m = kMinModulusBits; m <= kMaxModulusBits; ++m) {
    uint64_t any = 0;
    for (uint64_t v : First(m, 2000)) {
      REQUIRE((v >> m) == 0);
      any |= v;
    }
    // Every bit position below m shows up somewhere in 2000 uniform elements.
    CHECK(any == (uint64_t{1} << m) - 1);
  }
}

TEST_CASE("AddTo_ThenSubtractFrom_RestoresValuesAndMatchesGenerate") {
  const int m = 24;
  auto prg = *MaskPrg::Create(CountingSeed(), m);
  std::vector<uint64_t> values(5000);
  FakeRandomSource rng(1);
  for (uint64_t& v : values) v = rng.NextU64() & ((1u << m) - 1);
  const std::vector<uint64_t> original = values;
  REQUIRE(prg.AddTo(123, absl::MakeSpan(values)).ok());
  const std::vector<uint64_t> stream = First(m, 5000, 123);
  for (size_t i = 0; i < values.size(); ++i) {
    REQUIRE(values[i] == ((original[i] + stream[i]) & ((1u << m) - 1)));
  }
  REQUIRE(prg.SubtractFrom(123, absl::MakeSpan(values)).ok());
  CHECK(values == original);
}

TEST_CASE("Create_RejectsModulusOutOfRange") {
  CHECK(MaskPrg::Create(CountingSeed(), 7).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(MaskPrg::Create(CountingSeed(), 63).status().code() ==
        absl::StatusCode::kInvalidArgument);
  auto prg = *MaskPrg::Create(CountingSeed(), 16);
  std::vector<uint64_t> v(4);
  CHECK(prg.Generate(-1, absl::MakeSpan(v)).code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("Generate_DifferentSeedsGiveDifferentStreams") {
  FakeRandomSource rng(2);
  SecretKey other;
  rng.Fill(absl::MakeSpan(other.mutable_data(), 32));
  auto a = First(32, 8);
  auto prg = *MaskPrg::Create(other, 32);
  std::vector<uint64_t> b(8);
  REQUIRE(prg.Generate(0, absl::MakeSpan(b)).ok());
  CHECK(a != b);
}

}  // namespace
}  // namespace cohort::secagg
