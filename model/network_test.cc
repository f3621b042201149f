#include "model/network.h"

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "model/zoo.h"

namespace cohort::model {
namespace {

using cohort::v1::Layer;
using cohort::v1::ModelGraph;

Layer* AddLayer(ModelGraph& graph, const std::string& name) {
  Layer* layer = graph.add_layers();
  layer->set_name(name);
  return layer;
}

void SetWindow(google::protobuf::RepeatedField<int64_t>* kernel,
               google::protobuf::RepeatedField<int64_t>* strides,
               google::protobuf::RepeatedField<int64_t>* pads, int64_t k, int64_t s,
               std::vector<int64_t> p) {
  kernel->Add(k);
  kernel->Add(k);
  strides->Add(s);
  strides->Add(s);
  for (int64_t v : p) pads->Add(v);
}

Layer* AddConv(ModelGraph& graph, const std::string& name, int64_t filters, int64_t k,
               int64_t stride, std::vector<int64_t> pads, int64_t groups = 1) {
  Layer* layer = AddLayer(graph, name);
  auto* c = layer->mutable_conv2d();
  c->set_filters(filters);
  c->set_groups(groups);
  SetWindow(c->mutable_kernel_size(), c->mutable_strides(), c->mutable_pads(), k, stride, pads);
  return layer;
}

// Ends `graph` with flatten and a dense layer of `classes` logits.
ModelGraph WithHead(ModelGraph graph, int64_t classes) {
  AddLayer(graph, "flatten")->mutable_flatten();
  AddLayer(graph, "head")->mutable_dense()->set_units(classes);
  return graph;
}

ModelGraph ImageGraph(int64_t c, int64_t h, int64_t w) {
  ModelGraph graph;
  graph.add_input_shape(c);
  graph.add_input_shape(h);
  graph.add_input_shape(w);
  return graph;
}

struct Problem {
  std::vector<double> params, inputs;
  std::vector<int32_t> labels;
};

Problem RandomProblem(Network<double>& net, int64_t batch, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  Problem p;
  for (int64_t i = 0; i < net.num_parameters(); ++i) p.params.push_back(0.5 * u(gen));
  for (int64_t i = 0; i < batch * net.input_size(); ++i) p.inputs.push_back(2.0 * u(gen));
  std::uniform_int_distribution<int32_t> label(0, static_cast<int32_t>(net.num_outputs()) - 1);
  for (int64_t b = 0; b < batch; ++b) p.labels.push_back(label(gen));
  return p;
}

// Compares the analytic gradient of the mean loss with central finite differences for every
// parameter, in double precision.
void CheckGradient(const ModelGraph& graph, uint32_t seed = 7) {
  auto net = Network<double>::Create(graph);
  REQUIRE(net.ok());
  const int64_t batch = 3;
  Problem p = RandomProblem(**net, batch, seed);
  std::vector<double> grad(p.params.size());
  (*net)->Loss(p.params.data(), p.inputs.data(), p.labels.data(), batch, grad.data());
  const double eps = 1e-6;
  double worst = 0;
  for (size_t i = 0; i < p.params.size(); ++i) {
    const double saved = p.params[i];
    p.params[i] = saved + eps;
    const double up =
        (*net)->Loss(p.params.data(), p.inputs.data(), p.labels.data(), batch, nullptr).loss_sum;
    p.params[i] = saved - eps;
    const double down =
        (*net)->Loss(p.params.data(), p.inputs.data(), p.labels.data(), batch, nullptr).loss_sum;
    p.params[i] = saved;
    const double numeric = (up - down) / (2 * eps) / batch;
    const double error = std::abs(numeric - grad[i]) / (1e-6 + std::abs(numeric));
    worst = std::max(worst, std::min(error, std::abs(numeric - grad[i]) * 1e4));
    INFO("parameter " << i << " analytic " << grad[i] << " numeric " << numeric);
    REQUIRE(std::abs(numeric - grad[i]) <= 1e-7 + 1e-5 * std::abs(numeric));
  }
}

TEST_CASE("Loss_GradientOfDenseAndReluMatchesFiniteDifferences") {
  CheckGradient(MlpGraph(5, 4, 3));
}

TEST_CASE("Loss_GradientOfConv2DWithStridePaddingAndGroupsMatchesFiniteDifferences") {
  ModelGraph graph = ImageGraph(4, 7, 6);
  AddConv(graph, "conv", 6, 3, 2, {1, 0, 2, 1}, 2);
  AddLayer(graph, "relu")->mutable_relu();
  AddConv(graph, "pointwise", 3, 1, 1, {});
  CheckGradient(WithHead(graph, 3));
}

TEST_CASE("Loss_GradientThroughDepthwiseConvAndRelu6MatchesFiniteDifferences") {
  ModelGraph graph = ImageGraph(3, 6, 6);
  AddConv(graph, "expand", 6, 1, 1, {});
  AddLayer(graph, "relu6")->mutable_relu6();
  AddConv(graph, "depthwise", 6, 3, 1, {1, 1, 1, 1}, 6);
  CheckGradient(WithHead(graph, 4));
}

TEST_CASE("Loss_GradientThroughMaxPoolMatchesFiniteDifferences") {
  ModelGraph graph = ImageGraph(2, 7, 7);
  AddConv(graph, "conv", 3, 3, 1, {1, 1, 1, 1});
  auto* pool = AddLayer(graph, "pool")->mutable_max_pool2d();
  SetWindow(pool->mutable_kernel_size(), pool->mutable_strides(), pool->mutable_pads(), 3, 2,
            {1, 1, 1, 1});
  CheckGradient(WithHead(graph, 3));
}

TEST_CASE("Loss_GradientThroughAvgPoolAndGlobalAvgPoolMatchesFiniteDifferences") {
  ModelGraph graph = ImageGraph(2, 6, 5);
  AddConv(graph, "conv", 4, 2, 1, {});
  auto* pool = AddLayer(graph, "avg")->mutable_avg_pool2d();
  SetWindow(pool->mutable_kernel_size(), pool->mutable_strides(), pool->mutable_pads(), 2, 2,
            {0, 1, 1, 0});
  AddConv(graph, "conv2", 5, 1, 1, {});
  AddLayer(graph, "gap")->mutable_global_avg_pool();
  CheckGradient(WithHead(graph, 3));
}

TEST_CASE("Loss_GradientThroughReshapeAndAFinalSoftmaxMatchesFiniteDifferences") {
  ModelGraph graph;
  graph.add_input_shape(12);
  auto* reshape = AddLayer(graph, "to_image")->mutable_reshape();
  for (int64_t d : {3, 2, 2}) reshape->add_shape(d);
  AddConv(graph, "conv", 2, 2, 1, {});
  graph = WithHead(graph, 3);
  AddLayer(graph, "probs")->mutable_softmax();
  CheckGradient(graph);
}

// An independent oracle for Conv2D: the definition, one output at a time.
double DirectConv(const std::vector<double>& x, const double* kernel, const double* bias,
                  int64_t c_in, int64_t h, int64_t w, int64_t groups, int64_t filters, int64_t k,
                  int64_t stride, int64_t pad_top, int64_t pad_left, int64_t f, int64_t oh,
                  int64_t ow) {
  const int64_t cg = c_in / groups;
  const int64_t g = f / (filters / groups);
  double sum = bias[f];
  for (int64_t c = 0; c < cg; ++c) {
    for (int64_t i = 0; i < k; ++i) {
      for (int64_t j = 0; j < k; ++j) {
        const int64_t ih = oh * stride - pad_top + i;
        const int64_t iw = ow * stride - pad_left + j;
        if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
        sum += kernel[((f * cg + c) * k + i) * k + j] * x[((g * cg + c) * h + ih) * w + iw];
      }
    }
  }
  return sum;
}

TEST_CASE("Predict_Conv2DMatchesTheDefinition") {
  ModelGraph graph = ImageGraph(4, 6, 7);
  AddConv(graph, "conv", 6, 3, 2, {1, 2, 0, 1}, 2);
  graph = WithHead(graph, 2);
  auto net = Network<double>::Create(graph);
  REQUIRE(net.ok());
  Problem p = RandomProblem(**net, 1, 3);
  std::vector<double> out(2);
  (*net)->Predict(p.params.data(), p.inputs.data(), 1, out.data());
  const double* conv_out = (*net)->activation(0);
  const GraphInfo& info = (*net)->info();
  const Shape& o = info.layers[0].output;
  REQUIRE(o == Shape{6, 3, 4});  // (6+1-3)/2+1 = 3, (7+3-3)/2+1 = 4
  for (int64_t f = 0; f < o[0]; ++f) {
    for (int64_t oh = 0; oh < o[1]; ++oh) {
      for (int64_t ow = 0; ow < o[2]; ++ow) {
        const double expected = DirectConv(p.inputs, p.params.data(),
                                           p.params.data() + info.layers[0].bias_offset, 4, 6, 7, 2,
                                           6, 3, 2, 1, 2, f, oh, ow);
        CHECK(conv_out[(f * o[1] + oh) * o[2] + ow] == Approx(expected).margin(1e-12));
      }
    }
  }
}

TEST_CASE("Predict_PoolingMatchesHandComputedValues") {
  ModelGraph graph = ImageGraph(1, 3, 3);
  auto* max = AddLayer(graph, "max")->mutable_max_pool2d();
  SetWindow(max->mutable_kernel_size(), max->mutable_strides(), max->mutable_pads(), 2, 2,
            {1, 1, 0, 0});
  ModelGraph avg_graph = ImageGraph(1, 3, 3);
  auto* avg = AddLayer(avg_graph, "avg")->mutable_avg_pool2d();
  SetWindow(avg->mutable_kernel_size(), avg->mutable_strides(), avg->mutable_pads(), 2, 2,
            {1, 1, 0, 0});
  //  1 -2  3
  // -4  5 -6
  //  7 -8  9
  const std::vector<double> x = {1, -2, 3, -4, 5, -6, 7, -8, 9};
  for (ModelGraph* g : {&graph, &avg_graph}) *g = WithHead(*g, 2);
  auto max_net = Network<double>::Create(graph);
  auto avg_net = Network<double>::Create(avg_graph);
  REQUIRE(max_net.ok());
  REQUIRE(avg_net.ok());
  std::vector<double> params((*max_net)->num_parameters(), 0.0), out(2);
  (*max_net)->Predict(params.data(), x.data(), 1, out.data());
  (*avg_net)->Predict(params.data(), x.data(), 1, out.data());
  // Windows (padding top/left 1, stride 2): {1}, {-2, 3}, {-4, 7}, {5, -6, -8, 9}.
  const double* m = (*max_net)->activation(0);
  CHECK(std::vector<double>(m, m + 4) == std::vector<double>{1, 3, 7, 9});
  const double* a = (*avg_net)->activation(0);
  CHECK(std::vector<double>(a, a + 4) == std::vector<double>{1, 0.5, 1.5, 0});
}

TEST_CASE("Loss_CountsStrictlyLargestLogitsAndSumsCrossEntropy") {
  auto net = Network<double>::Create(SoftmaxRegressionGraph(2, 3));
  REQUIRE(net.ok());
  // kernel [2, 3] then bias [3]: logits = x . kernel.
  const std::vector<double> params = {1, 0, 0, 0, 1, 0, 0, 0, 0};
  const std::vector<double> x = {2, 1, 0, 0};  // logits (2, 1, 0) and (0, 0, 0)
  const std::vector<int32_t> labels = {0, 1};
  LossStats stats = (*net)->Loss(params.data(), x.data(), labels.data(), 2, nullptr);
  CHECK(stats.correct == 1);  // the all-zero row is a tie: wrong
  const double first = std::log(std::exp(2.0) + std::exp(1.0) + 1.0) - 2.0;
  CHECK(stats.loss_sum == Approx(first + std::log(3.0)).epsilon(1e-12));
}

TEST_CASE("Predict_FloatAndDoubleAgreeOnTheSmallCnn") {
  const ModelGraph graph = SmallCnnGraph(28, 10);
  auto dnet = Network<double>::Create(graph);
  auto fnet = Network<float>::Create(graph);
  REQUIRE(dnet.ok());
  REQUIRE(fnet.ok());
  Problem p = RandomProblem(**dnet, 2, 11);
  std::vector<float> fparams(p.params.begin(), p.params.end());
  std::vector<float> finputs(p.inputs.begin(), p.inputs.end());
  std::vector<double> dout(20);
  std::vector<float> fout(20);
  (*dnet)->Predict(p.params.data(), p.inputs.data(), 2, dout.data());
  (*fnet)->Predict(fparams.data(), finputs.data(), 2, fout.data());
  for (int i = 0; i < 20; ++i) CHECK(fout[i] == Approx(dout[i]).margin(1e-3));
}

}  // namespace
}  // namespace cohort::model
