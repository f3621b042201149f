// Links into the docs must land on a section that exists: every `docs/<file>.md#anchor` in the
// protos and sources, and every `(<file>.md#anchor)` or `(#anchor)` in docs/, is checked
// against the headings of the target file, slugged as GitHub does.

#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

namespace cohort {
namespace {

namespace fs = std::filesystem;

const fs::path kRoot = COHORT_SOURCE_DIR;

std::string Read(const fs::path& path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// GitHub's heading anchors: lower case, characters other than letters, digits, spaces, '-' and
// '_' dropped, spaces turned into '-'.
std::string Slug(const std::string& heading) {
  std::string out;
  for (unsigned char c : heading) {
    if (std::isalnum(c)) {
      out.push_back(static_cast<char>(std::tolower(c)));
    } else if (c == ' ') {
      out.push_back('-');
    } else if (c == '-' || c == '_') {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

std::set<std::string> Anchors(const fs::path& doc) {
  std::set<std::string> out;
  std::istringstream in(Read(doc));
  std::string line;
  bool fenced = false;
  while (std::getline(in, line)) {
    if (line.rfind("```", 0) == 0) fenced = !fenced;
    if (fenced || line.empty() || line[0] != '#') continue;
    const size_t text = line.find_first_not_of('#');
    if (text == std::string::npos || line[text] != ' ') continue;
    out.insert(Slug(line.substr(text + 1)));
  }
  return out;
}

TEST_CASE("DocLinks_EveryLinkedSectionExists") {
  std::map<std::string, std::set<std::string>> anchors;
  for (const auto& entry : fs::directory_iterator(kRoot / "docs")) {
    if (entry.path().extension() == ".md") {
      anchors[entry.path().filename().string()] = Anchors(entry.path());
    }
  }
  REQUIRE(anchors.count("secagg.md") == 1);
  const std::regex from_code(R"(docs/([a-z_]+\.md)#([A-Za-z0-9_-]+))");
  const std::regex from_doc(R"(\]\(([a-z_]+\.md)?#([A-Za-z0-9_-]+)\))");
  int links = 0;
  for (const char* dir : {"protos", "secagg", "codec", "server", "client_sdk", "docs"}) {
    for (const auto& entry : fs::recursive_directory_iterator(kRoot / dir)) {
      const std::string ext = entry.path().extension().string();
      if (ext != ".proto" && ext != ".h" && ext != ".cc" && ext != ".md") continue;
      const std::string text = Read(entry.path());
      const bool is_doc = ext == ".md";
      const std::regex& pattern = is_doc ? from_doc : from_code;
      for (auto it = std::sregex_iterator(text.begin(), text.end(), pattern);
           it != std::sregex_iterator(); ++it) {
        const std::string file =
            (*it)[1].matched ? (*it)[1].str() : entry.path().filename().string();
        const std::string anchor = (*it)[2];
        INFO(fs::relative(entry.path(), kRoot).string() << " links to " << file << "#" << anchor);
        REQUIRE(anchors.count(file) == 1);
        CHECK(anchors[file].count(anchor) == 1);
        ++links;
      }
    }
  }
  CHECK(links > 20);
}

}  // namespace
}  // namespace cohort
