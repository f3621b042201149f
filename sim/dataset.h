#ifndef COHORT_SIM_DATASET_H_
#define COHORT_SIM_DATASET_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace cohort::sim {

// An IDX array of unsigned bytes (the format of MNIST and Fashion-MNIST): dimensions, then the
// values in row-major order.
struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;
};

// Reads an IDX file, gzipped or plain (zlib tells them apart by the gzip header).
// Errors:
//   NOT_FOUND naming the path when the file does not exist; PERMISSION_DENIED when it cannot be
//   opened for reading;
//   DATA_LOSS naming the file and the defect: a bad magic number, zero or absurd dimensions, a
//   file shorter or longer than its dimensions say, a corrupt gzip stream;
//   UNIMPLEMENTED for a well-formed IDX file whose element type is not unsigned byte (0x08).
absl::StatusOr<IdxArray> LoadIdx(const std::string& path);

// Examples as float features, row-major [size, num_features], with integer labels.
struct Dataset {
  std::vector<float> features;
  std::vector<int32_t> labels;
  int64_t num_features = 0;
  int64_t num_classes = 0;
  int64_t size() const { return static_cast<int64_t>(labels.size()); }
};

struct FashionMnist {
  Dataset train;  // 60,000 examples
  Dataset test;   // 10,000 examples
};

// Debian's dataset-fashion-mnist package installs the files here.
inline constexpr char kDefaultFashionMnistDir[] = "/usr/share/datasets/fashion-mnist";

// Builds a data set from an images array [n, rows, cols] and a labels array [n]; pixels are
// scaled to [0, 1]. DATA_LOSS (naming `what`) when the shapes disagree or a label is >= 10.
absl::StatusOr<Dataset> DatasetFromIdx(const IdxArray& images, const IdxArray& labels,
                                       const std::string& what);

// Loads {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] from `dir` (each file gzipped or not;
// the .gz name is tried first). Errors as LoadIdx; NOT_FOUND mentions the Debian package.
absl::StatusOr<FashionMnist> LoadFashionMnist(const std::string& dir = kDefaultFashionMnistDir);

// The examples at `indices`, in that order (a device's shard).
Dataset Subset(const Dataset& data, const std::vector<int64_t>& indices);

}  // namespace cohort::sim

#endif  // COHORT_SIM_DATASET_H_
