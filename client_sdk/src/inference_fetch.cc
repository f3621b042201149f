#include "client_sdk/src/inference_fetch.h"

#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "client_sdk/src/files.h"
#include "codec/model.h"

namespace cohort::client::internal {
namespace {

constexpr int kMaxCorruptDownloads = 3;

std::string FormatName(v1::InferenceFormat format) {
  return format == v1::INFERENCE_FORMAT_INT8 ? "int8" : "float32";
}

absl::Duration FromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

// The artifact's version, or an error if it is not one of `format`.
absl::StatusOr<int64_t> VersionOf(const std::string& bytes, v1::InferenceFormat format) {
  v1::InferenceModel model;
  if (!model.ParseFromString(bytes) || model.format() != format || !model.has_graph()) {
    return absl::DataLossError(absl::StrCat("the ", FormatName(format),
                                            " inference artifact does not parse as one"));
  }
  return model.model_version();
}

}  // namespace

InferenceFetcher::InferenceFetcher(Transport* transport, InferenceFetchOptions options)
    : transport_(transport), options_(std::move(options)) {}

std::string InferenceFetcher::CachedPath(v1::InferenceFormat format) const {
  return absl::StrCat(options_.dir, "/", FormatName(format), ".pb");
}

absl::StatusOr<InferenceModelUpdate> InferenceFetcher::Update(v1::InferenceFormat format,
                                                              const std::string& task_id) {
  if (format != v1::INFERENCE_FORMAT_FLOAT32 && format != v1::INFERENCE_FORMAT_INT8) {
    return absl::InvalidArgumentError("format must be FLOAT32 or INT8");
  }
  if (absl::Status s = MakeDirs(options_.dir); !s.ok()) return s;
  InferenceModelUpdate held;
  std::string held_sha256;
  absl::StatusOr<std::optional<std::string>> cached = ReadFileIfExists(CachedPath(format));
  if (!cached.ok()) return cached.status();
  if (cached->has_value()) {
    absl::StatusOr<int64_t> version = VersionOf(**cached, format);
    if (version.ok()) {
      held.model_version = *version;
      held.path = CachedPath(format);
      held_sha256 = codec::Sha256(**cached);
    }  // a damaged cache counts as none: the download replaces it
  }
  const auto retry = retry_at_.find(format);
  if (retry != retry_at_.end() && options_.clock->Now() < retry->second) {
    held.retry_at = retry->second;
    return held;
  }
  return Download(format, task_id, held_sha256, held.model_version);
}

absl::StatusOr<InferenceModelUpdate> InferenceFetcher::Download(v1::InferenceFormat format,
                                                                const std::string& task_id,
                                                                const std::string& held_sha256,
                                                                int64_t held_version) {
  const std::string part = absl::StrCat(options_.dir, "/", FormatName(format), ".part");
  const std::string part_sha = part + ".sha256";
  // A download an earlier call (or process) left unfinished goes on where it stopped.
  std::string artifact_sha256;
  std::string bytes;
  absl::StatusOr<std::optional<std::string>> saved_sha = ReadFileIfExists(part_sha);
  absl::StatusOr<std::optional<std::string>> saved = ReadFileIfExists(part);
  if (!saved_sha.ok()) return saved_sha.status();
  if (!saved.ok()) return saved.status();
  if (saved_sha->has_value() && saved->has_value() && (*saved_sha)->size() == 32) {
    artifact_sha256 = **saved_sha;
    bytes = **saved;
  }
  InferenceModelUpdate result;
  result.model_version = held_version;
  if (!held_sha256.empty()) result.path = CachedPath(format);
  int corrupt = 0;
  while (true) {
    v1::FetchInferenceModelRequest request;
    request.set_population(options_.population);
    request.set_device_id(options_.device_id());
    request.set_sdk_version(options_.sdk_version);
    request.set_task_id(task_id);
    request.set_format(format);
    request.set_held_sha256(held_sha256);
    request.set_artifact_sha256(artifact_sha256);
    request.set_offset(static_cast<int64_t>(bytes.size()));
    request.set_max_bytes(options_.chunk_bytes);
    absl::StatusOr<v1::FetchInferenceModelResponse> response =
        transport_->FetchInferenceModel(request);
    if (!response.ok()) return response.status();  // the part file stays for the next call
    if (response->has_unchanged()) {
      (void)RemoveFile(part);
      (void)RemoveFile(part_sha);
      result.model_version = response->unchanged().model_version();
      return result;
    }
    if (response->has_retry_later()) {
      const absl::Duration lo = FromProto(response->retry_later().min_delay());
      const absl::Duration hi = FromProto(response->retry_later().max_delay());
      const absl::Time at =
          options_.clock->Now() + lo + (hi > lo ? (hi - lo) * options_.uniform01() : absl::ZeroDuration());
      retry_at_[format] = at;
      result.retry_at = at;
      return result;
    }
    if (!response->has_chunk()) {
      return absl::DataLossError("FetchInferenceModel answered neither a chunk nor unchanged");
    }
    const v1::InferenceModelChunk& chunk = response->chunk();
    if (chunk.artifact_sha256() != artifact_sha256) {
      // A new download: the latest artifact from its start.
      artifact_sha256 = chunk.artifact_sha256();
      bytes.clear();
      if (absl::Status s = RemoveFile(part); !s.ok()) return s;
      if (absl::Status s = WriteFileAtomically(part_sha, artifact_sha256); !s.ok()) return s;
    }
    if (chunk.offset() != static_cast<int64_t>(bytes.size()) || chunk.total_size() < 0 ||
        static_cast<int64_t>(bytes.size() + chunk.data().size()) > chunk.total_size() ||
        (chunk.data().empty() && static_cast<int64_t>(bytes.size()) < chunk.total_size())) {
      (void)RemoveFile(part);
      (void)RemoveFile(part_sha);
      return absl::DataLossError(absl::StrCat("inference chunk at offset ", chunk.offset(), " of ",
                                              chunk.data().size(), " bytes does not continue the ",
                                              bytes.size(), " held of ", chunk.total_size()));
    }
    if (absl::Status s = AppendToFile(part, chunk.data()); !s.ok()) return s;
    bytes += chunk.data();
    if (static_cast<int64_t>(bytes.size()) < chunk.total_size()) continue;
    absl::StatusOr<int64_t> version = VersionOf(bytes, format);
    if (codec::Sha256(bytes) != artifact_sha256 || !version.ok()) {
      // Corrupted on the way (or on disk): discard it and download again.
      (void)RemoveFile(part);
      (void)RemoveFile(part_sha);
      artifact_sha256.clear();
      bytes.clear();
      if (++corrupt >= kMaxCorruptDownloads) {
        return absl::DataLossError(absl::StrCat(
            "the ", FormatName(format), " inference artifact failed its SHA-256 check ", corrupt,
            " times"));
      }
      continue;
    }
    if (absl::Status s = WriteFileAtomically(CachedPath(format), bytes); !s.ok()) return s;
    (void)RemoveFile(part);
    (void)RemoveFile(part_sha);
    result.changed = true;
    result.model_version = *version;
    result.path = CachedPath(format);
    return result;
  }
}

}  // namespace cohort::client::internal
