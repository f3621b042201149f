#include "server/options.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/address.h"
#include "base/status_macros.h"
#include "server/store/open_store.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"

namespace cohort::server {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(what, ": cannot read file '", path, "'"));
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

absl::Status FileReadable(const std::string& path, const std::string& flag) {
  if (path.empty()) return absl::OkStatus();
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(flag, ": cannot read file '", path, "'"));
  return absl::OkStatus();
}

// Splits "host:port" / "[v6]:port"; the port must be 0..65535.
absl::Status CheckListenAddress(const std::string& address, const std::string& flag,
                                bool allow_empty) {
  if (address.empty()) {
    if (allow_empty) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(flag, " must not be empty"));
  }
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": '", address, "' is not of the form host:port"));
  }
  int port = 0;
  const std::string port_text = address.substr(colon + 1);
  if (!absl::SimpleAtoi(port_text, &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": port '", port_text, "' in '", address,
                                                   "' is not a number from 0 to 65535"));
  }
  return absl::OkStatus();
}

class ParseErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (first_error_.empty()) {
      first_error_ = absl::StrCat("line ", line + 1, ", column ", column + 1, ": ", message);
    }
  }
  const std::string& first_error() const { return first_error_; }

 private:
  std::string first_error_;
};

// The first line of a file that holds one secret, trimmed; the flag names it in errors.
absl::StatusOr<std::string> ReadSecretFile(const std::string& path, const char* flag) {
  COHORT_ASSIGN_OR_RETURN(std::string text, ReadFile(path, flag));
  const size_t newline = text.find('\n');
  if (newline != std::string::npos) text.resize(newline);
  std::string secret(absl::StripAsciiWhitespace(text));
  if (secret.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": '", path, "' holds no value"));
  }
  return secret;
}

}  // namespace

absl::StatusOr<cohort::config::v1::ServerConfig> ReadConfigFile(const std::string& path) {
  COHORT_ASSIGN_OR_RETURN(const std::string text, ReadFile(path, "--config"));
  cohort::config::v1::ServerConfig config;
  google::protobuf::TextFormat::Parser parser;
  ParseErrorCollector errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(text, &config)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--config: '", path, "' is not a valid ServerConfig: ", errors.first_error()));
  }
  return config;
}

absl::StatusOr<Options> OptionsFromConfig(const cohort::config::v1::ServerConfig& config,
                                          const EnvironmentSecrets& environment) {
  Options options;
  if (!config.device_listen_address().empty()) {
    options.device_listen_address = config.device_listen_address();
  }
  if (!config.admin_listen_address().empty()) {
    options.admin_listen_address = config.admin_listen_address();
  }
  options.metrics_listen_address = config.metrics_listen_address();
  if (!config.log_level().empty()) options.log_level = config.log_level();
  absl::StatusOr<LogFormat> log_format = ParseLogFormat(config.log_format());
  if (!log_format.ok()) return log_format.status();
  options.log_format = *log_format;
  options.tls_cert_file = config.tls().cert_file();
  options.tls_key_file = config.tls().key_file();
  options.admin_client_ca_file = config.tls().admin_client_ca_file();
  options.device_ca_file = config.device_ca_file();
  if (config.has_upload_buffer_mib()) {
    if (config.upload_buffer_mib() < 0 || config.upload_buffer_mib() > (int64_t{1} << 30)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--upload_buffer_mib must be in [0, 1073741824] (0 = no bound), got ",
                       config.upload_buffer_mib()));
    }
    options.upload_buffer_bytes = config.upload_buffer_mib() << 20;
  }
  options.allow_insecure = config.allow_insecure();
  if (!config.store().empty()) options.store = config.store();
  options.migrate_on_start = config.migrate_on_start();

  if (!config.admin_token_file().empty()) {
    COHORT_ASSIGN_OR_RETURN(options.admin_token,
                            ReadSecretFile(config.admin_token_file(), "--admin_token_file"));
  } else {
    options.admin_token = environment.admin_token;
  }
  if (!config.pseudonym_salt_file().empty()) {
    COHORT_ASSIGN_OR_RETURN(options.pseudonym_salt, ReadSecretFile(config.pseudonym_salt_file(),
                                                                   "--pseudonym_salt_file"));
  } else {
    options.pseudonym_salt = environment.pseudonym_salt;
  }
  return options;
}

absl::Status ValidateOptions(const Options& options) {
  COHORT_RETURN_IF_ERROR(
      CheckListenAddress(options.device_listen_address, "--device_listen", false));
  COHORT_RETURN_IF_ERROR(CheckListenAddress(options.admin_listen_address, "--admin_listen", false));
  COHORT_RETURN_IF_ERROR(
      CheckListenAddress(options.metrics_listen_address, "--metrics_listen", true));
  if (options.device_listen_address == options.admin_listen_address &&
      !absl::EndsWith(options.device_listen_address, ":0")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--device_listen and --admin_listen must differ, both are '",
        options.device_listen_address, "'"));
  }
  const spdlog::level::level_enum level = spdlog::level::from_str(options.log_level);
  if (level == spdlog::level::off && options.log_level != "off") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--log_level: '", options.log_level,
        "' is not one of trace, debug, info, warn, error, off"));
  }
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls_cert and --tls_key go together: set both or neither");
  }
  COHORT_RETURN_IF_ERROR(FileReadable(options.tls_cert_file, "--tls_cert"));
  COHORT_RETURN_IF_ERROR(FileReadable(options.tls_key_file, "--tls_key"));
  COHORT_RETURN_IF_ERROR(FileReadable(options.admin_client_ca_file, "--admin_client_ca"));
  COHORT_RETURN_IF_ERROR(FileReadable(options.device_ca_file, "--device_ca_file"));
  const bool tls = !options.tls_cert_file.empty();
  if (!options.admin_client_ca_file.empty() && !tls) {
    return absl::InvalidArgumentError("--admin_client_ca needs --tls_cert and --tls_key");
  }
  if (!tls && !options.allow_insecure) {
    for (const auto& [flag, address] :
         {std::pair{"--device_listen", options.device_listen_address},
          std::pair{"--admin_listen", options.admin_listen_address}}) {
      if (!IsLoopbackAddress(address)) {
        return absl::InvalidArgumentError(absl::StrCat(
            flag, ": '", address,
            "' is not a loopback address; serving plaintext there needs --allow_insecure "
            "(or configure --tls_cert and --tls_key)"));
      }
    }
  }
  if (options.admin_token.empty()) {
    return absl::InvalidArgumentError(
        "no admin token: pass --admin_token_file=FILE or set COHORT_ADMIN_TOKEN");
  }
  if (options.admin_token.size() < 16) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the admin token must be at least 16 characters, got ", options.admin_token.size()));
  }
  if (options.store != "memory" && !absl::StartsWith(options.store, "postgresql://") &&
      !absl::StartsWith(options.store, "postgres://")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--store: '", RedactStoreSpec(options.store), "' is neither 'memory' nor a postgresql:// URI"));
  }
  if (options.migrate_on_start && options.store == "memory") {
    return absl::InvalidArgumentError("--migrate_on_start needs a PostgreSQL --store");
  }
  if (options.store != "memory" && options.pseudonym_salt.empty()) {
    return absl::InvalidArgumentError(
        "a PostgreSQL --store needs a stable pseudonym salt: pass --pseudonym_salt_file=FILE or "
        "set COHORT_PSEUDONYM_SALT");
  }
  if (!options.pseudonym_salt.empty() && options.pseudonym_salt.size() < 16) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the pseudonym salt must be at least 16 characters, got ", options.pseudonym_salt.size()));
  }
  return absl::OkStatus();
}

}  // namespace cohort::server
