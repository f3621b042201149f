#include "sim/dataset.h"

#include <zlib.h>

#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "testing/subprocess.h"

namespace cohort::sim {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes IdxBytes(const std::vector<uint32_t>& dims, const Bytes& data, uint8_t type = 0x08) {
  Bytes out = {0, 0, type, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims) {
    out.push_back(d >> 24);
    out.push_back(d >> 16);
    out.push_back(d >> 8);
    out.push_back(d);
  }
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

void WritePlain(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

void WriteGz(const std::string& path, const Bytes& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) ==
          static_cast<int>(bytes.size()));
  gzclose(f);
}

Bytes ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

bool Mentions(const absl::Status& status, const std::string& text) {
  return status.message().find(text) != absl::string_view::npos;
}

TEST_CASE("LoadIdx_PlainAndGzipped_ReadTheSameArray") {
  testing::TempDir dir;
  const Bytes data = {1, 2, 3, 4, 5, 6};
  WritePlain(dir.File("a.idx"), IdxBytes({2, 3}, data));
  WriteGz(dir.File("a.idx.gz"), IdxBytes({2, 3}, data));
  for (const char* name : {"a.idx", "a.idx.gz"}) {
    const IdxArray array = LoadIdx(dir.File(name)).value();
    CHECK(array.dims == std::vector<int64_t>{2, 3});
    CHECK(array.data == data);
  }
}

TEST_CASE("LoadIdx_MissingFile_IsNotFoundNamingThePath") {
  testing::TempDir dir;
  const absl::Status status = LoadIdx(dir.File("nope.idx")).status();
  CHECK(absl::IsNotFound(status));
  CHECK(Mentions(status, dir.File("nope.idx")));
}

TEST_CASE("LoadIdx_BadMagic_IsDataLossNamingFileAndMagic") {
  testing::TempDir dir;
  Bytes bytes = IdxBytes({2}, {1, 2});
  bytes[0] = 0x1f;
  WritePlain(dir.File("bad.idx"), bytes);
  const absl::Status status = LoadIdx(dir.File("bad.idx")).status();
  CHECK(absl::IsDataLoss(status));
  CHECK(Mentions(status, dir.File("bad.idx")));
  CHECK(Mentions(status, "magic"));
  // An element type that IDX does not define is a bad magic too.
  WritePlain(dir.File("type.idx"), IdxBytes({2}, {1, 2}, 0x42));
  CHECK(absl::IsDataLoss(LoadIdx(dir.File("type.idx")).status()));
}

TEST_CASE("LoadIdx_FloatElements_IsUnimplemented") {
  testing::TempDir dir;
  WritePlain(dir.File("float.idx"), IdxBytes({1}, {0, 0, 0, 0}, 0x0D));
  CHECK(LoadIdx(dir.File("float.idx")).status().code() == absl::StatusCode::kUnimplemented);
}

TEST_CASE("LoadIdx_DataShorterOrLongerThanDimensions_IsDataLoss") {
  testing::TempDir dir;
  WritePlain(dir.File("short.idx"), IdxBytes({2, 3}, {1, 2, 3, 4, 5}));
  absl::Status status = LoadIdx(dir.File("short.idx")).status();
  CHECK(absl::IsDataLoss(status));
  CHECK(Mentions(status, "truncated"));
  CHECK(Mentions(status, "short.idx"));
  WritePlain(dir.File("long.idx"), IdxBytes({2, 3}, {1, 2, 3, 4, 5, 6, 7}));
  status = LoadIdx(dir.File("long.idx")).status();
  CHECK(absl::IsDataLoss(status));
  CHECK(Mentions(status, "trailing"));
  // Header cut inside the dimensions.
  Bytes header = IdxBytes({2, 3}, {});
  header.resize(9);
  WritePlain(dir.File("header.idx"), header);
  CHECK(absl::IsDataLoss(LoadIdx(dir.File("header.idx")).status()));
  // A zero dimension.
  WritePlain(dir.File("zero.idx"), IdxBytes({0, 3}, {}));
  status = LoadIdx(dir.File("zero.idx")).status();
  CHECK(absl::IsDataLoss(status));
  CHECK(Mentions(status, "zero"));
}

TEST_CASE("LoadIdx_TruncatedOrCorruptGzip_IsDataLoss") {
  testing::TempDir dir;
  Bytes data(5000);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 7);
  WriteGz(dir.File("full.gz"), IdxBytes({5000}, data));
  Bytes gz = ReadFile(dir.File("full.gz"));
  Bytes cut(gz.begin(), gz.begin() + static_cast<long>(gz.size() / 2));
  WritePlain(dir.File("cut.gz"), cut);
  absl::Status status = LoadIdx(dir.File("cut.gz")).status();
  CHECK(absl::IsDataLoss(status));
  CHECK(Mentions(status, "cut.gz"));
  // Flip bytes in the middle of the deflate stream (or its CRC).
  Bytes flipped = gz;
  for (size_t i = 20; i < flipped.size() - 10; i += 7) flipped[i] ^= 0x55;
  WritePlain(dir.File("flipped.gz"), flipped);
  CHECK(absl::IsDataLoss(LoadIdx(dir.File("flipped.gz")).status()));
}

TEST_CASE("LoadFashionMnist_SmallFiles_ScalesPixelsAndKeepsLabels") {
  testing::TempDir dir;
  // Two 2x2 "images" per split; train gzipped, test plain.
  WriteGz(dir.File("train-images-idx3-ubyte.gz"), IdxBytes({2, 2, 2}, {0, 255, 51, 102, 1, 2, 3, 4}));
  WriteGz(dir.File("train-labels-idx1-ubyte.gz"), IdxBytes({2}, {9, 0}));
  WritePlain(dir.File("t10k-images-idx3-ubyte"), IdxBytes({1, 2, 2}, {255, 255, 0, 0}));
  WritePlain(dir.File("t10k-labels-idx1-ubyte"), IdxBytes({1}, {3}));
  const FashionMnist data = LoadFashionMnist(dir.path()).value();
  CHECK(data.train.size() == 2);
  CHECK(data.train.num_features == 4);
  CHECK(data.train.labels == std::vector<int32_t>{9, 0});
  CHECK(data.train.features[1] == 1.0f);
  CHECK(data.train.features[2] == Approx(0.2f));
  CHECK(data.test.size() == 1);
  CHECK(data.test.labels == std::vector<int32_t>{3});
}

TEST_CASE("LoadFashionMnist_MismatchedCountsOrBadLabel_IsDataLoss") {
  testing::TempDir dir;
  WritePlain(dir.File("train-images-idx3-ubyte"), IdxBytes({2, 1, 1}, {0, 1}));
  WritePlain(dir.File("train-labels-idx1-ubyte"), IdxBytes({3}, {0, 1, 2}));
  WritePlain(dir.File("t10k-images-idx3-ubyte"), IdxBytes({1, 1, 1}, {0}));
  WritePlain(dir.File("t10k-labels-idx1-ubyte"), IdxBytes({1}, {0}));
  CHECK(absl::IsDataLoss(LoadFashionMnist(dir.path()).status()));
  WritePlain(dir.File("train-labels-idx1-ubyte"), IdxBytes({2}, {0, 10}));
  const absl::Status status = LoadFashionMnist(dir.path()).status();
  CHECK(absl::IsDataLoss(status));
  CHECK(Mentions(status, "label 10"));
}

TEST_CASE("LoadFashionMnist_MissingDirectory_IsNotFoundMentioningPackage") {
  const absl::Status status = LoadFashionMnist("/nonexistent/fashion").status();
  CHECK(absl::IsNotFound(status));
  CHECK(Mentions(status, "/nonexistent/fashion/train-images-idx3-ubyte"));
  CHECK(Mentions(status, "dataset-fashion-mnist"));
}

TEST_CASE("Subset_CopiesRowsInIndexOrder") {
  Dataset data;
  data.num_features = 2;
  data.num_classes = 10;
  data.features = {0, 1, 10, 11, 20, 21};
  data.labels = {0, 1, 2};
  const Dataset sub = Subset(data, {2, 0});
  CHECK(sub.features == std::vector<float>{20, 21, 0, 1});
  CHECK(sub.labels == std::vector<int32_t>{2, 0});
}

}  // namespace
}  // namespace cohort::sim
