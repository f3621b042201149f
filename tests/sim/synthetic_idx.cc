#include "tests/sim/synthetic_idx.h"

#include <zlib.h>

#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

namespace cohort::sim_test {
namespace {

void WriteGzIdx(const std::string& path, const std::vector<uint32_t>& dims,
                const std::vector<uint8_t>& data) {
  std::vector<uint8_t> bytes = {0, 0, 0x08, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<uint8_t>(d >> shift));
  }
  bytes.insert(bytes.end(), data.begin(), data.end());
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) ==
          static_cast<int>(bytes.size()));
  gzclose(f);
}

}  // namespace

void WriteSplit(const std::string& dir, const std::string& split, int n, uint32_t seed) {
  std::vector<uint8_t> images, labels;
  uint32_t state = seed;
  auto next = [&state] { return state = state * 1664525u + 1013904223u; };
  for (int i = 0; i < n; ++i) {
    const int label = static_cast<int>(next() >> 16) % 10;
    labels.push_back(static_cast<uint8_t>(label));
    for (int r = 0; r < 28; ++r) {
      for (int c = 0; c < 28; ++c) {
        const bool band = r >= 2 * label && r < 2 * label + 4;
        images.push_back(static_cast<uint8_t>((band ? 200 : 0) + ((next() >> 24) % 40)));
      }
    }
  }
  WriteGzIdx(dir + "/" + split + "-images-idx3-ubyte.gz", {static_cast<uint32_t>(n), 28, 28},
             images);
  WriteGzIdx(dir + "/" + split + "-labels-idx1-ubyte.gz", {static_cast<uint32_t>(n)}, labels);
}

}  // namespace cohort::sim_test
