#include "cli/grpc_logging.h"

#include <sstream>

#include "base/logging.h"
#include "catch2/catch.hpp"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpc/grpc.h"
#include "grpc/support/log.h"
#include "spdlog/sinks/ostream_sink.h"

namespace cohort::cli {
namespace {

TEST_CASE("RouteGrpcLogsToLogger_GrpcsLinesBecomeJsonObjectsNamedGrpc") {
  static std::ostringstream stream;  // outlives the test: gRPC may log until the process exits
  REQUIRE(InitLogging("info", LogFormat::kJson,
                      std::make_shared<spdlog::sinks::ostream_sink_mt>(stream))
              .ok());
  RouteGrpcLogsToLogger();
  grpc_init();  // gRPC reads GRPC_VERBOSITY here; before it, gpr_log drops every line

  gpr_log(GPR_ERROR, "listener failed on \"%s\" code=%d", "127.0.0.1:1", 14);

  std::string line = stream.str();
  REQUIRE(!line.empty());
  CHECK(line.back() == '\n');
  line.pop_back();
  CHECK(line.find('\n') == std::string::npos);
  google::protobuf::Struct parsed;
  INFO(line);
  REQUIRE(google::protobuf::util::JsonStringToMessage(line, &parsed).ok());
  const auto& fields = parsed.fields();
  CHECK(fields.at("logger").string_value() == "grpc");
  CHECK(fields.at("level").string_value() == "error");
  CHECK(fields.at("msg").string_value() == "listener failed on \"127.0.0.1:1\" code=14");
  CHECK(fields.at("source").string_value().starts_with("grpc_logging_test.cc:"));
  grpc_shutdown();
}

}  // namespace
}  // namespace cohort::cli
