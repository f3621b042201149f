#include "sim/metrics.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "sim/svg_plot.h"

namespace cohort::sim {
namespace {

std::vector<RoundMetrics> SampleRounds() {
  std::vector<RoundMetrics> rounds;
  for (int r = 1; r <= 5; ++r) {
    RoundMetrics m;
    m.round = r;
    m.committed = r != 3;
    m.model_version = m.committed ? r : 0;
    m.cohort = 13;
    m.survivors = m.committed ? 12 : 0;
    m.test_accuracy = 0.5 + 0.07 * r;
    m.test_loss = 1.5 - 0.2 * r;
    m.bytes_up = 13 * 200000;
    m.bytes_down = 13 * 210000;
    m.bytes_up_per_device = 200000;
    m.bytes_down_per_device = 210000;
    m.round_seconds = 2.5;
    if (!m.committed) m.failure_reason = "too few, survivors\n";
    rounds.push_back(m);
  }
  return rounds;
}

TEST_CASE("MetricsCsv_OneHeaderAndOneLinePerRound_NoStrayCommas") {
  const std::string csv = MetricsCsv(SampleRounds());
  std::vector<std::string> lines = absl::StrSplit(csv, '\n', absl::SkipEmpty());
  REQUIRE(lines.size() == 6);
  const size_t columns = std::vector<std::string>(absl::StrSplit(lines[0], ',')).size();
  for (const std::string& line : lines) {
    CHECK(std::vector<std::string>(absl::StrSplit(line, ',')).size() == columns);
  }
  CHECK(absl::StartsWith(lines[1], "1,1,1,13,12,"));
}

TEST_CASE("MetricsJson_EscapesStringsAndListsEveryRound") {
  const std::string json = MetricsJson(SampleRounds(), "{\"seed\": 1}");
  CHECK(absl::StrContains(json, "\"config\": {\"seed\": 1}"));
  CHECK(absl::StrContains(json, "\"failure_reason\": \"too few, survivors\\n\""));
  size_t count = 0;
  for (size_t pos = 0; (pos = json.find("\"round\":", pos)) != std::string::npos; ++pos) ++count;
  CHECK(count == 5);
}

TEST_CASE("FormatRoundLine_ShowsRoundCohortSurvivorsAccuracyBytesAndTime") {
  const RoundMetrics m = SampleRounds()[0];
  const std::string line = FormatRoundLine(m, 50);
  CHECK(absl::StrContains(line, "round  1/50"));
  CHECK(absl::StrContains(line, "cohort  13"));
  CHECK(absl::StrContains(line, "survivors  12"));
  CHECK(absl::StrContains(line, "acc 0.5700"));
  CHECK(absl::StrContains(line, "2.5 MiB"));
  CHECK(absl::StrContains(line, "2.5 s"));
  CHECK(absl::StrContains(FormatRoundLine(SampleRounds()[2], 50), "FAILED"));
}

TEST_CASE("FormatBytes_PicksUnit") {
  CHECK(FormatBytes(12) == "12 B");
  CHECK(FormatBytes(2048) == "2 KiB");
  CHECK(FormatBytes(3.5 * 1024 * 1024) == "3.5 MiB");
}

TEST_CASE("RenderRoundsSvg_IsOneSvgDocumentWithBothPanelsAndFailedMarks") {
  const std::string svg = RenderRoundsSvg(SampleRounds(), "cohort-sim <test> & co");
  CHECK(absl::StartsWith(svg, "<svg "));
  CHECK(absl::EndsWith(svg, "</svg>\n"));
  CHECK(absl::StrContains(svg, "cohort-sim &lt;test&gt; &amp; co"));
  CHECK(absl::StrContains(svg, "test accuracy"));
  CHECK(absl::StrContains(svg, "uploaded per device"));
  CHECK(absl::StrContains(svg, "1 failed round(s)"));
  // Four series (accuracy, loss, up, down).
  size_t polylines = 0;
  for (size_t pos = 0; (pos = svg.find("<polyline", pos)) != std::string::npos; ++pos) ++polylines;
  CHECK(polylines == 4);
  // An empty run still renders a valid document.
  CHECK(absl::EndsWith(RenderRoundsSvg({}, "empty"), "</svg>\n"));
}

}  // namespace
}  // namespace cohort::sim
