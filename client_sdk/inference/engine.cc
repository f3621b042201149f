#include "client_sdk/inference/engine.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "client_sdk/inference/artifact.h"
#include "client_sdk/inference/instance_pool.h"
#include "client_sdk/inference/plan.h"
#include "client_sdk/inference/xnn_adapter.h"
#include "client_sdk/inference/xnn_instance.h"
#include "codec/model.h"
#include "model/network.h"

namespace cohort::inference {
namespace {

using cohort::v1::InferenceModel;

void ReleaseWeights(Plan& plan) {
  for (Step& step : plan.steps) {
    std::vector<float>().swap(step.kernel);
    std::vector<float>().swap(step.bias);
    std::vector<int8_t>().swap(step.qkernel);
    std::vector<int32_t>().swap(step.qbias);
    std::vector<float>().swap(step.kernel_scales);
  }
}

class XnnpackEngine : public Engine {
 public:
  static absl::StatusOr<std::unique_ptr<Engine>> Create(const InferenceModel& artifact,
                                                        model::GraphInfo info,
                                                        const EngineOptions& options) {
    COHORT_RETURN_IF_ERROR(InitializeXnnpack());
    COHORT_ASSIGN_OR_RETURN(Plan plan, CompilePlan(artifact, info));
    auto owned_plan = std::make_unique<Plan>(std::move(plan));
    // The first operator set is made now so that XNNPACK's refusals happen at load.
    COHORT_ASSIGN_OR_RETURN(std::unique_ptr<XnnInstance> first, XnnInstance::Create(*owned_plan));
    // The plan keeps its XNNPACK-layout weights only to make more operator sets later (each
    // packs its own copy); with one set they would be a second copy of the model for nothing.
    if (options.max_concurrency == 1) ReleaseWeights(*owned_plan);
    ThreadPool threads = MakeThreadPool(static_cast<size_t>(options.num_threads));
    if (options.num_threads > 1 && threads == nullptr) {
      return absl::ResourceExhaustedError(
          absl::StrCat("cannot start a pool of ", options.num_threads, " threads"));
    }
    return std::unique_ptr<Engine>(new XnnpackEngine(std::move(info), artifact.format(),
                                                     std::move(owned_plan), std::move(first),
                                                     std::move(threads), options));
  }

  absl::Status Predict(absl::Span<const float> inputs, int64_t batch,
                       absl::Span<float> outputs) const override {
    COHORT_RETURN_IF_ERROR(CheckSizes(inputs, batch, outputs));
    COHORT_ASSIGN_OR_RETURN(auto instance, pool_.Acquire());
    return instance->Run(inputs.data(), batch, outputs.data(), threads_.get());
  }

  int instances() const override { return pool_.size(); }

 private:
  XnnpackEngine(model::GraphInfo info, cohort::v1::InferenceFormat format,
                std::unique_ptr<Plan> plan, std::unique_ptr<XnnInstance> first,
                ThreadPool threads, const EngineOptions& options)
      : Engine(std::move(info), format),
        plan_(std::move(plan)),
        threads_(std::move(threads)),
        pool_([plan = plan_.get()] { return XnnInstance::Create(*plan); },
              options.max_concurrency, std::move(first)) {}

  const std::unique_ptr<Plan> plan_;  // the instances point into it
  const ThreadPool threads_;
  mutable InstancePool<XnnInstance> pool_;
};

// model::Network keeps activations between calls, so each concurrent caller borrows one.
class EigenEngine : public Engine {
 public:
  static absl::StatusOr<std::unique_ptr<Engine>> Create(const InferenceModel& artifact,
                                                        model::GraphInfo info,
                                                        const EngineOptions& options) {
    if (artifact.format() != cohort::v1::INFERENCE_FORMAT_FLOAT32) {
      return absl::InvalidArgumentError(
          "the Eigen reference engine runs FLOAT32 artifacts; run INT8 ones on XNNPACK");
    }
    COHORT_ASSIGN_OR_RETURN(std::vector<float> params,
                            codec::FloatsFromBytes(artifact.float_parameters()));
    auto graph = std::make_unique<cohort::v1::ModelGraph>(artifact.graph());
    COHORT_ASSIGN_OR_RETURN(auto first, model::Network<float>::Create(*graph));
    return std::unique_ptr<Engine>(new EigenEngine(std::move(info), std::move(graph),
                                                   std::move(params), std::move(first),
                                                   options.max_concurrency));
  }

  absl::Status Predict(absl::Span<const float> inputs, int64_t batch,
                       absl::Span<float> outputs) const override {
    COHORT_RETURN_IF_ERROR(CheckSizes(inputs, batch, outputs));
    COHORT_ASSIGN_OR_RETURN(auto net, pool_.Acquire());
    net->Predict(params_.data(), inputs.data(), batch, outputs.data());
    return absl::OkStatus();
  }

  int instances() const override { return pool_.size(); }

 private:
  EigenEngine(model::GraphInfo info, std::unique_ptr<cohort::v1::ModelGraph> graph,
              std::vector<float> params, std::unique_ptr<model::Network<float>> first,
              int max_concurrency)
      : Engine(std::move(info), cohort::v1::INFERENCE_FORMAT_FLOAT32),
        graph_(std::move(graph)),
        params_(std::move(params)),
        pool_([graph = graph_.get()] { return model::Network<float>::Create(*graph); },
              max_concurrency, std::move(first)) {}

  const std::unique_ptr<cohort::v1::ModelGraph> graph_;
  const std::vector<float> params_;
  mutable InstancePool<model::Network<float>> pool_;
};

}  // namespace

absl::Status Engine::CheckSizes(absl::Span<const float> inputs, int64_t batch,
                                absl::Span<float> outputs) const {
  if (batch < 1) return absl::InvalidArgumentError(absl::StrCat("batch must be >= 1, got ", batch));
  if (static_cast<int64_t>(inputs.size()) != batch * input_size() ||
      static_cast<int64_t>(outputs.size()) != batch * output_size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a batch of ", batch, " needs ", batch * input_size(), " inputs and ",
        batch * output_size(), " outputs, got ", inputs.size(), " and ", outputs.size()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Engine>> CreateEngine(const InferenceModel& artifact,
                                                     const EngineOptions& options) {
  if (options.num_threads < 1 || options.max_concurrency < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "num_threads and max_concurrency must be >= 1, got ", options.num_threads, " and ",
        options.max_concurrency));
  }
  COHORT_ASSIGN_OR_RETURN(model::GraphInfo info, CheckArtifact(artifact));
  switch (options.kind) {
    case EngineKind::kXnnpack:
      return XnnpackEngine::Create(artifact, std::move(info), options);
    case EngineKind::kEigenReference:
      return EigenEngine::Create(artifact, std::move(info), options);
  }
  return absl::InvalidArgumentError("unknown engine kind");
}

absl::StatusOr<std::unique_ptr<Engine>> LoadEngine(absl::string_view artifact_bytes,
                                                   const EngineOptions& options) {
  COHORT_ASSIGN_OR_RETURN(InferenceModel artifact, ParseArtifact(artifact_bytes));
  return CreateEngine(artifact, options);
}

}  // namespace cohort::inference
