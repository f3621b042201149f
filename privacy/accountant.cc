#include "privacy/accountant.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"

namespace cohort::privacy {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

double EpsilonAtOrder(double order, double rdp, double delta, Conversion conversion) {
  if (!(order > 1) || std::isnan(rdp)) return kInf;
  if (rdp == kInf) return kInf;
  if (conversion == Conversion::kStandard) return rdp + std::log(1 / delta) / (order - 1);
  if (delta * delta + std::expm1(-rdp) > 0) return 0;
  // The improved bound is numerically unstable as alpha -> 1 and never useful there.
  if (order <= 1.01) return kInf;
  return rdp + std::log1p(-1 / order) - std::log(delta * order) / (order - 1);
}

}  // namespace

std::vector<double> DefaultOrders() {
  std::vector<double> orders;
  for (int x = 1; x < 100; ++x) orders.push_back(1 + x / 10.0);
  for (int a = 11; a < 64; ++a) orders.push_back(a);
  for (double a : {128.0, 256.0, 512.0, 1024.0}) orders.push_back(a);
  return orders;
}

EpsilonResult EpsilonFromRdp(absl::Span<const double> orders, absl::Span<const double> rdp,
                             double delta, Conversion conversion) {
  EpsilonResult best;
  best.epsilon = kInf;
  if (!(delta > 0 && delta < 1) || orders.size() != rdp.size()) return best;
  for (size_t i = 0; i < orders.size(); ++i) {
    const double eps = EpsilonAtOrder(orders[i], rdp[i], delta, conversion);
    if (eps < best.epsilon) {
      best.epsilon = std::max(0.0, eps);
      best.order = orders[i];
    }
  }
  return best;
}

RdpAccountant::RdpAccountant(std::vector<double> orders)
    : orders_(std::move(orders)), rdp_(orders_.size(), 0.0) {}

absl::StatusOr<RdpAccountant> RdpAccountant::Restore(std::vector<double> orders,
                                                     std::vector<double> rdp) {
  if (orders.size() != rdp.size()) {
    return absl::InvalidArgumentError(absl::StrCat("a stored RDP curve has ", rdp.size(),
                                                   " values for ", orders.size(), " orders"));
  }
  for (size_t i = 0; i < rdp.size(); ++i) {
    if (std::isnan(rdp[i]) || rdp[i] < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("stored RDP at order ", orders[i], " is ", rdp[i]));
    }
  }
  RdpAccountant acc(std::move(orders));
  acc.rdp_ = std::move(rdp);
  return acc;
}

void RdpAccountant::Compose(absl::Span<const double> round_rdp, int64_t count) {
  for (size_t i = 0; i < rdp_.size() && i < round_rdp.size(); ++i) {
    rdp_[i] += static_cast<double>(count) * round_rdp[i];
  }
  // A curve of the wrong length is a programming error; make it visible as "no guarantee".
  if (round_rdp.size() != rdp_.size()) {
    for (double& r : rdp_) r = kInf;
  }
}

EpsilonResult RdpAccountant::Epsilon(double delta, Conversion conversion) const {
  return EpsilonFromRdp(orders_, rdp_, delta, conversion);
}

EpsilonResult RdpAccountant::EpsilonAfter(absl::Span<const double> round_rdp, int64_t count,
                                          double delta, Conversion conversion) const {
  RdpAccountant copy = *this;
  copy.Compose(round_rdp, count);
  return copy.Epsilon(delta, conversion);
}

}  // namespace cohort::privacy
