#ifndef COHORT_CLI_GRPC_LOGGING_H_
#define COHORT_CLI_GRPC_LOGGING_H_

namespace cohort::cli {

// Sends gRPC's own log lines (gpr_log) through the project's logger, named "grpc", so that they
// share the line format: with --log_format=json a collector gets no raw gRPC text in between.
// Which of gRPC's lines arrive is still gRPC's GRPC_VERBOSITY (default ERROR). Call once from
// main, after InitLogging and before the first channel or server is made.
void RouteGrpcLogsToLogger();

}  // namespace cohort::cli

#endif  // COHORT_CLI_GRPC_LOGGING_H_
