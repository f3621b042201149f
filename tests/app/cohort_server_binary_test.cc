#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>

#include <catch2/catch.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "testing/postgres_cluster.h"
#include "testing/subprocess.h"

namespace {

using cohort::testing::PostgresCluster;
using cohort::testing::PortFromPortFile;
using cohort::testing::RunToCompletion;
using cohort::testing::Subprocess;
using cohort::testing::TempDir;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

constexpr char kToken[] = "test-admin-token-0123456789";

HealthCheckResponse::ServingStatus CheckHealth(
    int port, const std::string& service,
    std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials()) {
  grpc::ChannelArguments arguments;
  // The test certificate is issued to "localhost"; we dial the loopback address directly.
  arguments.SetSslTargetNameOverride("localhost");
  auto channel = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port), credentials,
                                           arguments);
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  HealthCheckRequest request;
  request.set_service(service);
  HealthCheckResponse response;
  const grpc::Status status = stub->Check(&context, request, &response);
  if (!status.ok()) return HealthCheckResponse::UNKNOWN;
  return response.status();
}

// A plain HTTP/1.0 GET on loopback; returns the whole response.
std::string HttpGet(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0) {
    const std::string request = "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
    if (write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
      char buffer[4096];
      ssize_t n = 0;
      while ((n = read(fd, buffer, sizeof(buffer))) > 0) response.append(buffer, n);
    }
  }
  close(fd);
  return response;
}

// Every line of `output` as a JSON object; fails the test on the first line that is not one.
std::vector<google::protobuf::Struct> JsonLines(const std::string& output) {
  std::vector<google::protobuf::Struct> lines;
  for (absl::string_view line : absl::StrSplit(output, '\n', absl::SkipEmpty())) {
    google::protobuf::Struct parsed;
    INFO(std::string(line));
    REQUIRE(google::protobuf::util::JsonStringToMessage(std::string(line), &parsed).ok());
    lines.push_back(std::move(parsed));
  }
  return lines;
}

std::string Field(const google::protobuf::Struct& line, const std::string& name) {
  const auto it = line.fields().find(name);
  return it == line.fields().end() ? "" : it->second.string_value();
}

TEST_CASE("CohortServer_ServesHealthOnBothPortsAndStopsCleanlyOnSigterm") {
  TempDir dir;
  std::ofstream(dir.File("token")) << kToken << "\n";
  auto server = Subprocess::Start({COHORT_SERVER_BINARY, "serve", "--device_listen=127.0.0.1:0",
                                   "--admin_listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0",
                                   "--admin_token_file=" + dir.File("token"),
                                   "--port_file=" + dir.File("ports")});
  REQUIRE(server.ok());
  const auto ports = cohort::testing::WaitForFile(dir.File("ports"), absl::Seconds(20));
  REQUIRE(ports.ok());
  const int device_port = PortFromPortFile(*ports, "device_port");
  const int admin_port = PortFromPortFile(*ports, "admin_port");
  REQUIRE(device_port > 0);
  REQUIRE(admin_port > 0);

  CHECK(CheckHealth(device_port, "") == HealthCheckResponse::SERVING);
  CHECK(CheckHealth(device_port, "cohort.v1.DeviceService") == HealthCheckResponse::SERVING);
  CHECK(CheckHealth(admin_port, "cohort.v1.AdminService") == HealthCheckResponse::SERVING);
  const int metrics_port = PortFromPortFile(*ports, "metrics_port");
  REQUIRE(metrics_port > 0);
  CHECK_THAT(HttpGet(metrics_port, "/metrics"), Catch::StartsWith("HTTP/1.") &&
                                                    Catch::Contains("200"));

  REQUIRE(server->Signal(SIGTERM).ok());
  const auto exit_code = server->Wait(absl::Seconds(20));
  REQUIRE(exit_code.ok());
  CHECK(*exit_code == 0);
  CHECK_THAT(server->Output(), Catch::Contains("stopped"));
}

TEST_CASE("CohortServer_RefusesAPortAnotherServerAlreadyListensOn") {
  // gRPC's default SO_REUSEPORT would let the second server share the port and take half of
  // the first one's device connections; it must fail to start, naming the address.
  TempDir dir;
  std::ofstream(dir.File("token")) << kToken << "\n";
  auto first = Subprocess::Start({COHORT_SERVER_BINARY, "serve", "--device_listen=127.0.0.1:0",
                                  "--admin_listen=127.0.0.1:0",
                                  "--admin_token_file=" + dir.File("token"),
                                  "--port_file=" + dir.File("ports")});
  REQUIRE(first.ok());
  const auto ports = cohort::testing::WaitForFile(dir.File("ports"), absl::Seconds(20));
  REQUIRE(ports.ok());
  const int device_port = PortFromPortFile(*ports, "device_port");
  REQUIRE(device_port > 0);

  const std::string taken = "127.0.0.1:" + std::to_string(device_port);
  const auto second = RunToCompletion({COHORT_SERVER_BINARY, "serve", "--device_listen=" + taken,
                                       "--admin_listen=127.0.0.1:0",
                                       "--admin_token_file=" + dir.File("token")},
                                      absl::Seconds(30));
  REQUIRE(second.ok());
  CHECK(second->first != 0);
  CHECK_THAT(second->second, Catch::Contains("cannot listen on '" + taken + "'"));
  CHECK(CheckHealth(device_port, "") == HealthCheckResponse::SERVING);  // the first one is fine
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void MakeCertificate(const TempDir& dir, const std::string& name) {
  REQUIRE(cohort::testing::MakeSelfSignedCertificate(dir, name).ok());
}

TEST_CASE("CohortServer_ServesTlsAndRequiresAdminClientCertificatesWithMutualTls") {
  TempDir dir;
  std::ofstream(dir.File("token")) << kToken << "\n";
  MakeCertificate(dir, "server");
  MakeCertificate(dir, "client");
  auto server = Subprocess::Start(
      {COHORT_SERVER_BINARY, "serve", "--device_listen=127.0.0.1:0", "--admin_listen=127.0.0.1:0",
       "--admin_token_file=" + dir.File("token"), "--port_file=" + dir.File("ports"),
       "--tls_cert=" + dir.File("server.crt"), "--tls_key=" + dir.File("server.key"),
       "--admin_client_ca=" + dir.File("client.crt")});
  REQUIRE(server.ok());
  const auto ports = cohort::testing::WaitForFile(dir.File("ports"), absl::Seconds(20));
  REQUIRE(ports.ok());
  const int device_port = PortFromPortFile(*ports, "device_port");
  const int admin_port = PortFromPortFile(*ports, "admin_port");

  grpc::SslCredentialsOptions server_only;
  server_only.pem_root_certs = ReadFile(dir.File("server.crt"));
  grpc::SslCredentialsOptions with_client_cert = server_only;
  with_client_cert.pem_cert_chain = ReadFile(dir.File("client.crt"));
  with_client_cert.pem_private_key = ReadFile(dir.File("client.key"));

  CHECK(CheckHealth(device_port, "", grpc::SslCredentials(server_only)) ==
        HealthCheckResponse::SERVING);
  CHECK(CheckHealth(device_port, "") == HealthCheckResponse::UNKNOWN);  // plaintext refused
  CHECK(CheckHealth(admin_port, "", grpc::SslCredentials(with_client_cert)) ==
        HealthCheckResponse::SERVING);
  CHECK(CheckHealth(admin_port, "", grpc::SslCredentials(server_only)) ==
        HealthCheckResponse::UNKNOWN);  // no client certificate
}

TEST_CASE("CohortServer_ExitsWithUsageErrorNamingABadFlagValue") {
  TempDir dir;
  std::ofstream(dir.File("token")) << kToken << "\n";
  const auto result = RunToCompletion({COHORT_SERVER_BINARY, "serve", "--device_listen=127.0.0.1:70000",
                                       "--admin_token_file=" + dir.File("token")},
                                      absl::Seconds(20));
  REQUIRE(result.ok());
  CHECK(result->first == 2);
  CHECK_THAT(result->second, Catch::Contains("--device_listen") && Catch::Contains("70000"));
}

TEST_CASE("CohortServer_ExitsWithUsageErrorForAnUnknownFlagOrMissingToken") {
  const auto unknown = RunToCompletion({COHORT_SERVER_BINARY, "serve", "--no_such_flag=1"},
                                       absl::Seconds(20));
  REQUIRE(unknown.ok());
  CHECK(unknown->first == 2);
  CHECK_THAT(unknown->second, Catch::Contains("no_such_flag"));

  const auto no_token = RunToCompletion({COHORT_SERVER_BINARY, "serve"}, absl::Seconds(20));
  REQUIRE(no_token.ok());
  CHECK(no_token->first == 2);
  CHECK_THAT(no_token->second, Catch::Contains("admin token"));
}

TEST_CASE("CohortServer_RefusesAConfigFileThatDoesNotParse") {
  TempDir dir;
  std::ofstream(dir.File("server.textproto")) << "log_level: \"info\"\nport: 5\n";
  const auto result = RunToCompletion(
      {COHORT_SERVER_BINARY, "serve", "--config=" + dir.File("server.textproto")},
      absl::Seconds(20));
  REQUIRE(result.ok());
  CHECK(result->first == 2);
  CHECK_THAT(result->second, Catch::Contains("line 2"));
}

TEST_CASE("CohortServer_JsonLogsAreOneObjectPerLine_TheServersAndGrpcsAlike") {
  TempDir dir;
  std::ofstream(dir.File("token")) << kToken << "\n";
  // gRPC at debug verbosity writes lines of its own at startup and on each call.
  auto server = Subprocess::Start(
      {COHORT_SERVER_BINARY, "serve", "--device_listen=127.0.0.1:0", "--admin_listen=127.0.0.1:0",
       "--admin_token_file=" + dir.File("token"), "--port_file=" + dir.File("ports"),
       "--log_format=json", "--log_level=info"},
      {"GRPC_VERBOSITY=debug"});
  REQUIRE(server.ok());
  const auto ports = cohort::testing::WaitForFile(dir.File("ports"), absl::Seconds(20));
  REQUIRE(ports.ok());
  CHECK(CheckHealth(PortFromPortFile(*ports, "device_port"), "") == HealthCheckResponse::SERVING);
  REQUIRE(server->Signal(SIGTERM).ok());
  const auto exit_code = server->Wait(absl::Seconds(20));
  REQUIRE(exit_code.ok());
  CHECK(*exit_code == 0);

  const std::vector<google::protobuf::Struct> lines = JsonLines(server->Output());
  int grpc_lines = 0;
  bool stopped = false;
  for (const auto& line : lines) {
    CHECK_THAT(Field(line, "ts"), Catch::EndsWith("Z"));
    if (Field(line, "logger") == "grpc") ++grpc_lines;
    if (Field(line, "msg") == "stopped") stopped = true;
  }
  CHECK(grpc_lines > 0);
  CHECK(stopped);
}

TEST_CASE("CohortServerMigrate_LogsItsOutcomeAsFieldsInTheServingFormat") {
  auto cluster = PostgresCluster::Start();
  REQUIRE(cluster.ok());
  auto uri = (*cluster)->CreateDatabase("migrate_logs");
  REQUIRE(uri.ok());

  const auto first = RunToCompletion(
      {COHORT_SERVER_BINARY, "migrate", "--store=" + *uri, "--log_format=json"}, absl::Seconds(60));
  REQUIRE(first.ok());
  INFO(first->second);
  CHECK(first->first == 0);
  const std::vector<google::protobuf::Struct> migrated = JsonLines(first->second);
  REQUIRE(!migrated.empty());
  const google::protobuf::Struct& outcome = migrated.back();
  CHECK(Field(outcome, "msg") == "schema migrated");
  CHECK(Field(outcome, "from_version") == "0");
  CHECK(!Field(outcome, "to_version").empty());
  // No line carries the database password, which is in the URI.
  CHECK_THAT(first->second, !Catch::Contains((*cluster)->password()));

  const auto again = RunToCompletion(
      {COHORT_SERVER_BINARY, "migrate", "--store=" + *uri, "--log_format=json"}, absl::Seconds(60));
  REQUIRE(again.ok());
  CHECK(again->first == 0);
  const std::vector<google::protobuf::Struct> current = JsonLines(again->second);
  REQUIRE(current.size() == 1);
  CHECK(Field(current[0], "msg") == "schema is current");
  CHECK(Field(current[0], "version") == Field(outcome, "to_version"));

  const auto bad = RunToCompletion({COHORT_SERVER_BINARY, "migrate", "--store=memory",
                                    "--log_format=json"}, absl::Seconds(20));
  REQUIRE(bad.ok());
  CHECK(bad->first == 2);
  const std::vector<google::protobuf::Struct> refused = JsonLines(bad->second);
  REQUIRE(refused.size() == 1);
  CHECK(Field(refused[0], "level") == "error");
}

}  // namespace
