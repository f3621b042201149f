#ifndef COHORT_CLI_CONVENTIONS_H_
#define COHORT_CLI_CONVENTIONS_H_

// What every Cohort binary's command line does the same way: `--version`, the usage exit code,
// and a named error for an unknown subcommand (CLI11 alone says "A subcommand is required").

#include <optional>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

namespace cohort::cli {

// Exit code of a command line that could not be parsed (as sysexits' EX_USAGE is to shells: not 1,
// which the binaries use for a failed operation).
inline constexpr int kExitUsage = 2;

// "cohort-server 0.1.0": the binary's name and the project's version.
std::string VersionLine(std::string_view binary);

// Adds `--version` to the top level of `app`.
void AddVersionFlag(CLI::App& app, std::string_view binary);

// Parses argv into `app`. Returns nullopt when the program should go on, else the exit code to
// return (0 after --help or --version, kExitUsage after an error printed to stderr).
std::optional<int> Parse(CLI::App& app, std::string_view binary, int argc, const char* const* argv);

}  // namespace cohort::cli

#endif  // COHORT_CLI_CONVENTIONS_H_
