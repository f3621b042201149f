#ifndef COHORT_PRIVACY_ACCOUNTANT_H_
#define COHORT_PRIVACY_ACCOUNTANT_H_

// The RDP accountant: per-round RDP curves (privacy/rdp.h) add up over rounds at each order
// (Mironov 2017, Prop. 1), and the total converts to (epsilon, delta)-DP at the best order.
//
// Conversions (epsilon for a given delta, minimised over the orders):
//  - kImproved (used for every budget decision): Canonne, Kamath, Steinke 2020, Prop. 12
//    (equivalently Balle, Barthe, Gaboardi, Hsu, Sato 2020, Thm. 21):
//      epsilon = rdp(alpha) + log1p(-1/alpha) - log(delta * alpha) / (alpha - 1),
//    plus the KL shortcut: if delta >= sqrt(1 - exp(-rdp(alpha))) the pair is (0, delta)-DP
//    (total variation <= sqrt(1 - e^{-KL}), and KL <= rdp(alpha) for alpha >= 1).
//  - kStandard: Mironov 2017, Prop. 3: epsilon = rdp(alpha) + log(1/delta) / (alpha - 1).
//    Always >= kImproved; reported alongside it for comparison with older papers.
//
// The default orders are those of Google's dp_accounting RdpAccountant: 1.1 to 10.9 in steps
// of 0.1, 11 to 63, and 128, 256, 512, 1024.
//
//   RdpAccountant acc;                                   // default orders
//   acc.Compose(RoundCurve(acc.orders(), ...), /*count=*/1);
//   EpsilonResult spent = acc.Epsilon(/*delta=*/1e-5);   // spent.epsilon, spent.order
//
// Codes: Restore returns INVALID_ARGUMENT when the stored curve does not match the orders
// (length, non-finite or negative values). Not thread-safe (Compose mutates); const methods
// may be called concurrently.

#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace cohort::privacy {

std::vector<double> DefaultOrders();

enum class Conversion { kImproved, kStandard };

struct EpsilonResult {
  double epsilon = 0;  // +inf if no order gives a finite bound
  double order = 0;    // the order that attains it (0 if none)
};

// epsilon at `delta` in (0, 1) from an RDP curve; orders <= 1 are skipped.
EpsilonResult EpsilonFromRdp(absl::Span<const double> orders, absl::Span<const double> rdp,
                             double delta, Conversion conversion = Conversion::kImproved);

class RdpAccountant {
 public:
  explicit RdpAccountant(std::vector<double> orders = DefaultOrders());
  // An accountant that has already spent `rdp` (one value per order), e.g. read back from the
  // store after a restart.
  static absl::StatusOr<RdpAccountant> Restore(std::vector<double> orders, std::vector<double> rdp);

  // Adds `count` rounds of `round_rdp` (one value per order).
  void Compose(absl::Span<const double> round_rdp, int64_t count = 1);

  EpsilonResult Epsilon(double delta, Conversion conversion = Conversion::kImproved) const;
  // epsilon if `round_rdp` were composed `count` more times, without changing the accountant.
  EpsilonResult EpsilonAfter(absl::Span<const double> round_rdp, int64_t count, double delta,
                             Conversion conversion = Conversion::kImproved) const;

  const std::vector<double>& orders() const { return orders_; }
  const std::vector<double>& rdp() const { return rdp_; }

 private:
  std::vector<double> orders_;
  std::vector<double> rdp_;
};

}  // namespace cohort::privacy

#endif  // COHORT_PRIVACY_ACCOUNTANT_H_
