#include "sim/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace cohort::sim {
namespace {

constexpr double kWidth = 900;
constexpr double kPanelHeight = 300;
constexpr double kLeft = 80;
constexpr double kRight = 80;
constexpr double kTop = 50;
constexpr double kGap = 70;

std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// A 1-2-5 step that cuts [0, span] into about `target` intervals.
double NiceStep(double span, int target) {
  if (!(span > 0)) return 1.0;
  const double raw = span / target;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * magnitude >= raw) return m * magnitude;
  }
  return 10.0 * magnitude;
}

struct Axis {
  double lo;
  double hi;
};

class Panel {
 public:
  Panel(double top, Axis x, Axis y) : top_(top), x_(x), y_(y) {}
  double X(double v) const {
    return kLeft + (v - x_.lo) / std::max(1e-12, x_.hi - x_.lo) * (kWidth - kLeft - kRight);
  }
  double Y(double v) const {
    return top_ + kPanelHeight - (v - y_.lo) / std::max(1e-12, y_.hi - y_.lo) * kPanelHeight;
  }
  double bottom() const { return top_ + kPanelHeight; }
  double top() const { return top_; }

 private:
  double top_;
  Axis x_;
  Axis y_;
};

void Polyline(std::string* svg, const Panel& p, const std::vector<double>& xs,
              const std::vector<double>& ys, const std::function<double(double)>& map_y,
              const char* color, const char* dash) {
  if (xs.empty()) return;
  std::string points;
  for (size_t i = 0; i < xs.size(); ++i) {
    absl::StrAppendFormat(&points, "%.1f,%.1f ", p.X(xs[i]), map_y(ys[i]));
  }
  absl::StrAppendFormat(svg,
                        "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
                        "stroke-dasharray=\"%s\" points=\"%s\"/>\n",
                        color, dash, points);
  if (xs.size() <= 60) {
    for (size_t i = 0; i < xs.size(); ++i) {
      absl::StrAppendFormat(svg, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n",
                            p.X(xs[i]), map_y(ys[i]), color);
    }
  }
}

void Text(std::string* svg, double x, double y, const std::string& anchor, const std::string& s,
          const char* color = "#333", int size = 12, double rotate = 0) {
  absl::StrAppendFormat(svg,
                        "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"%d\" "
                        "fill=\"%s\"%s>%s</text>\n",
                        x, y, anchor, size, color,
                        rotate != 0 ? absl::StrFormat(" transform=\"rotate(%.0f %.1f %.1f)\"",
                                                      rotate, x, y)
                                    : std::string(),
                        Escape(s));
}

void Frame(std::string* svg, const Panel& p, Axis x, Axis y, double y_step,
           const std::function<std::string(double)>& y_label) {
  absl::StrAppendFormat(svg,
                        "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                        "fill=\"#fafafa\" stroke=\"#999\"/>\n",
                        kLeft, p.top(), kWidth - kLeft - kRight, kPanelHeight);
  for (double v = std::ceil(y.lo / y_step) * y_step; v <= y.hi + 1e-9; v += y_step) {
    absl::StrAppendFormat(svg,
                          "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n",
                          kLeft, kWidth - kRight, p.Y(v), p.Y(v));
    Text(svg, kLeft - 6, p.Y(v) + 4, "end", y_label(v));
  }
  const double x_step = std::max(1.0, NiceStep(x.hi - x.lo, 10));
  for (double v = std::ceil(x.lo / x_step) * x_step; v <= x.hi + 1e-9; v += x_step) {
    absl::StrAppendFormat(svg,
                          "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>\n",
                          p.X(v), p.X(v), p.top(), p.bottom());
    Text(svg, p.X(v), p.bottom() + 16, "middle", absl::StrFormat("%.0f", v));
  }
  Text(svg, (kLeft + kWidth - kRight) / 2, p.bottom() + 34, "middle", "round");
}

void Legend(std::string* svg, double x, double y, const char* color, const char* dash,
            const std::string& label) {
  absl::StrAppendFormat(svg,
                        "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                        "stroke-width=\"2\" stroke-dasharray=\"%s\"/>\n",
                        x, x + 24, y, y, color, dash);
  Text(svg, x + 30, y + 4, "start", label);
}

}  // namespace

std::string RenderRoundsSvg(const std::vector<RoundMetrics>& rounds, const std::string& title) {
  const double height = kTop + 2 * kPanelHeight + kGap + 60;
  std::string svg = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
      "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\">\n"
      "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
      kWidth, height, kWidth, height);
  Text(&svg, kWidth / 2, 28, "middle", title, "#000", 16);

  std::vector<double> xs, acc, loss, up, down, fed_xs, fed_acc;
  std::vector<double> failed;
  double max_loss = 0.0, max_bytes = 0.0, min_acc = 1.0;
  for (const RoundMetrics& m : rounds) {
    if (!m.committed) {
      failed.push_back(static_cast<double>(m.round));
      continue;
    }
    if (m.federated_examples > 0) {
      // Federated evaluation scores the model the round started from: plot it at that model's
      // round, beside the central accuracy of the same model.
      fed_xs.push_back(static_cast<double>(m.round - 1));
      fed_acc.push_back(m.federated_accuracy);
      min_acc = std::min(min_acc, m.federated_accuracy);
    }
    xs.push_back(static_cast<double>(m.round));
    acc.push_back(m.test_accuracy);
    loss.push_back(m.test_loss);
    up.push_back(m.bytes_up_per_device);
    down.push_back(m.bytes_down_per_device);
    max_loss = std::max(max_loss, m.test_loss);
    min_acc = std::min(min_acc, m.test_accuracy);
    max_bytes = std::max({max_bytes, m.bytes_up_per_device, m.bytes_down_per_device});
  }
  const Axis x{rounds.empty() ? 0.0 : std::min(0.0, static_cast<double>(rounds.front().round)),
               rounds.empty() ? 1.0 : std::max(1.0, static_cast<double>(rounds.back().round))};

  // Accuracy panel: accuracy on the left axis, loss (scaled to the same box) on the right.
  const Axis acc_axis{min_acc >= 0.5 ? 0.5 : 0.0, 1.0};
  const Panel top(kTop, x, acc_axis);
  Frame(&svg, top, x, acc_axis, 0.1, [](double v) { return absl::StrFormat("%.0f%%", 100 * v); });
  Text(&svg, 22, top.top() + kPanelHeight / 2, "middle", "test accuracy", "#1f77b4", 13, -90);
  const double loss_hi = std::max(0.5, NiceStep(max_loss, 4) * std::ceil(max_loss / NiceStep(max_loss, 4)));
  auto loss_y = [&](double v) { return top.bottom() - v / loss_hi * kPanelHeight; };
  const double loss_step = NiceStep(loss_hi, 5);
  for (double v = 0; v <= loss_hi + 1e-9; v += loss_step) {
    Text(&svg, kWidth - kRight + 6, loss_y(v) + 4, "start", absl::StrFormat("%.2g", v), "#d62728");
  }
  Text(&svg, kWidth - 22, top.top() + kPanelHeight / 2, "middle", "test loss", "#d62728", 13, 90);
  Polyline(&svg, top, xs, loss, loss_y, "#d62728", "6,3");
  Polyline(&svg, top, xs, acc, [&](double v) { return top.Y(v); }, "#1f77b4", "none");
  Legend(&svg, kLeft + 12, top.top() + 16, "#1f77b4", "none", "test accuracy");
  Legend(&svg, kLeft + 160, top.top() + 16, "#d62728", "6,3", "test loss (right axis)");
  if (!fed_xs.empty()) {
    Polyline(&svg, top, fed_xs, fed_acc, [&](double v) { return top.Y(v); }, "#ff7f0e", "2,2");
    Legend(&svg, kLeft + 370, top.top() + 16, "#ff7f0e", "2,2",
           "federated accuracy (devices' held-out data)");
  }
  if (!acc.empty()) {
    Text(&svg, kWidth - kRight - 8, top.Y(acc.back()) - 8, "end",
         absl::StrFormat("final %.2f%%", 100 * acc.back()), "#1f77b4", 13);
  }

  // Bytes panel, in KiB or MiB depending on the scale.
  const bool mib = max_bytes >= 4.0 * 1024 * 1024;
  const double unit = mib ? 1024.0 * 1024.0 : 1024.0;
  const double bytes_step = NiceStep(std::max(1.0, max_bytes / unit), 5);
  const Axis bytes_axis{0.0, bytes_step * std::max(1.0, std::ceil(max_bytes / unit / bytes_step))};
  const Panel bottom(kTop + kPanelHeight + kGap, x, bytes_axis);
  Frame(&svg, bottom, x, bytes_axis, bytes_step,
        [](double v) { return absl::StrFormat("%g", v); });
  Text(&svg, 22, bottom.top() + kPanelHeight / 2, "middle",
       mib ? "MiB per device" : "KiB per device", "#333", 13, -90);
  auto to_unit = [&](std::vector<double> v) {
    for (double& b : v) b /= unit;
    return v;
  };
  Polyline(&svg, bottom, xs, to_unit(up), [&](double v) { return bottom.Y(v); }, "#2ca02c", "none");
  Polyline(&svg, bottom, xs, to_unit(down), [&](double v) { return bottom.Y(v); }, "#9467bd",
           "6,3");
  Legend(&svg, kLeft + 12, bottom.top() + 16, "#2ca02c", "none", "uploaded per device");
  Legend(&svg, kLeft + 190, bottom.top() + 16, "#9467bd", "6,3", "downloaded per device");
  for (double r : failed) {
    for (const Panel* p : {&top, &bottom}) {
      absl::StrAppendFormat(&svg,
                            "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"14\" "
                            "fill=\"#d62728\">&#215;</text>\n",
                            p->X(r), p->bottom() - 4);
    }
  }
  if (!failed.empty()) {
    Text(&svg, kWidth - kRight - 8, bottom.top() + 16, "end",
         absl::StrCat(failed.size(), " failed round(s) marked ×"), "#d62728");
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace cohort::sim
