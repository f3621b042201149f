#include "server/rpc/model_chunk_buffer.h"

#include <catch2/catch.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "grpcpp/support/slice.h"

namespace cohort::server {
namespace {

std::string Flatten(const grpc::ByteBuffer& buffer, std::vector<grpc::Slice>* slices) {
  REQUIRE(buffer.Dump(slices).ok());
  std::string out;
  for (const grpc::Slice& s : *slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

ModelChunkView ViewOf(std::shared_ptr<const cohort::v1::Model> model, size_t offset, size_t len) {
  ModelChunkView view;
  view.header.set_offset(static_cast<int64_t>(offset));
  view.header.set_total_size(static_cast<int64_t>(model->parameters().size()));
  view.header.set_sha256(std::string(32, 's'));
  view.header.set_model_version(7);
  view.data = absl::string_view(model->parameters()).substr(offset, len);
  view.model = std::move(model);
  return view;
}

TEST_CASE("ModelChunkBuffer_ParsesAsTheSameModelChunkAndPointsIntoTheModel") {
  auto model = std::make_shared<cohort::v1::Model>();
  std::string params(300000, '\0');
  for (size_t i = 0; i < params.size(); ++i) params[i] = static_cast<char>(i * 7);
  model->set_parameters(params);
  const ModelChunkView view = ViewOf(model, 1000, 200000);
  std::vector<grpc::Slice> slices;
  const std::string wire = Flatten(ModelChunkBuffer(view), &slices);
  cohort::v1::ModelChunk parsed;
  REQUIRE(parsed.ParseFromString(wire));
  CHECK(parsed.SerializeAsString() == view.ToChunk().SerializeAsString());
  CHECK(parsed.data() == params.substr(1000, 200000));
  // The chunk's bytes are the model's own, not a copy.
  bool shared = false;
  for (const grpc::Slice& s : slices) {
    shared |= reinterpret_cast<const char*>(s.begin()) == model->parameters().data() + 1000;
  }
  CHECK(shared);
}

TEST_CASE("ModelChunkBuffer_KeepsTheModelAliveUntilTheBufferIsGone") {
  auto model = std::make_shared<cohort::v1::Model>();
  model->set_parameters(std::string(4096, 'm'));
  std::weak_ptr<const cohort::v1::Model> watch = model;
  std::optional<grpc::ByteBuffer> buffer;
  {
    ModelChunkView view = ViewOf(std::move(model), 0, 4096);
    buffer.emplace(ModelChunkBuffer(view));
  }  // the round (and the view) may end while gRPC still sends
  CHECK_FALSE(watch.expired());
  std::vector<grpc::Slice> slices;
  cohort::v1::ModelChunk parsed;
  REQUIRE(parsed.ParseFromString(Flatten(*buffer, &slices)));
  CHECK(parsed.data() == std::string(4096, 'm'));
  slices.clear();
  buffer.reset();
  CHECK(watch.expired());
}

TEST_CASE("ModelChunkBuffer_AnEmptyChunkStillCarriesItsHeader") {
  auto model = std::make_shared<cohort::v1::Model>();
  model->set_parameters("abc");
  const ModelChunkView view = ViewOf(model, 3, 0);
  std::vector<grpc::Slice> slices;
  cohort::v1::ModelChunk parsed;
  REQUIRE(parsed.ParseFromString(Flatten(ModelChunkBuffer(view), &slices)));
  CHECK(parsed.offset() == 3);
  CHECK(parsed.total_size() == 3);
  CHECK(parsed.data().empty());
}

TEST_CASE("ParseDownloadModelRequest_RefusesBytesThatAreNotARequest") {
  cohort::v1::DownloadModelRequest request;
  request.set_session_token("token");
  request.set_offset(5);
  grpc::Slice good(request.SerializeAsString());
  auto parsed = ParseDownloadModelRequest(grpc::ByteBuffer(&good, 1));
  REQUIRE(parsed.ok());
  CHECK(parsed->offset() == 5);
  grpc::Slice bad(std::string("\xff\xff\xff", 3));
  CHECK(ParseDownloadModelRequest(grpc::ByteBuffer(&bad, 1)).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cohort::server
