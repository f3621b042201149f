#include "secagg/packing.h"

#include <catch2/catch.hpp>

#include <vector>

#include "secagg/testing/fake_random_source.h"

namespace cohort::secagg {
namespace {

std::vector<uint64_t> RandomValues(FakeRandomSource& rng, size_t n, int m) {
  std::vector<uint64_t> v(n);
  for (uint64_t& x : v) x = rng.NextU64() & ((uint64_t{1} << m) - 1);
  return v;
}

TEST_CASE("Pack_UsesLittleEndianBitStream") {
  // 0x0ab then 0xcde at 12 bits form the 24-bit value 0xcde0ab, stored little endian.
  auto packed = Pack(std::vector<uint64_t>{0xab, 0xcde}, 12);
  REQUIRE(packed.ok());
  CHECK(*packed == std::string("\xab\xe0\xcd", 3));
  CHECK(PackedSize(2, 12) == 3);
  CHECK(PackedSize(3, 9) == 4);
}

TEST_CASE("Unpack_InvertsPackForEveryWidth") {
  FakeRandomSource rng(1);
  for (int m = kMinModulusBits; m <= kMaxModulusBits; ++m) {
    for (size_t n : {0, 1, 2, 7, 8, 9, 63, 1000}) {
      const std::vector<uint64_t> values = RandomValues(rng, n, m);
      auto packed = Pack(values, m);
      REQUIRE(packed.ok());
      REQUIRE(packed->size() == PackedSize(n, m));
      auto back = Unpack(*packed, m, n);
      INFO("m=" << m << " n=" << n);
      REQUIRE(back.ok());
      CHECK(*back == values);
    }
  }
}

TEST_CASE("UnpackAndAccumulate_AddsChunkAtOffsetModR") {
  FakeRandomSource rng(2);
  for (int m : {8, 17, 32, 61, 62}) {
    std::vector<uint64_t> sum = RandomValues(rng, 100, m);
    const std::vector<uint64_t> before = sum;
    const std::vector<uint64_t> chunk = RandomValues(rng, 37, m);
    REQUIRE(UnpackAndAccumulate(*Pack(chunk, m), m, 50, absl::MakeSpan(sum)).ok());
    const uint64_t mask = (uint64_t{1} << m) - 1;
    for (size_t i = 0; i < sum.size(); ++i) {
      const uint64_t expected = (i >= 50 && i < 87) ? (before[i] + chunk[i - 50]) & mask : before[i];
      REQUIRE(sum[i] == expected);
    }
  }
}

TEST_CASE("UnpackAndAccumulate_RejectsChunkBeyondSum") {
  std::vector<uint64_t> sum(10);
  auto packed = *Pack(std::vector<uint64_t>(5, 1), 16);
  CHECK(UnpackAndAccumulate(packed, 16, 6, absl::MakeSpan(sum)).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(UnpackAndAccumulate(packed, 16, -1, absl::MakeSpan(sum)).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(UnpackAndAccumulate(packed, 16, 5, absl::MakeSpan(sum)).ok());
}

TEST_CASE("Pack_RejectsElementWiderThanModulus") {
  CHECK(Pack(std::vector<uint64_t>{1, 256}, 8).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(Pack(std::vector<uint64_t>{1}, 63).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("Unpack_RejectsWrongSizeAndNonZeroPadding") {
  auto packed = *Pack(std::vector<uint64_t>{1, 2, 3}, 12);  // 36 bits -> 5 bytes, 4 pad bits
  CHECK(Unpack(packed, 12, 4).status().code() == absl::StatusCode::kInvalidArgument);
  std::string bad = packed;
  bad.back() = static_cast<char>(bad.back() | 0x80);
  CHECK(Unpack(bad, 12, 3).status().code() == absl::StatusCode::kInvalidArgument);
  std::vector<uint64_t> sum(3);
  CHECK(UnpackAndAccumulate(bad, 12, 0, absl::MakeSpan(sum)).code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("UnpackAndAccumulate_RefusesAWholeByteOfPaddingForEveryWidth") {
  // floor(8 * bytes / m) elements can leave 8 or more padding bits when m > 8 (e.g. 3 bytes at
  // m = 16: one element and a spare byte). That is not a packing; it used to reach a shift by
  // a negative amount in the padding check.
  for (int m = 9; m <= kMaxModulusBits; ++m) {
    for (size_t bytes = 1; bytes <= 24; ++bytes) {
      const size_t count = bytes * 8 / static_cast<size_t>(m);
      if (PackedSize(count, m) == bytes) continue;
      INFO("m=" << m << " bytes=" << bytes);
      std::vector<uint64_t> sum(count + 1);
      for (char fill : {'\0', '\xff'}) {
        CHECK(UnpackAndAccumulate(std::string(bytes, fill), m, 0, absl::MakeSpan(sum)).code() ==
              absl::StatusCode::kInvalidArgument);
      }
    }
  }
}

TEST_CASE("UnpackAndAccumulate_ChecksEveryPaddingBit") {
  for (int m : {9, 12, 15, 17, 31, 62}) {
    const std::vector<uint64_t> values{1, 2, 3};
    std::string packed = *Pack(values, m);
    const size_t pad = packed.size() * 8 - 3 * static_cast<size_t>(m);
    for (size_t bit = 0; bit < pad; ++bit) {
      std::string bad = packed;
      const size_t b = 3 * static_cast<size_t>(m) + bit;
      bad[b / 8] = static_cast<char>(static_cast<uint8_t>(bad[b / 8]) | (1u << (b % 8)));
      std::vector<uint64_t> sum(3);
      INFO("m=" << m << " bit=" << bit);
      CHECK(UnpackAndAccumulate(bad, m, 0, absl::MakeSpan(sum)).code() ==
            absl::StatusCode::kInvalidArgument);
      CHECK(Unpack(bad, m, 3).status().code() == absl::StatusCode::kInvalidArgument);
    }
  }
}

}  // namespace
}  // namespace cohort::secagg
