// cohort-server: the federated-learning coordination server.
//
//   cohort-server serve --admin_token_file=token [--device_listen=...] [--config=server.textproto]
//   cohort-server migrate --store=postgresql://...   (or $COHORT_STORE, or --config's store)
//
// Exit codes: 0 after a clean shutdown (SIGINT/SIGTERM), 2 for bad flags or config, 1 for a
// failure while running.

#include <pthread.h>
#include <signal.h>

#include <cstdlib>
#include <iostream>
#include <optional>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/logging.h"
#include "cli/conventions.h"
#include "cli/grpc_logging.h"
#include "server/options.h"
#include "server/server.h"
#include "server/store/migrations.h"

namespace {

using cohort::config::v1::ServerConfig;

constexpr int kExitRuntimeError = 1;
using cohort::cli::kExitUsage;

// Flags override the config file only where they were given on the command line.
struct ServeFlags {
  std::string config_file;
  ServerConfig overrides;
  std::string port_file;
};

void AddServeFlags(CLI::App& serve, ServeFlags& flags) {
  ServerConfig& c = flags.overrides;
  serve.add_option("--config", flags.config_file, "ServerConfig text-proto file");
  serve.add_option_function<std::string>(
      "--device_listen", [&c](const std::string& v) { c.set_device_listen_address(v); },
      "host:port of the device service (default 127.0.0.1:8443; port 0 = any free port)");
  serve.add_option_function<std::string>(
      "--admin_listen", [&c](const std::string& v) { c.set_admin_listen_address(v); },
      "host:port of the admin service (default 127.0.0.1:8444)");
  serve.add_option_function<std::string>(
      "--metrics_listen", [&c](const std::string& v) { c.set_metrics_listen_address(v); },
      "host:port of the Prometheus /metrics endpoint (default: off)");
  serve.add_option_function<std::string>(
      "--log_level", [&c](const std::string& v) { c.set_log_level(v); },
      "trace, debug, info, warn, error or off (default info)");
  serve.add_option_function<std::string>(
      "--log_format", [&c](const std::string& v) { c.set_log_format(v); },
      "text or json (default text)");
  serve.add_option_function<std::string>(
      "--tls_cert", [&c](const std::string& v) { c.mutable_tls()->set_cert_file(v); },
      "PEM certificate chain for both services");
  serve.add_option_function<std::string>(
      "--tls_key", [&c](const std::string& v) { c.mutable_tls()->set_key_file(v); },
      "PEM private key for --tls_cert");
  serve.add_option_function<std::string>(
      "--admin_client_ca",
      [&c](const std::string& v) { c.mutable_tls()->set_admin_client_ca_file(v); },
      "PEM CA: require admin clients to present a certificate it signed (mutual TLS)");
  serve.add_option_function<std::string>(
      "--device_ca_file", [&c](const std::string& v) { c.set_device_ca_file(v); },
      "PEM CA that issues devices' key certificates; needed by semi-malicious tasks");
  serve.add_option_function<int64_t>(
      "--upload_buffer_mib", [&c](int64_t v) { c.set_upload_buffer_mib(v); },
      "MiB of masked input held at once over all rounds (default 256, 0 = no bound)");
  serve.add_flag_function(
      "--allow_insecure", [&c](int64_t n) { c.set_allow_insecure(n > 0); },
      "allow plaintext on non-loopback addresses (logged as a warning)");
  serve.add_option_function<std::string>(
      "--admin_token_file", [&c](const std::string& v) { c.set_admin_token_file(v); },
      "file whose first line is the admin bearer token (else $COHORT_ADMIN_TOKEN)");
  serve.add_option_function<std::string>(
      "--store", [&c](const std::string& v) { c.set_store(v); },
      "'memory' (default) or a postgresql:// URI (else $COHORT_STORE)");
  serve.add_option_function<std::string>(
      "--pseudonym_salt_file", [&c](const std::string& v) { c.set_pseudonym_salt_file(v); },
      "file whose first line salts device pseudonyms; keep it across restarts (else "
      "$COHORT_PSEUDONYM_SALT; required with a PostgreSQL store)");
  serve.add_flag_function(
      "--migrate_on_start", [&c](int64_t n) { c.set_migrate_on_start(n > 0); },
      "apply missing database migrations before serving");
  serve.add_option("--port_file", flags.port_file,
                   "write the bound ports here once listening (for port 0)");
}

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

int Serve(const ServeFlags& flags) {
  ServerConfig config;
  if (!flags.config_file.empty()) {
    auto from_file = cohort::server::ReadConfigFile(flags.config_file);
    if (!from_file.ok()) {
      std::cerr << "cohort-server: " << from_file.status().message() << "\n";
      return kExitUsage;
    }
    config = *std::move(from_file);
  }
  if (config.store().empty() && !Env("COHORT_STORE").empty()) config.set_store(Env("COHORT_STORE"));
  config.MergeFrom(flags.overrides);
  if (flags.overrides.has_tls()) *config.mutable_tls() = flags.overrides.tls();
  auto options = cohort::server::OptionsFromConfig(
      config, {.admin_token = Env("COHORT_ADMIN_TOKEN"),
               .pseudonym_salt = Env("COHORT_PSEUDONYM_SALT")});
  if (!options.ok()) {
    std::cerr << "cohort-server: " << options.status().message() << "\n";
    return kExitUsage;
  }
  options->port_file = flags.port_file;
  if (absl::Status valid = cohort::server::ValidateOptions(*options); !valid.ok()) {
    std::cerr << "cohort-server: " << valid.message() << "\n";
    return kExitUsage;
  }
  if (absl::Status logging = cohort::InitLogging(options->log_level, options->log_format);
      !logging.ok()) {
    std::cerr << "cohort-server: " << logging.message() << "\n";
    return kExitUsage;
  }
  cohort::cli::RouteGrpcLogsToLogger();

  // Block the shutdown signals in every thread gRPC will start; one thread waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto server = cohort::server::Server::Create(*std::move(options));
  if (!server.ok()) {
    COHORT_LOG_ERROR("start failed status={}", server.status().ToString());
    return server.status().code() == absl::StatusCode::kInvalidArgument ? kExitUsage
                                                                        : kExitRuntimeError;
  }
  std::thread signal_waiter([&server, signals] {
    int signal_number = 0;
    sigwait(&signals, &signal_number);
    COHORT_LOG_INFO("shutting down signal={}", signal_number);
    (*server)->Shutdown();
  });
  (*server)->Wait();
  // Wake the waiter if the server stopped for another reason.
  pthread_kill(signal_waiter.native_handle(), SIGTERM);
  signal_waiter.join();
  COHORT_LOG_INFO("stopped");
  return 0;
}

struct MigrateFlags {
  std::string config_file;
  std::string store;
  std::string log_level = "info";
  std::string log_format;
};

// `cohort-server migrate`: brings the database to the schema this binary needs. Run it as a
// one-shot job before rolling out a new version; serving replicas refuse a schema that is behind.
// Its outcome is a log line in the serving format, so a Job's log reads like a replica's.
int MigrateCommand(const MigrateFlags& flags) {
  absl::StatusOr<cohort::LogFormat> log_format = cohort::ParseLogFormat(flags.log_format);
  absl::Status logging = log_format.ok() ? cohort::InitLogging(flags.log_level, *log_format)
                                         : log_format.status();
  if (!logging.ok()) {
    std::cerr << "cohort-server migrate: " << logging.message() << "\n";
    return kExitUsage;
  }
  std::string store = flags.store;
  if (store.empty()) store = Env("COHORT_STORE");
  if (store.empty() && !flags.config_file.empty()) {
    auto config = cohort::server::ReadConfigFile(flags.config_file);
    if (!config.ok()) {
      COHORT_LOG_ERROR("migrate refused status={}", config.status().ToString());
      return kExitUsage;
    }
    store = config->store();
  }
  if (store.empty() || store == "memory") {
    COHORT_LOG_ERROR(
        "migrate needs a PostgreSQL store: pass --store=postgresql://... or set COHORT_STORE");
    return kExitUsage;
  }
  auto report = cohort::server::Migrate(store);
  if (!report.ok()) {
    COHORT_LOG_ERROR("migrate failed status={}", report.status().ToString());
    return report.status().code() == absl::StatusCode::kInvalidArgument ? kExitUsage
                                                                         : kExitRuntimeError;
  }
  if (report->applied.empty()) {
    COHORT_LOG_INFO("schema is current version={}", report->to_version);
  } else {
    COHORT_LOG_INFO("schema migrated from_version={} to_version={} applied={}",
                    report->from_version, report->to_version, absl::StrJoin(report->applied, ","));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cohort-server: federated-learning coordination with secure aggregation"};
  app.require_subcommand(1);
  ServeFlags serve_flags;
  CLI::App* serve = app.add_subcommand("serve", "run the device and admin gRPC services");
  AddServeFlags(*serve, serve_flags);
  MigrateFlags migrate_flags;
  CLI::App* migrate =
      app.add_subcommand("migrate", "apply missing PostgreSQL schema migrations, then exit");
  migrate->add_option("--store", migrate_flags.store,
                      "postgresql:// URI of the database (else $COHORT_STORE, else --config's)");
  migrate->add_option("--config", migrate_flags.config_file, "ServerConfig text-proto file");
  migrate->add_option("--log_level", migrate_flags.log_level,
                      "trace, debug, info, warn, error or off");
  migrate->add_option("--log_format", migrate_flags.log_format, "text (default) or json");
  cohort::cli::AddVersionFlag(app, "cohort-server");
  if (std::optional<int> exit_code = cohort::cli::Parse(app, "cohort-server", argc, argv)) {
    return *exit_code;
  }
  if (serve->parsed()) return Serve(serve_flags);
  if (migrate->parsed()) return MigrateCommand(migrate_flags);
  return kExitUsage;
}
