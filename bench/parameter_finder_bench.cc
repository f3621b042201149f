// Times secagg::FindParameters on the grid of issue 16 (n from 100 to 10^6, dropout and
// corruption in {0, 0.05, 0.1, 0.33}, both threat models) and ParameterTable::Build for a
// large task, and prints every answer: docs/secagg.md quotes the table, docs/benchmarks.md the
// timings. Each setting is timed as the best of three calls (the machine is shared).

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "secagg/parameter_finder.h"

namespace {

using cohort::secagg::FindParameters;
using cohort::secagg::ParameterOptions;
using cohort::secagg::ParameterTable;
using cohort::secagg::ThreatModel;

double BestOfThreeMs(const ParameterOptions& o, bool* ok, int* k, int* t) {
  double best = 1e300;
  for (int i = 0; i < 3; ++i) {
    const auto start = std::chrono::steady_clock::now();
    auto p = FindParameters(o);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    best = std::min(best, ms);
    *ok = p.ok();
    *k = p.ok() ? p->neighbour_degree : 0;
    *t = p.ok() ? p->threshold : 0;
  }
  return best;
}

}  // namespace

int main() {
  const int ns[] = {100, 500, 1000, 10000, 100000, 1000000};
  const double rates[] = {0, 0.05, 0.1, 0.33};
  double slowest = 0, total = 0;
  int calls = 0;
  std::printf(
      "| model | n | dropout | corrupted | k | t | ms |\n|---|---:|---:|---:|---:|---:|---:|\n");
  for (ThreatModel model : {ThreatModel::kHonestButCurious, ThreatModel::kSemiMalicious}) {
    for (int n : ns) {
      for (double dropout : rates) {
        for (double corrupt : rates) {
          ParameterOptions o;
          o.num_participants = n;
          o.dropout_rate = dropout;
          o.corrupted_fraction = corrupt;
          o.threat_model = model;
          bool ok = false;
          int k = 0, t = 0;
          const double ms = BestOfThreeMs(o, &ok, &k, &t);
          slowest = std::max(slowest, ms);
          total += ms;
          ++calls;
          if (ok) {
            std::printf("| %s | %d | %g | %g | %d | %d | %.3f |\n",
                        model == ThreatModel::kSemiMalicious ? "SM" : "HbC", n, dropout, corrupt, k,
                        t, ms);
          } else {
            std::printf("| %s | %d | %g | %g | refused | | %.3f |\n",
                        model == ThreatModel::kSemiMalicious ? "SM" : "HbC", n, dropout, corrupt,
                        ms);
          }
        }
      }
    }
  }
  std::printf("\nFindParameters: %d settings, slowest %.2f ms, mean %.3f ms\n", calls, slowest,
              total / calls);
  // The table a task of a million-device selection computes at validation.
  ParameterOptions o;
  o.dropout_rate = 0.1;
  o.corrupted_fraction = 0.05;
  const auto start = std::chrono::steady_clock::now();
  auto table = ParameterTable::Build(o, 800000, 1000000);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::printf("ParameterTable::Build(n = 800,000 .. 1,000,000): %zu grid points, %.1f ms\n",
              table.ok() ? table->grid_size() : 0, ms);
  const auto one = std::chrono::steady_clock::now();
  for (int n = 800000; table.ok() && n <= 1000000; n += 997) (void)table->For(n);
  const double per =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - one).count() /
      (200000 / 997 + 1);
  std::printf("ParameterTable::For (opening a round): %.1f us per call\n", per);
  return 0;
}
