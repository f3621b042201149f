#include "server/server.h"

#include <fstream>

#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "base/status_macros.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "server/store/migrations.h"
#include "server/store/open_store.h"

namespace cohort::server {
namespace {

constexpr char kDeviceServiceName[] = "cohort.v1.DeviceService";
constexpr char kAdminServiceName[] = "cohort.v1.AdminService";

absl::StatusOr<std::string> ReadPem(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read '", path, "'"));
  return std::string(std::istreambuf_iterator<char>(in), {});
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeCredentials(const Options& options,
                                                                         bool admin) {
  if (options.tls_cert_file.empty()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions ssl;
  COHORT_ASSIGN_OR_RETURN(const std::string cert, ReadPem(options.tls_cert_file));
  COHORT_ASSIGN_OR_RETURN(const std::string key, ReadPem(options.tls_key_file));
  ssl.pem_key_cert_pairs.push_back({key, cert});
  if (admin && !options.admin_client_ca_file.empty()) {
    COHORT_ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadPem(options.admin_client_ca_file));
    ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(ssl);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Create(Options options) {
  COHORT_RETURN_IF_ERROR(ValidateOptions(options));
  std::unique_ptr<Server> server(new Server(std::move(options)));
  COHORT_RETURN_IF_ERROR(server->Start());
  return server;
}

Server::Server(Options options) : options_(std::move(options)) {}

Server::~Server() { Shutdown(absl::ZeroDuration()); }

absl::Status Server::Start() {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  if (options_.tls_cert_file.empty()) {
    COHORT_LOG_WARN(
        "serving plaintext gRPC; configure --tls_cert/--tls_key outside loopback device={} "
        "admin={}",
        options_.device_listen_address, options_.admin_listen_address);
  }

  if (options_.migrate_on_start) {
    COHORT_ASSIGN_OR_RETURN(const MigrationReport report, Migrate(options_.store));
    COHORT_LOG_INFO("schema at version {} (was {}; applied {})", report.to_version,
                    report.from_version, report.applied.size());
  }
  COHORT_ASSIGN_OR_RETURN(store_, OpenStore(options_.store));
  ServiceHost::Options host_options;
  host_options.store = store_.get();
  host_options.admin_token = options_.admin_token;
  host_options.pseudonym_salt = options_.pseudonym_salt;
  if (!options_.device_ca_file.empty()) {
    COHORT_ASSIGN_OR_RETURN(host_options.device_ca_pem, ReadPem(options_.device_ca_file));
  }
  host_options.metrics = metrics_.get();
  host_options.upload_buffer_bytes = options_.upload_buffer_bytes;
  COHORT_ASSIGN_OR_RETURN(host_, ServiceHost::Create(std::move(host_options)));

  struct Endpoint {
    const char* name;
    const std::string& address;
    bool admin;
    grpc::Service* service;
    std::unique_ptr<grpc::Server>* server;
    int* port;
  };
  for (const Endpoint& endpoint :
       {Endpoint{kDeviceServiceName, options_.device_listen_address, false,
                 host_->device_service(), &device_server_, &device_port_},
        Endpoint{kAdminServiceName, options_.admin_listen_address, true, host_->admin_service(),
                 &admin_server_, &admin_port_}}) {
    COHORT_ASSIGN_OR_RETURN(auto credentials, MakeCredentials(options_, endpoint.admin));
    grpc::ServerBuilder builder;
    // gRPC sets SO_REUSEPORT by default, so a second server on a bound port would start without
    // a word and take half its connections; a port already in use must fail the start instead.
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    builder.AddListeningPort(endpoint.address, credentials, endpoint.port);
    builder.RegisterService(endpoint.service);
    *endpoint.server = builder.BuildAndStart();
    if (*endpoint.server == nullptr || *endpoint.port == 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot listen on '", endpoint.address, "' for ", endpoint.name));
    }
    (*endpoint.server)->GetHealthCheckService()->SetServingStatus(endpoint.name, true);
    COHORT_LOG_INFO("listening service={} address={} port={}", endpoint.name, endpoint.address,
                    *endpoint.port);
  }

  // Recovery runs after the ports are bound so that a second server on the same database fails
  // on its ports before it can mark the first one's rounds failed.
  COHORT_RETURN_IF_ERROR(host_->Start());

  if (!options_.metrics_listen_address.empty()) {
    // civetweb reports a port it cannot bind by throwing; keep that inside this module.
    try {
      metrics_exposer_ = std::make_unique<prometheus::Exposer>(options_.metrics_listen_address);
    } catch (const std::exception& error) {
      return absl::UnavailableError(absl::StrCat("--metrics_listen: cannot serve metrics on '",
                                                 options_.metrics_listen_address,
                                                 "': ", error.what()));
    }
    metrics_exposer_->RegisterCollectable(metrics_);
    const std::vector<int> ports = metrics_exposer_->GetListeningPorts();
    metrics_port_ = ports.empty() ? 0 : ports.front();
    COHORT_LOG_INFO("serving metrics address={} path=/metrics", options_.metrics_listen_address);
  }

  if (!options_.port_file.empty()) {
    const std::string temp = options_.port_file + ".tmp";
    {
      std::ofstream out(temp, std::ios::trunc);
      out << "device_port=" << device_port_ << "\nadmin_port=" << admin_port_
          << "\nmetrics_port=" << metrics_port_ << "\n";
      if (!out) return absl::InternalError(absl::StrCat("cannot write --port_file '", temp, "'"));
    }
    if (std::rename(temp.c_str(), options_.port_file.c_str()) != 0) {
      return absl::InternalError(
          absl::StrCat("cannot write --port_file '", options_.port_file, "'"));
    }
  }
  return absl::OkStatus();
}

void Server::Wait() {
  if (device_server_) device_server_->Wait();
  if (admin_server_) admin_server_->Wait();
}

void Server::Shutdown(absl::Duration grace) {
  std::call_once(shutdown_once_, [&] {
    COHORT_LOG_INFO("shutting down grace={}", absl::FormatDuration(grace));
    const auto deadline = std::chrono::system_clock::now() + absl::ToChronoMilliseconds(grace);
    for (auto* server : {&device_server_, &admin_server_}) {
      if (*server != nullptr) (*server)->GetHealthCheckService()->Shutdown();
    }
    // Long-polls and event streams would otherwise hold the servers until the grace ends.
    if (host_ != nullptr) host_->Shutdown();
    for (auto* server : {&device_server_, &admin_server_}) {
      if (*server != nullptr) (*server)->Shutdown(deadline);
    }
  });
}

}  // namespace cohort::server
