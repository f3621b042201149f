// The Prometheus metrics against their documentation: the table in docs/operations.md is read
// and every metric it names must exist with exactly that name, type and label names, and
// nothing undocumented may be registered. A round with one dropout, a DP task and an inference
// download then give each family a known value.

#include <fstream>
#include <future>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "base/version.h"
#include "model/zoo.h"
#include "prometheus/metric_family.h"
#include "tests/server/loopback_server.h"
#include "tests/server/test_device.h"

namespace cohort::server::test_util {
namespace {

struct DocumentedMetric {
  prometheus::MetricType type;
  std::set<std::string> labels;
};

// Rows of the form "| `name` | type | Meaning, by `label` and `label`. |".
std::map<std::string, DocumentedMetric> DocumentedMetrics() {
  std::ifstream in(std::string(COHORT_SOURCE_DIR) + "/docs/operations.md");
  REQUIRE(in.good());
  const std::regex row(R"(^\| `(cohort_[a-z_]+)` \| (counter|gauge|histogram) \| (.*) \|$)");
  const std::regex label("`([a-z_]+)`");
  std::map<std::string, DocumentedMetric> out;
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (!std::regex_match(line, m, row)) continue;
    DocumentedMetric metric;
    metric.type = m[2] == "counter" ? prometheus::MetricType::Counter
                  : m[2] == "gauge" ? prometheus::MetricType::Gauge
                                    : prometheus::MetricType::Histogram;
    const std::string meaning = m[3];
    for (auto it = std::sregex_iterator(meaning.begin(), meaning.end(), label);
         it != std::sregex_iterator(); ++it) {
      metric.labels.insert((*it)[1]);
    }
    out[m[1]] = metric;
  }
  return out;
}

std::string Labels(const prometheus::ClientMetric& metric) {
  std::string out;
  for (const auto& l : metric.label) absl::StrAppend(&out, l.name, "=", l.value, ",");
  return out;
}

TEST_CASE("Metrics_AreExactlyTheDocumentedOnesWithTheirTypesLabelsAndValues") {
  const std::map<std::string, DocumentedMetric> documented = DocumentedMetrics();
  REQUIRE(documented.size() >= 7);

  auto server = LoopbackServer::Start();
  REQUIRE(server.ok());
  auto task = (*server)->CreateTask(SmallTask("metrics", 6, 4, true));
  REQUIRE(task.ok());
  REQUIRE((*server)->StartRounds(task->task_id(), 1).ok());
  // Six devices; the last vanishes after sharing its keys, dropped when MASKED_INPUT closes.
  DeviceLog log;
  std::vector<std::future<absl::StatusOr<TestDevice::Result>>> devices;
  for (int i = 0; i < 6; ++i) {
    TestDeviceOptions o;
    o.population = "metrics";
    o.device_id = absl::StrCat("metrics-device-00", i);
    o.delta.assign(8, 0.05f);
    o.seed = static_cast<uint64_t>(i + 1);
    o.log = &log;
    if (i == 5) o.stop_at = StopAt::kAfterShares;
    devices.push_back(std::async(std::launch::async, [&, o] {
      TestDevice device((*server)->NewDeviceStub(), o);
      return device.Run(absl::Seconds(120));
    }));
  }
  REQUIRE(log.AwaitDoneWith(cohort::v1::ROUND_PHASE_MASKED_INPUT, 6, absl::Seconds(120)));
  (*server)->PassPhaseDeadline();
  for (auto& f : devices) REQUIRE(f.get().ok());
  auto ended = (*server)->WaitForRoundsEnded(task->task_id(), 1, absl::Seconds(60));
  REQUIRE(ended.ok());
  REQUIRE(ended->rounds_committed() == 1);

  // A DP task shows its budget; a device fetching an inference model starts a download.
  cohort::v1::TaskConfig dp = SmallTask("metrics-dp", 6, 4, true);
  dp.mutable_codec()->set_l2_clip_norm(1.0);
  dp.mutable_dp()->set_mechanism(cohort::v1::DP_MECHANISM_DISTRIBUTED_DISCRETE_GAUSSIAN);
  dp.mutable_dp()->set_noise_multiplier(1.0);
  dp.mutable_dp()->set_delta(1e-5);
  dp.mutable_dp()->set_epsilon_budget(10);
  dp.mutable_dp()->set_bits(20);
  auto dp_task = (*server)->CreateTask(dp);
  INFO(dp_task.status().ToString());
  REQUIRE(dp_task.ok());
  cohort::v1::TaskConfig graph = SmallTask("metrics-graph", 6, 4, true);
  graph.clear_layout();
  *graph.mutable_graph() = model::SoftmaxRegressionGraph(4, 2);
  auto graph_task = (*server)->CreateTask(graph);
  INFO(graph_task.status().ToString());
  REQUIRE(graph_task.ok());
  {
    grpc::ClientContext context;
    cohort::v1::FetchInferenceModelRequest fetch;
    fetch.set_population("metrics-graph");
    fetch.set_device_id("metrics-fetcher-0001");
    fetch.set_sdk_version(cohort::kProtocolVersion);
    fetch.set_format(cohort::v1::INFERENCE_FORMAT_FLOAT32);
    cohort::v1::FetchInferenceModelResponse response;
    REQUIRE((*server)->NewDeviceStub()->FetchInferenceModel(&context, fetch, &response).ok());
    REQUIRE(response.has_chunk());
  }

  std::map<std::string, std::map<std::string, prometheus::ClientMetric>> values;
  std::set<std::string> registered;
  for (const prometheus::MetricFamily& family : (*server)->metrics().Collect()) {
    INFO(family.name);
    registered.insert(family.name);
    auto doc = documented.find(family.name);
    REQUIRE(doc != documented.end());  // nothing undocumented
    CHECK(family.type == doc->second.type);
    for (const prometheus::ClientMetric& metric : family.metric) {
      std::set<std::string> names;
      for (const auto& l : metric.label) names.insert(l.name);
      CHECK(names == doc->second.labels);
      values[family.name][Labels(metric)] = metric;
    }
  }
  for (const auto& [name, doc] : documented) {
    INFO(name);
    CHECK(registered.count(name) == 1);  // nothing documented is missing
  }

  CHECK(values["cohort_checkins_total"]["outcome=accepted,"].counter.value == 6);
  const std::string task_label = absl::StrCat("task=", task->task_id(), ",");
  CHECK(values["cohort_rounds_total"]["outcome=committed," + task_label].counter.value == 1);
  CHECK(values["cohort_rounds_total"].size() == 1);  // nothing failed, no other task ended
  CHECK(values["cohort_build_info"][absl::StrCat("version=", cohort::Version(), ",")]
            .gauge.value == 1);
  CHECK(values["cohort_dropouts_total"]["phase=masked_input," + task_label].counter.value == 1);
  CHECK(values["cohort_dropouts_total"].size() == 1);
  for (const char* phase :
       {"forming", "advertise_keys", "share_keys", "masked_input", "unmasking"}) {
    INFO(phase);
    CHECK(values["cohort_round_phase_duration_seconds"][absl::StrCat("phase=", phase, ",",
                                                                     task_label)]
              .histogram.sample_count == 1);
  }
  // The MASKED_INPUT phase lasted until the test moved the clock past its deadline.
  CHECK(values["cohort_round_phase_duration_seconds"]["phase=masked_input," + task_label]
            .histogram.sample_sum >= absl::ToDoubleSeconds(kPhaseDeadline));
  CHECK(values["cohort_bytes_total"]["direction=upload," + task_label].counter.value > 0);
  CHECK(values["cohort_bytes_total"]["direction=download," + task_label].counter.value > 0);
  // Five uploads of one chunk each, six key advertisements, codes by name. (Labels are listed
  // in name order.)
  CHECK(values["cohort_device_calls_total"]["code=OK,method=UploadMaskedInput,"].counter.value ==
        5);
  CHECK(values["cohort_device_calls_total"]["code=OK,method=AdvertiseKeys,"].counter.value == 6);
  CHECK(values["cohort_parked_long_polls"][""].gauge.value == 0);
  const std::string dp_label = absl::StrCat("task=", dp_task->task_id(), ",");
  CHECK(values["cohort_privacy_epsilon_budget"][dp_label].gauge.value == 10);
  CHECK(values["cohort_privacy_epsilon_spent"][dp_label].gauge.value == 0);
  CHECK(values["cohort_privacy_epsilon_budget"].size() == 1);  // the DP task only
  CHECK(values["cohort_inference_fetches_total"]["outcome=started,"].counter.value == 1);
}

}  // namespace
}  // namespace cohort::server::test_util
