#include "cli/grpc_logging.h"

#include <memory>

#include "base/logging.h"
#include "grpc/support/log.h"

namespace cohort::cli {
namespace {

spdlog::logger* grpc_logger = nullptr;  // set once before gRPC runs; never freed (gRPC may log at exit)

spdlog::level::level_enum LevelOf(gpr_log_severity severity) {
  switch (severity) {
    case GPR_LOG_SEVERITY_DEBUG: return spdlog::level::debug;
    case GPR_LOG_SEVERITY_INFO: return spdlog::level::info;
    default: return spdlog::level::err;
  }
}

void LogGrpcLine(gpr_log_func_args* args) {
  grpc_logger->log(spdlog::source_loc{args->file, args->line, ""}, LevelOf(args->severity), "{}",
                   args->message);
}

}  // namespace

void RouteGrpcLogsToLogger() {
  if (grpc_logger == nullptr) {
    grpc_logger = new spdlog::logger(*LibraryLogger("grpc"));
  }
  gpr_set_log_function(&LogGrpcLine);
}

}  // namespace cohort::cli
