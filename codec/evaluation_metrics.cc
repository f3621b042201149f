#include "codec/evaluation_metrics.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "codec/codec_params.h"
#include "codec/splitmix64.h"

namespace cohort::codec {
namespace {

uint64_t FloatBits(double value) {
  const auto f = static_cast<float>(value);
  uint32_t bits = 0;
  std::memcpy(&bits, &f, sizeof(bits));
  return bits;
}

double MaxLoss(const cohort::v1::CodecParams& params) {
  return params.max_eval_loss() > 0 ? params.max_eval_loss() : kDefaultMaxEvalLoss;
}

}  // namespace

void AddEvaluation(cohort::v1::CodecParams& params, bool evaluation_only, double max_eval_loss) {
  params.set_metric_elements(kMetricElements);
  params.set_evaluation_only(evaluation_only);
  params.set_max_eval_loss(max_eval_loss > 0 ? max_eval_loss : kDefaultMaxEvalLoss);
  params.set_vector_length((evaluation_only ? 0 : params.vector_length()) + kMetricElements);
}

int64_t UpdateLength(const cohort::v1::CodecParams& params) {
  if (params.evaluation_only()) return 0;
  return params.vector_length() - params.metric_elements();
}

absl::StatusOr<std::array<uint64_t, kMetricElements>> EncodeEvaluation(
    const cohort::v1::CodecParams& params, const EvaluationCounts& counts, uint64_t seed) {
  if (params.metric_elements() != kMetricElements) {
    return absl::InvalidArgumentError(absl::StrCat(
        "codec.metric_elements is ", params.metric_elements(), "; the round does not evaluate"));
  }
  if (counts.examples < 0 || counts.correct < 0 || counts.correct > counts.examples) {
    return absl::InvalidArgumentError(absl::StrCat("evaluation counts must have 0 <= correct <= "
                                                   "examples, got ", counts.correct, " of ",
                                                   counts.examples));
  }
  if (!(counts.mean_loss >= 0) || !std::isfinite(counts.mean_loss)) {
    return absl::InvalidArgumentError(
        absl::StrCat("evaluation loss must be finite and >= 0, got ", counts.mean_loss));
  }
  const int64_t e = std::min<int64_t>(counts.examples, params.max_example_weight());
  const int64_t c =
      counts.examples == 0
          ? 0
          : static_cast<int64_t>(std::llround(static_cast<double>(e) *
                                              static_cast<double>(counts.correct) /
                                              static_cast<double>(counts.examples)));
  const double loss = std::min(counts.mean_loss, MaxLoss(params));
  if (params.encoding() == cohort::v1::UPDATE_ENCODING_FLOAT32) {
    return std::array<uint64_t, kMetricElements>{FloatBits(static_cast<double>(e)),
                                                 FloatBits(static_cast<double>(c)),
                                                 FloatBits(static_cast<double>(e) * loss)};
  }
  const double max_level = static_cast<double>(MaxLevel(params.bits()));
  const double q = loss / MaxLoss(params) * max_level;
  const double floor_q = std::floor(q);
  const double u = ToUnitDouble(SplitMix64::At(MixSeed(seed, kEvaluationStream), 0));
  const auto level = static_cast<uint64_t>(floor_q) + (u < q - floor_q ? 1 : 0);
  return std::array<uint64_t, kMetricElements>{static_cast<uint64_t>(e),
                                               static_cast<uint64_t>(c),
                                               static_cast<uint64_t>(e) * level};
}

absl::StatusOr<EvaluationSums> DecodeEvaluationSum(const cohort::v1::CodecParams& params,
                                                   absl::Span<const uint64_t> quantized_tail,
                                                   absl::Span<const double> float_tail,
                                                   int32_t contributors) {
  const bool float32 = params.encoding() == cohort::v1::UPDATE_ENCODING_FLOAT32;
  const size_t size = float32 ? float_tail.size() : quantized_tail.size();
  if (params.metric_elements() != kMetricElements || size != kMetricElements) {
    return absl::InvalidArgumentError(absl::StrCat("an evaluation sum has ", kMetricElements,
                                                   " elements, got ", size));
  }
  const double max_examples =
      static_cast<double>(contributors) * static_cast<double>(params.max_example_weight());
  EvaluationSums sums;
  double loss_bound = 0;
  if (float32) {
    for (double v : float_tail) {
      if (!std::isfinite(v) || v < 0) {
        return absl::InvalidArgumentError(absl::StrCat("evaluation sum element ", v));
      }
    }
    sums.examples = std::llround(float_tail[0]);
    sums.correct = std::llround(float_tail[1]);
    sums.loss_sum = float_tail[2];
    loss_bound = static_cast<double>(sums.examples) * MaxLoss(params) * (1 + 1e-6);
  } else {
    const double scale = MaxLoss(params) / static_cast<double>(MaxLevel(params.bits()));
    sums.examples = static_cast<int64_t>(quantized_tail[0]);
    sums.correct = static_cast<int64_t>(quantized_tail[1]);
    sums.loss_sum = static_cast<double>(quantized_tail[2]) * scale;
    loss_bound = static_cast<double>(sums.examples) * MaxLoss(params);
  }
  if (static_cast<double>(sums.examples) > max_examples || sums.correct > sums.examples ||
      sums.loss_sum > loss_bound + 1e-9) {
    return absl::InvalidArgumentError(absl::StrCat(
        "impossible evaluation sum from ", contributors, " devices: ", sums.examples,
        " examples, ", sums.correct, " correct, loss ", sums.loss_sum));
  }
  return sums;
}

}  // namespace cohort::codec
