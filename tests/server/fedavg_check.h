#ifndef COHORT_TESTS_SERVER_FEDAVG_CHECK_H_
#define COHORT_TESTS_SERVER_FEDAVG_CHECK_H_

// Plain weighted FedAvg of test devices' deltas, and model comparisons, for integration tests.

#include <cstring>
#include <string>
#include <vector>

#include "cohort/v1/model.pb.h"
#include "tests/server/test_device.h"

namespace cohort::server::test_util {

inline std::vector<float> Floats(const std::string& bytes) {
  std::vector<float> out(bytes.size() / 4);
  std::memcpy(out.data(), bytes.data(), out.size() * 4);
  return out;
}

// base + sum(w_i * delta_i) / sum(w_i) over `contributors`.
inline std::vector<float> PlainFedAvg(const cohort::v1::Model& base,
                                      const std::vector<TestDeviceOptions>& contributors) {
  std::vector<float> params = Floats(base.parameters());
  std::vector<double> sum(params.size(), 0.0);
  double total = 0;
  for (const auto& c : contributors) {
    for (size_t i = 0; i < params.size(); ++i)
      sum[i] += c.examples * static_cast<double>(c.delta[i]);
    total += static_cast<double>(c.examples);
  }
  for (size_t i = 0; i < params.size(); ++i) params[i] += static_cast<float>(sum[i] / total);
  return params;
}

inline double MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return 1e30;
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(double{a[i]} - double{b[i]}));
  return m;
}

}  // namespace cohort::server::test_util

#endif  // COHORT_TESTS_SERVER_FEDAVG_CHECK_H_
