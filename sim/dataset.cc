#include "sim/dataset.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <sys/stat.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"

namespace cohort::sim {
namespace {

// No IDX file we read comes near this; it stops a corrupt header from asking for terabytes.
constexpr int64_t kMaxElements = int64_t{1} << 32;
constexpr int kUnsignedByte = 0x08;

struct GzCloser {
  void operator()(gzFile f) const { gzclose(f); }
};

absl::StatusOr<std::vector<uint8_t>> ReadAll(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return absl::NotFoundError(absl::StrCat("no such file: ", path));
    }
    return absl::PermissionDeniedError(
        absl::StrCat("cannot stat ", path, ": ", std::strerror(errno)));
  }
  if (S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is a directory, not an IDX file"));
  }
  std::unique_ptr<gzFile_s, GzCloser> file(gzopen(path.c_str(), "rb"));
  if (file == nullptr) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  }
  gzbuffer(file.get(), 1 << 17);
  std::vector<uint8_t> bytes;
  constexpr size_t kChunk = 1 << 20;
  while (true) {
    const size_t old_size = bytes.size();
    bytes.resize(old_size + kChunk);
    const int got = gzread(file.get(), bytes.data() + old_size, kChunk);
    if (got < 0) {
      int errnum = 0;
      const char* message = gzerror(file.get(), &errnum);
      return absl::DataLossError(
          absl::StrCat(path, ": corrupt gzip stream (", message ? message : "unknown", ")"));
    }
    bytes.resize(old_size + got);
    if (got == 0) break;
  }
  // A gzip stream cut short reads as a short file; zlib flags it as Z_BUF_ERROR at the end.
  int errnum = Z_OK;
  const char* message = gzerror(file.get(), &errnum);
  if (errnum != Z_OK) {
    return absl::DataLossError(absl::StrCat(path, ": truncated or corrupt gzip stream (",
                                            message ? message : "unknown", ")"));
  }
  return bytes;
}

uint32_t BigEndian32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

}  // namespace

absl::StatusOr<IdxArray> LoadIdx(const std::string& path) {
  COHORT_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, ReadAll(path));
  if (bytes.size() < 4) {
    return absl::DataLossError(absl::StrCat(path, ": ", bytes.size(),
                                            " bytes, too short for an IDX header"));
  }
  // Magic: two zero bytes, the element type, the number of dimensions.
  if (bytes[0] != 0 || bytes[1] != 0 || bytes[3] == 0) {
    return absl::DataLossError(absl::StrCat(
        path, ": bad IDX magic 0x", absl::Hex(BigEndian32(bytes.data()), absl::kZeroPad8),
        " (want 0x0000TTNN: element type TT, NN >= 1 dimensions)"));
  }
  const int type = bytes[2];
  const int rank = bytes[3];
  static constexpr int kKnownTypes[] = {0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E};
  if (std::find(std::begin(kKnownTypes), std::end(kKnownTypes), type) == std::end(kKnownTypes)) {
    return absl::DataLossError(absl::StrCat(path, ": bad IDX magic, unknown element type 0x",
                                            absl::Hex(type, absl::kZeroPad2)));
  }
  if (type != kUnsignedByte) {
    return absl::UnimplementedError(absl::StrCat(path, ": IDX element type 0x",
                                                 absl::Hex(type, absl::kZeroPad2),
                                                 " is not supported (only unsigned byte 0x08)"));
  }
  const size_t header = 4 + 4 * static_cast<size_t>(rank);
  if (bytes.size() < header) {
    return absl::DataLossError(absl::StrCat(path, ": truncated header: ", rank,
                                            " dimensions need ", header, " bytes, file has ",
                                            bytes.size()));
  }
  IdxArray array;
  int64_t elements = 1;
  for (int i = 0; i < rank; ++i) {
    const int64_t dim = BigEndian32(bytes.data() + 4 + 4 * i);
    if (dim == 0) {
      return absl::DataLossError(absl::StrCat(path, ": dimension ", i, " is zero"));
    }
    array.dims.push_back(dim);
    elements *= dim;
    if (elements > kMaxElements) {
      return absl::DataLossError(absl::StrCat(path, ": dimensions [",
                                              absl::StrJoin(array.dims, ","),
                                              "...] exceed ", kMaxElements, " elements"));
    }
  }
  const auto payload = static_cast<int64_t>(bytes.size() - header);
  if (payload != elements) {
    return absl::DataLossError(absl::StrCat(
        path, ": dimensions [", absl::StrJoin(array.dims, ","), "] need ", elements,
        " data bytes, file has ", payload, payload < elements ? " (truncated)" : " (trailing bytes)"));
  }
  array.data.assign(bytes.begin() + header, bytes.end());
  return array;
}

absl::StatusOr<Dataset> DatasetFromIdx(const IdxArray& images, const IdxArray& labels,
                                       const std::string& what) {
  constexpr int kClasses = 10;
  if (images.dims.size() != 3) {
    return absl::DataLossError(absl::StrCat(what, ": images have ", images.dims.size(),
                                            " dimensions, want 3 [n,rows,cols]"));
  }
  if (labels.dims.size() != 1) {
    return absl::DataLossError(
        absl::StrCat(what, ": labels have ", labels.dims.size(), " dimensions, want 1 [n]"));
  }
  if (images.dims[0] != labels.dims[0]) {
    return absl::DataLossError(absl::StrCat(what, ": ", images.dims[0], " images but ",
                                            labels.dims[0], " labels"));
  }
  Dataset data;
  data.num_features = images.dims[1] * images.dims[2];
  data.num_classes = kClasses;
  data.labels.reserve(labels.data.size());
  for (size_t i = 0; i < labels.data.size(); ++i) {
    if (labels.data[i] >= kClasses) {
      return absl::DataLossError(absl::StrCat(what, ": label ", int{labels.data[i]},
                                              " of example ", i, " is not a class 0..9"));
    }
    data.labels.push_back(labels.data[i]);
  }
  data.features.resize(images.data.size());
  for (size_t i = 0; i < images.data.size(); ++i) {
    data.features[i] = static_cast<float>(images.data[i]) * (1.0f / 255.0f);
  }
  return data;
}

namespace {

absl::StatusOr<IdxArray> LoadGzOrPlain(const std::string& dir, const std::string& stem) {
  const std::string gz = absl::StrCat(dir, "/", stem, ".gz");
  absl::StatusOr<IdxArray> array = LoadIdx(gz);
  if (!absl::IsNotFound(array.status())) return array;
  array = LoadIdx(absl::StrCat(dir, "/", stem));
  if (absl::IsNotFound(array.status())) {
    return absl::NotFoundError(absl::StrCat(
        "Fashion-MNIST file missing: neither ", gz, " nor ", dir, "/", stem,
        " exists (install Debian's dataset-fashion-mnist package, or pass the directory that "
        "holds the IDX files)"));
  }
  return array;
}

absl::StatusOr<Dataset> LoadSplit(const std::string& dir, const std::string& split) {
  COHORT_ASSIGN_OR_RETURN(IdxArray images,
                          LoadGzOrPlain(dir, absl::StrCat(split, "-images-idx3-ubyte")));
  COHORT_ASSIGN_OR_RETURN(IdxArray labels,
                          LoadGzOrPlain(dir, absl::StrCat(split, "-labels-idx1-ubyte")));
  return DatasetFromIdx(images, labels, absl::StrCat(dir, "/", split, "-*"));
}

}  // namespace

absl::StatusOr<FashionMnist> LoadFashionMnist(const std::string& dir) {
  FashionMnist data;
  COHORT_ASSIGN_OR_RETURN(data.train, LoadSplit(dir, "train"));
  COHORT_ASSIGN_OR_RETURN(data.test, LoadSplit(dir, "t10k"));
  return data;
}

Dataset Subset(const Dataset& data, const std::vector<int64_t>& indices) {
  Dataset out;
  out.num_features = data.num_features;
  out.num_classes = data.num_classes;
  out.labels.reserve(indices.size());
  out.features.reserve(indices.size() * data.num_features);
  for (int64_t i : indices) {
    out.labels.push_back(data.labels[i]);
    const auto row = data.features.begin() + i * data.num_features;
    out.features.insert(out.features.end(), row, row + data.num_features);
  }
  return out;
}

}  // namespace cohort::sim
