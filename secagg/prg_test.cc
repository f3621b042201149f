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

TEST_CASE("RawKeystream_MatchesAes128CtrKeyedWithTheSeedsFirstHalf") {
  // `head -c 48 /dev/zero | openssl enc -aes-128-ctr -K 000102..0f -iv 00..00 | xxd -p`
  std::string ks(48, '\0');
  REQUIRE(RawKeystream(CountingSeed(),
                       absl::MakeSpan(reinterpret_cast<uint8_t*>(ks.data()), ks.size()))
              .ok());
  CHECK(ToHex(ks) ==
        "c6a13b37878f5b826f4f8162a1c8d8797346139595c0b41e497bbde365f42d0a"
        "49d68753999ba68ce3897a686081b09d");
}

TEST_CASE("Generate_ReadsPowerOfTwoLittleEndianLanesOfTheKeystream") {
  // Keystream bytes c6 a1 3b 37 87 8f 5b 82 6f 4f 81 62 a1 c8 d8 79 73 46 13 95 95 c0 b4 1e
  // 49 7b bd e3 65 f4 2d 0a (above), read by hand as 1-, 2-, 4- and 8-byte lanes.
  CHECK(First(8, 4) == std::vector<uint64_t>{0xc6, 0xa1, 0x3b, 0x37});
  CHECK(First(16, 4) == std::vector<uint64_t>{0xa1c6, 0x373b, 0x8f87, 0x825b});
  CHECK(First(32, 4) == std::vector<uint64_t>{0x373ba1c6, 0x825b8f87, 0x62814f6f, 0x79d8c8a1});
  // m = 20 reads 4-byte lanes masked to 20 bits, not 3-byte ones.
  CHECK(First(20, 4) == std::vector<uint64_t>{0xba1c6, 0xb8f87, 0x14f6f, 0x8c8a1});
  CHECK(First(62, 4) == std::vector<uint64_t>{0x025b8f87373ba1c6, 0x39d8c8a162814f6f,
                                              0x1eb4c09595134673, 0x0a2df465e3bd7b49});
}

TEST_CASE("PrgLaneBytes_IsTheSmallestPowerOfTwoBytesThatHoldsM") {
  CHECK(PrgLaneBytes(8) == 1);
  CHECK(PrgLaneBytes(9) == 2);
  CHECK(PrgLaneBytes(16) == 2);
  CHECK(PrgLaneBytes(17) == 4);
  CHECK(PrgLaneBytes(32) == 4);
  CHECK(PrgLaneBytes(33) == 8);
  CHECK(PrgLaneBytes(62) == 8);
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

TEST_CASE("AddTo_32BitLanesEqual64BitLanes") {
  for (int m : {8, 12, 16, 20, 31, 32}) {
    INFO("m=" << m);
    FakeRandomSource rng(static_cast<uint64_t>(m));
    std::vector<uint64_t> wide(7000);
    for (uint64_t& v : wide) v = rng.NextU64() & ((uint64_t{1} << m) - 1);
    std::vector<uint32_t> narrow(wide.begin(), wide.end());
    auto a = *MaskPrg::Create(CountingSeed(), m);
    auto b = *MaskPrg::Create(CountingSeed(), m);
    REQUIRE(a.AddTo(77, absl::MakeSpan(wide)).ok());
    REQUIRE(b.AddTo(77, absl::MakeSpan(narrow)).ok());
    CHECK(std::equal(wide.begin(), wide.end(), narrow.begin()));
    REQUIRE(a.SubtractFrom(3, absl::MakeSpan(wide)).ok());
    REQUIRE(b.SubtractFrom(3, absl::MakeSpan(narrow)).ok());
    CHECK(std::equal(wide.begin(), wide.end(), narrow.begin()));
  }
}

TEST_CASE("AddTo_RefusesThirtyTwoBitLanesForWiderModuli") {
  auto prg = *MaskPrg::Create(CountingSeed(), 33);
  std::vector<uint32_t> v(4);
  CHECK(prg.AddTo(0, absl::MakeSpan(v)).code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("Generate_ConsecutiveAndBackwardCallsEqualOneCall") {
  // The stream keeps its cipher position between calls that continue each other and re-seeks
  // otherwise; both must give the elements at the requested offsets.
  for (int m : {8, 16, 24, 40}) {
    INFO("m=" << m);
    const std::vector<uint64_t> full = First(m, 9000);
    auto prg = *MaskPrg::Create(CountingSeed(), m);
    std::vector<uint64_t> got(9000);
    const std::vector<size_t> cuts = {0, 1, 4, 2051, 4099, 4100, 9000};  // uneven pieces
    for (size_t i = 0; i + 1 < cuts.size(); ++i) {
      REQUIRE(prg.Generate(static_cast<int64_t>(cuts[i]),
                           absl::MakeSpan(got).subspan(cuts[i], cuts[i + 1] - cuts[i]))
                  .ok());
    }
    CHECK(got == full);
    std::vector<uint64_t> again(100);
    REQUIRE(prg.Generate(17, absl::MakeSpan(again)).ok());  // backwards
    CHECK(std::equal(again.begin(), again.end(), full.begin() + 17));
  }
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
