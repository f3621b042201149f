# The composition root: options -> Server -> main.
cohort_cc_library(
  NAME server_app
  HDRS options.h server.h
  SRCS options.cc server.cc
  DEPS cohort::base cohort::protos cohort::server_rpc cohort::open_store cohort::postgres_store
       cohort::store_interface gRPC::grpc++ gRPC::grpc++_reflection prometheus-cpp::core
       prometheus-cpp::pull)

cohort_cc_binary(NAME cohort-server SRCS main.cc
                 DEPS cohort::server_app cohort::cli cohort::cli_grpc_logging CLI11::CLI11)

cohort_cc_test(NAME server_options SRCS options_test.cc DEPS cohort::server_app cohort::subprocess)
