#ifndef COHORT_SERVER_RPC_MODEL_CHUNK_BUFFER_H_
#define COHORT_SERVER_RPC_MODEL_CHUNK_BUFFER_H_

// The wire form of a DownloadModel answer without copying the model: a small slice with the
// ModelChunk's other fields and the `data` field's tag and length, then a slice that points into
// the version's one immutable parameter buffer and holds a reference to it until gRPC has sent
// it. A thousand devices downloading at once then cost a thousand small headers, not a thousand
// copies of the chunk.
//
//   grpc::ByteBuffer wire = ModelChunkBuffer(*view);   // view: server::ModelChunkView
//
// The bytes equal `view.ToChunk().SerializeAsString()` up to field order, which protobuf
// parsers accept in any order (`data` comes last here).

#include "absl/status/statusor.h"
#include "cohort/v1/device.pb.h"
#include "grpcpp/support/byte_buffer.h"
#include "server/core/round.h"

namespace cohort::server {

grpc::ByteBuffer ModelChunkBuffer(const ModelChunkView& view);

// Parses a raw request (INVALID_ARGUMENT if it is not a DownloadModelRequest).
absl::StatusOr<cohort::v1::DownloadModelRequest> ParseDownloadModelRequest(
    const grpc::ByteBuffer& request);

}  // namespace cohort::server

#endif  // COHORT_SERVER_RPC_MODEL_CHUNK_BUFFER_H_
