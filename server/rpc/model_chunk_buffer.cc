#include "server/rpc/model_chunk_buffer.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "grpcpp/support/slice.h"

namespace cohort::server {
namespace {

using Holder = std::shared_ptr<const cohort::v1::Model>;

void ReleaseModel(void* holder) { delete static_cast<Holder*>(holder); }

}  // namespace

grpc::ByteBuffer ModelChunkBuffer(const ModelChunkView& view) {
  std::string head = view.header.SerializeAsString();  // every field but data
  {
    google::protobuf::io::StringOutputStream stream(&head);
    google::protobuf::io::CodedOutputStream out(&stream);
    constexpr uint32_t kLengthDelimited = 2;  // protobuf wire type of bytes fields
    out.WriteTag((static_cast<uint32_t>(cohort::v1::ModelChunk::kDataFieldNumber) << 3) |
                 kLengthDelimited);
    out.WriteVarint64(view.data.size());
  }
  std::vector<grpc::Slice> slices;
  slices.emplace_back(head);
  if (!view.data.empty()) {
    // gRPC only reads the bytes; the holder keeps the model alive until the slice is released.
    slices.emplace_back(const_cast<char*>(view.data.data()), view.data.size(), &ReleaseModel,
                        new Holder(view.model));
  }
  return grpc::ByteBuffer(slices.data(), slices.size());
}

absl::StatusOr<cohort::v1::DownloadModelRequest> ParseDownloadModelRequest(
    const grpc::ByteBuffer& request) {
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (request.Dump(&slices).ok()) {
    for (const grpc::Slice& s : slices) {
      bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
  }
  cohort::v1::DownloadModelRequest parsed;
  if (!parsed.ParseFromString(bytes)) {
    return absl::InvalidArgumentError("DownloadModel: the request is not a DownloadModelRequest");
  }
  return parsed;
}

}  // namespace cohort::server
