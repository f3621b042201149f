#include "server/options.h"

#include <fstream>

#include <catch2/catch.hpp>

#include "testing/subprocess.h"

namespace cohort::server {
namespace {

Options ValidOptions() {
  Options options;
  options.admin_token = "0123456789abcdef0123";
  return options;
}

TEST_CASE("ValidateOptions_AcceptsLoopbackDefaults") {
  CHECK(ValidateOptions(ValidOptions()).ok());
}

TEST_CASE("ValidateOptions_NamesTheBadPort") {
  Options options = ValidOptions();
  options.device_listen_address = "127.0.0.1:99999";
  const absl::Status status = ValidateOptions(options);
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(status.message()), Catch::Contains("--device_listen") &&
                                                Catch::Contains("99999"));
}

TEST_CASE("ValidateOptions_RefusesPlaintextOffLoopbackWithoutAllowInsecure") {
  Options options = ValidOptions();
  options.admin_listen_address = "0.0.0.0:8444";
  CHECK_THAT(std::string(ValidateOptions(options).message()),
             Catch::Contains("0.0.0.0:8444") && Catch::Contains("--allow_insecure"));
  options.allow_insecure = true;
  CHECK(ValidateOptions(options).ok());
}

TEST_CASE("ValidateOptions_RequiresAnAdminTokenOfUsefulLength") {
  Options options = ValidOptions();
  options.admin_token.clear();
  CHECK_THAT(std::string(ValidateOptions(options).message()),
             Catch::Contains("COHORT_ADMIN_TOKEN"));
  options.admin_token = "short";
  CHECK(ValidateOptions(options).code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("ValidateOptions_RefusesHalfATlsPairAndUnknownStores") {
  Options options = ValidOptions();
  options.tls_cert_file = "/nonexistent/cert.pem";
  CHECK_THAT(std::string(ValidateOptions(options).message()), Catch::Contains("--tls_key"));
  options = ValidOptions();
  options.store = "mysql://db";
  CHECK_THAT(std::string(ValidateOptions(options).message()), Catch::Contains("mysql://db"));
  options = ValidOptions();
  options.log_level = "loud";
  CHECK_THAT(std::string(ValidateOptions(options).message()), Catch::Contains("loud"));
}

TEST_CASE("ReadConfigFile_ReportsLineOfAParseError") {
  testing::TempDir dir;
  std::ofstream(dir.File("bad.textproto")) << "device_listen_address: \"127.0.0.1:1\"\nbogus: 3\n";
  const auto config = ReadConfigFile(dir.File("bad.textproto"));
  REQUIRE_FALSE(config.ok());
  CHECK_THAT(std::string(config.status().message()), Catch::Contains("line 2"));
  CHECK(ReadConfigFile(dir.File("missing")).status().code() == absl::StatusCode::kNotFound);
}

TEST_CASE("OptionsFromConfig_ReadsTheTokenFileAndKeepsDefaults") {
  testing::TempDir dir;
  std::ofstream(dir.File("token")) << "  s3cret-token-of-enough-length  \nsecond line\n";
  cohort::config::v1::ServerConfig config;
  config.set_admin_token_file(dir.File("token"));
  config.set_log_format("json");
  const auto options = OptionsFromConfig(config, {.admin_token = "ignored-env-token"});
  REQUIRE(options.ok());
  CHECK(options->admin_token == "s3cret-token-of-enough-length");
  CHECK(options->log_format == LogFormat::kJson);
  CHECK(options->device_listen_address == "127.0.0.1:8443");

  config.set_log_format("xml");
  CHECK_THAT(std::string(OptionsFromConfig(config, {}).status().message()),
             Catch::Contains("xml"));
}

TEST_CASE("OptionsFromConfig_TakesThePseudonymSaltFromItsFileOrTheEnvironment") {
  testing::TempDir dir;
  std::ofstream(dir.File("salt")) << "salt-from-the-file-0123\n";
  cohort::config::v1::ServerConfig config;
  config.set_pseudonym_salt_file(dir.File("salt"));
  auto options = OptionsFromConfig(config, {.pseudonym_salt = "salt-from-the-environment"});
  REQUIRE(options.ok());
  CHECK(options->pseudonym_salt == "salt-from-the-file-0123");

  config.clear_pseudonym_salt_file();
  options = OptionsFromConfig(config, {.pseudonym_salt = "salt-from-the-environment"});
  REQUIRE(options.ok());
  CHECK(options->pseudonym_salt == "salt-from-the-environment");

  std::ofstream(dir.File("empty")) << "\n";
  config.set_pseudonym_salt_file(dir.File("empty"));
  CHECK_THAT(std::string(OptionsFromConfig(config, {}).status().message()),
             Catch::Contains("--pseudonym_salt_file") && Catch::Contains("holds no value"));
}

TEST_CASE("OptionsFromConfig_UploadBufferDefaultsTo256MiBAndZeroMeansNoBound") {
  cohort::config::v1::ServerConfig config;
  auto options = OptionsFromConfig(config, {});
  REQUIRE(options.ok());
  CHECK(options->upload_buffer_bytes == int64_t{256} << 20);
  config.set_upload_buffer_mib(0);
  CHECK(OptionsFromConfig(config, {})->upload_buffer_bytes == 0);
  config.set_upload_buffer_mib(64);
  CHECK(OptionsFromConfig(config, {})->upload_buffer_bytes == int64_t{64} << 20);
  config.set_upload_buffer_mib(-1);
  CHECK_THAT(std::string(OptionsFromConfig(config, {}).status().message()),
             Catch::Contains("--upload_buffer_mib") && Catch::Contains("-1"));
}

TEST_CASE("ValidateOptions_APostgresStoreWithoutAStableSaltIsRefused") {
  Options options;
  options.admin_token = "an-admin-token-of-enough-length";
  options.store = "postgresql://cohort@127.0.0.1/cohort";
  CHECK_THAT(std::string(ValidateOptions(options).message()),
             Catch::Contains("--pseudonym_salt_file") && Catch::Contains("COHORT_PSEUDONYM_SALT"));
  options.pseudonym_salt = "short";
  CHECK_THAT(std::string(ValidateOptions(options).message()),
             Catch::Contains("at least 16 characters, got 5"));
  options.pseudonym_salt = "a-salt-of-enough-length";
  CHECK(ValidateOptions(options).ok());
}

}  // namespace
}  // namespace cohort::server
