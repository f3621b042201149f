#ifndef COHORT_SIM_SVG_PLOT_H_
#define COHORT_SIM_SVG_PLOT_H_

#include <string>
#include <vector>

#include "sim/metrics.h"

namespace cohort::sim {

// A self-contained SVG (no scripts, no external fonts) with two panels over the round axis:
// test accuracy and loss of the global model on top; bytes uploaded and downloaded per selected
// device below. Failed rounds are marked with a red cross on the round axis. Written by hand so
// that cohort-sim needs no plotting package (gnuplot is not a dependency).
std::string RenderRoundsSvg(const std::vector<RoundMetrics>& rounds, const std::string& title);

}  // namespace cohort::sim

#endif  // COHORT_SIM_SVG_PLOT_H_
