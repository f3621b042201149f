#include "cli/conventions.h"

#include <cstdint>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace cohort::cli {
namespace {

// Captures what a parse prints, so the tests read the user's view.
struct Captured {
  std::optional<int> exit_code;
  std::string out;
  std::string err;
};

Captured ParseWords(CLI::App& app, std::vector<const char*> words) {
  words.insert(words.begin(), "tool");
  std::ostringstream out, err;
  std::streambuf* old_out = std::cout.rdbuf(out.rdbuf());
  std::streambuf* old_err = std::cerr.rdbuf(err.rdbuf());
  Captured c;
  c.exit_code = Parse(app, "tool", static_cast<int>(words.size()), words.data());
  std::cout.rdbuf(old_out);
  std::cerr.rdbuf(old_err);
  c.out = out.str();
  c.err = err.str();
  return c;
}

struct ToolWithSubcommands {
  CLI::App app{"tool"};
  std::optional<int64_t> version;
  CLI::App* list = nullptr;
  CLI::App* download = nullptr;
  ToolWithSubcommands() {
    app.require_subcommand(1);
    AddVersionFlag(app, "tool");
    list = app.add_subcommand("list-things", "list");
    download = app.add_subcommand("download", "download");
    download->add_option("--version", version, "which version");
  }
};

TEST_CASE("VersionLine_NamesTheBinaryAndTheProjectVersion") {
  const std::string line = VersionLine("cohortctl");
  CHECK(line.rfind("cohortctl ", 0) == 0);
  CHECK(line.size() > std::string("cohortctl ").size());
  CHECK(line.find('.') != std::string::npos);  // major.minor.patch
}

TEST_CASE("Parse_VersionFlagPrintsTheVersionLineAndExitsZero") {
  ToolWithSubcommands tool;
  const Captured c = ParseWords(tool.app, {"--version"});
  CHECK(c.exit_code == 0);
  CHECK(c.out.find(VersionLine("tool")) != std::string::npos);
}

TEST_CASE("Parse_UnknownSubcommandIsNamedWithTheKnownOnes") {
  ToolWithSubcommands tool;
  const Captured c = ParseWords(tool.app, {"frobnicate"});
  CHECK(c.exit_code == kExitUsage);
  CHECK(c.err.find("unknown subcommand 'frobnicate'") != std::string::npos);
  CHECK(c.err.find("list-things, download") != std::string::npos);
}

TEST_CASE("Parse_MissingSubcommandKeepsCli11sMessage") {
  ToolWithSubcommands tool;
  const Captured c = ParseWords(tool.app, {});
  CHECK(c.exit_code == kExitUsage);
  CHECK(c.err.find("subcommand is required") != std::string::npos);
}

TEST_CASE("Parse_KnownSubcommandGoesOnAndItsOwnVersionOptionIsItsOwn") {
  ToolWithSubcommands tool;
  const Captured c = ParseWords(tool.app, {"download", "--version", "0"});
  CHECK_FALSE(c.exit_code.has_value());
  CHECK(tool.download->parsed());
  REQUIRE(tool.version.has_value());
  CHECK(*tool.version == 0);
  CHECK(c.out.empty());
}

TEST_CASE("Parse_AnUnknownOptionOfAKnownSubcommandIsAUsageError") {
  ToolWithSubcommands tool;
  const Captured c = ParseWords(tool.app, {"list-things", "--bogus"});
  CHECK(c.exit_code == kExitUsage);
  CHECK(c.err.find("--bogus") != std::string::npos);
}

}  // namespace
}  // namespace cohort::cli
