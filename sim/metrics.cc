#include "sim/metrics.h"

#include <cstdio>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace cohort::sim {

std::string FormatBytes(double bytes) {
  if (bytes >= 1024.0 * 1024.0) return absl::StrFormat("%.1f MiB", bytes / (1024.0 * 1024.0));
  if (bytes >= 1024.0) return absl::StrFormat("%.0f KiB", bytes / 1024.0);
  return absl::StrFormat("%.0f B", bytes);
}

std::string FormatRoundLine(const RoundMetrics& m, int64_t total_rounds) {
  const int width = static_cast<int>(absl::StrCat(total_rounds).size());
  if (!m.committed) {
    return absl::StrFormat("round %*d/%d  FAILED: %s  (cohort %d, %.1f s)", width, m.round,
                           total_rounds, m.failure_reason, m.cohort, m.round_seconds);
  }
  std::string line = absl::StrFormat(
      "round %*d/%d  cohort %3d  survivors %3d  acc %.4f  loss %.4f%s  up %s  down %s  "
      "(per device %s / %s)  %.1f s",
      width, m.round, total_rounds, m.cohort, m.survivors, m.test_accuracy, m.test_loss,
      m.federated_examples > 0 ? absl::StrFormat("  fed-acc %.4f", m.federated_accuracy) : "",
      FormatBytes(static_cast<double>(m.bytes_up)), FormatBytes(static_cast<double>(m.bytes_down)),
      FormatBytes(m.bytes_up_per_device), FormatBytes(m.bytes_down_per_device), m.round_seconds);
  if (m.epsilon_spent >= 0) absl::StrAppendFormat(&line, "  eps %.3f", m.epsilon_spent);
  return line;
}

std::string MetricsCsv(const std::vector<RoundMetrics>& rounds) {
  std::string out =
      "round,committed,model_version,cohort,survivors,dropouts,test_accuracy,test_loss,"
      "federated_accuracy,federated_loss,federated_examples,train_loss,bytes_up,bytes_down,"
      "bytes_up_per_device,bytes_down_per_device,round_seconds,epsilon_spent,dp_bits,"
      "failure_reason\n";
  for (const RoundMetrics& m : rounds) {
    std::string reason = m.failure_reason;
    for (char& c : reason) {
      if (c == ',' || c == '\n' || c == '"') c = ' ';
    }
    absl::StrAppendFormat(
        &out, "%d,%d,%d,%d,%d,%d,%.6f,%.6f,%.6f,%.6f,%d,%.6f,%d,%d,%.1f,%.1f,%.3f,%.6f,%d,%s\n",
        m.round, m.committed ? 1 : 0, m.model_version, m.cohort, m.survivors, m.dropouts,
        m.test_accuracy, m.test_loss, m.federated_accuracy, m.federated_loss, m.federated_examples,
        m.train_loss, m.bytes_up, m.bytes_down, m.bytes_up_per_device, m.bytes_down_per_device,
        m.round_seconds, m.epsilon_spent, m.dp_bits, reason);
  }
  return out;
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          absl::StrAppendFormat(&out, "\\u%04x", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string MetricsJson(const std::vector<RoundMetrics>& rounds, const std::string& config_json) {
  std::string out = absl::StrCat("{\n  \"config\": ", config_json, ",\n  \"rounds\": [");
  for (size_t i = 0; i < rounds.size(); ++i) {
    const RoundMetrics& m = rounds[i];
    absl::StrAppendFormat(
        &out,
        "%s\n    {\"round\": %d, \"committed\": %s, \"model_version\": %d, \"cohort\": %d, "
        "\"survivors\": %d, \"dropouts\": %d, \"test_accuracy\": %.6f, \"test_loss\": %.6f, "
        "\"federated_accuracy\": %.6f, \"federated_loss\": %.6f, \"federated_examples\": %d, "
        "\"train_loss\": %.6f, \"bytes_up\": %d, \"bytes_down\": %d, "
        "\"bytes_up_per_device\": %.1f, \"bytes_down_per_device\": %.1f, "
        "\"round_seconds\": %.3f, \"epsilon_spent\": %.6f, \"dp_bits\": %d, "
        "\"failure_reason\": %s}",
        i == 0 ? "" : ",", m.round, m.committed ? "true" : "false", m.model_version, m.cohort,
        m.survivors, m.dropouts, m.test_accuracy, m.test_loss, m.federated_accuracy,
        m.federated_loss, m.federated_examples, m.train_loss, m.bytes_up,
        m.bytes_down, m.bytes_up_per_device, m.bytes_down_per_device, m.round_seconds,
        m.epsilon_spent, m.dp_bits, JsonString(m.failure_reason));
  }
  out += "\n  ]\n}\n";
  return out;
}

absl::Status WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

}  // namespace cohort::sim
