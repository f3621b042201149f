#include "cli/conventions.h"

#include <iostream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/version.h"

namespace cohort::cli {
namespace {

// The first word CLI11 could not place, when `app` expects a subcommand and none was given.
std::optional<std::string> UnknownSubcommand(const CLI::App& app) {
  if (app.get_subcommands({}).empty()) return std::nullopt;
  for (const CLI::App* command : app.get_subcommands({})) {
    if (command->parsed()) return std::nullopt;
  }
  for (const std::string& word : app.remaining()) {
    if (!word.empty() && word[0] != '-') return word;
  }
  return std::nullopt;
}

std::string KnownSubcommands(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::App* command : app.get_subcommands({})) names.push_back(command->get_name());
  return absl::StrJoin(names, ", ");
}

}  // namespace

std::string VersionLine(std::string_view binary) { return absl::StrCat(std::string(binary), " ", cohort::Version()); }

void AddVersionFlag(CLI::App& app, std::string_view binary) {
  app.set_version_flag("--version", VersionLine(binary), "print the version and exit");
}

std::optional<int> Parse(CLI::App& app, std::string_view binary, int argc,
                         const char* const* argv) {
  try {
    app.parse(argc, argv);
    return std::nullopt;
  } catch (const CLI::ParseError& error) {
    if (std::optional<std::string> word = UnknownSubcommand(app); word.has_value()) {
      std::cerr << binary << ": unknown subcommand '" << *word
                << "' (known: " << KnownSubcommands(app) << "); run with --help for more\n";
      return kExitUsage;
    }
    return app.exit(error) == 0 ? 0 : kExitUsage;
  }
}

}  // namespace cohort::cli
