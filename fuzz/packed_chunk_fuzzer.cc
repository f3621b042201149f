// The server's decoding of an UploadMaskedInput chunk (secagg/packing.h): a device chooses the
// bytes; the modulus, element count and offset come from the plan, fuzzed here as well.
// Input: u8 modulus bits, u16 element count, u8 offset + 2 (so -2..253), then the chunk.
// Properties: a buffer CheckPacked accepts unpacks, packs back to the same bytes, and adds into
// the sum; one it refuses is refused by Unpack and UnpackAndAccumulate too.

#include <cstdint>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "fuzz/fuzz_input.h"
#include "secagg/packing.h"

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  std::vector<std::string> seeds;
  for (const auto& [bits, count] :
       {std::pair{16, 5}, std::pair{62, 3}, std::pair{13, 7}, std::pair{8, 0}}) {
    std::vector<uint64_t> values;
    for (int i = 0; i < count; ++i)
      values.push_back((uint64_t{0x9e3779b97f4a7c15} * (i + 1)) >> (64 - bits));
    cohort::fuzz::Output out;
    out.U8(static_cast<uint8_t>(bits)).U64(static_cast<uint64_t>(count), 2).U8(2 + 3);
    seeds.push_back(out.bytes() + *cohort::secagg::Pack(values, bits));
  }
  cohort::fuzz::MaybeWriteSeeds(*argc, *argv, seeds);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cohort::fuzz::Input in(data, size);
  const int bits = in.U8();
  const size_t count = in.U64(2);
  const int64_t offset = static_cast<int64_t>(in.U8()) - 2;
  const std::string bytes = in.Bytes(size);

  const absl::Status checked = cohort::secagg::CheckPacked(bytes, bits, count);
  absl::StatusOr<std::vector<uint64_t>> values = cohort::secagg::Unpack(bytes, bits, count);
  if (checked.ok() != values.ok()) std::abort();
  std::vector<uint64_t> sum(count + 256, 1);
  const absl::Status added =
      cohort::secagg::UnpackAndAccumulate(bytes, bits, offset, absl::MakeSpan(sum));
  if (!checked.ok()) return 0;
  absl::StatusOr<std::string> repacked = cohort::secagg::Pack(*values, bits);
  if (!repacked.ok() || *repacked != bytes) std::abort();
  if (offset >= 0 && !added.ok()) std::abort();
  if (added.ok()) {
    const uint64_t mask = bits == 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1;
    for (size_t j = 0; j < count; ++j) {
      if (sum[static_cast<size_t>(offset) + j] != (((*values)[j] + 1) & mask)) std::abort();
    }
  }
  return 0;
}
