#ifndef COHORT_SERVER_OPTIONS_H_
#define COHORT_SERVER_OPTIONS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "base/logging.h"
#include "cohort/config/v1/server_config.pb.h"

namespace cohort::server {

// Everything the composition root needs to build a Server. Filled from the config file and then
// the command line (flags win), checked once by ValidateOptions.
struct Options {
  // host:port of the device service; port 0 picks a free port (see port_file).
  std::string device_listen_address = "127.0.0.1:8443";
  // host:port of the admin service.
  std::string admin_listen_address = "127.0.0.1:8444";
  // host:port of the Prometheus endpoint (/metrics); empty disables it.
  std::string metrics_listen_address;
  std::string log_level = "info";
  LogFormat log_format = LogFormat::kText;
  // PEM files; both or neither. Without them the services speak plaintext, which is allowed on
  // loopback addresses only, unless allow_insecure.
  std::string tls_cert_file;
  std::string tls_key_file;
  // With TLS: require admin clients to present a certificate signed by this CA (mutual TLS).
  std::string admin_client_ca_file;
  // The operator's device CA (PEM file): vouches for devices' signing keys in semi-malicious
  // tasks. Empty: such tasks are refused.
  std::string device_ca_file;
  // Bytes of masked input held at once over all rounds; 0 = no bound.
  int64_t upload_buffer_bytes = int64_t{256} << 20;
  bool allow_insecure = false;
  // The admin bearer token (read from admin_token_file or $COHORT_ADMIN_TOKEN); required.
  std::string admin_token;
  // "memory" or a PostgreSQL URI.
  std::string store = "memory";
  bool migrate_on_start = false;
  // Salt of device pseudonyms (read from pseudonym_salt_file or $COHORT_PSEUDONYM_SALT); required
  // with a PostgreSQL store so cool-downs and participation records survive restarts.
  std::string pseudonym_salt;
  // After binding, the server writes "device_port=N\nadmin_port=N\nmetrics_port=N\n" here (for tests and
  // scripts that pass port 0).
  std::string port_file;
};

// The secrets a config may take from the environment instead of a file.
struct EnvironmentSecrets {
  std::string admin_token;     // $COHORT_ADMIN_TOKEN
  std::string pseudonym_salt;  // $COHORT_PSEUDONYM_SALT
};

// Builds Options from a parsed config file. Reads the admin token and pseudonym salt files if
// they are named; otherwise takes them from `environment`.
// Returns INVALID_ARGUMENT naming the field for a bad value, NOT_FOUND for a missing file.
absl::StatusOr<Options> OptionsFromConfig(const cohort::config::v1::ServerConfig& config,
                                          const EnvironmentSecrets& environment);

// Checks every field; the message names the offending flag and value.
absl::Status ValidateOptions(const Options& options);

// Reads a text-format ServerConfig. NOT_FOUND if the file is missing, INVALID_ARGUMENT with the
// parser's line and column if it does not parse.
absl::StatusOr<cohort::config::v1::ServerConfig> ReadConfigFile(const std::string& path);

}  // namespace cohort::server

#endif  // COHORT_SERVER_OPTIONS_H_
