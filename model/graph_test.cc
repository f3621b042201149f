#include "model/graph.h"

#include <string>

#include <catch2/catch.hpp>

#include "model/zoo.h"

namespace cohort::model {
namespace {

using cohort::v1::ModelGraph;

std::string ErrorOf(const ModelGraph& graph) {
  absl::StatusOr<GraphInfo> info = AnalyzeGraph(graph);
  REQUIRE_FALSE(info.ok());
  CHECK(info.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(info.status().message());
}

TEST_CASE("AnalyzeGraph_DerivesTheLayoutOfTheSimulatorCnn") {
  absl::StatusOr<GraphInfo> info = AnalyzeGraph(CnnGraph(28, 10));
  REQUIRE(info.ok());
  // By hand: 28 -conv3-> 26 -pool-> 13 -conv3-> 11 -pool-> 5, so the hidden layer sees 32*5*5.
  CHECK(info->num_parameters == (16 * 9 + 16) + (32 * 16 * 9 + 32) + (800 * 64 + 64) + (64 * 10 + 10));
  REQUIRE(info->layout.tensors_size() == 8);
  CHECK(info->layout.tensors(4).name() == "hidden/kernel");
  CHECK(std::vector<int64_t>(info->layout.tensors(4).shape().begin(),
                             info->layout.tensors(4).shape().end()) ==
        std::vector<int64_t>{800, 64});
}

TEST_CASE("AnalyzeGraph_DerivesTheLayoutOfASmallCnn") {
  absl::StatusOr<GraphInfo> info = AnalyzeGraph(SmallCnnGraph(28, 10));
  REQUIRE(info.ok());
  // By hand: conv1 8x1x5x5 + 8, conv2 16x8x5x5 + 16, output (16*4*4)x10 + 10.
  CHECK(info->num_parameters == 200 + 8 + 3200 + 16 + 2560 + 10);
  REQUIRE(info->layout.tensors_size() == 6);
  CHECK(info->layout.tensors(0).name() == "conv1/kernel");
  CHECK(std::vector<int64_t>(info->layout.tensors(0).shape().begin(),
                             info->layout.tensors(0).shape().end()) ==
        std::vector<int64_t>{8, 1, 5, 5});
  CHECK(info->layout.tensors(1).name() == "conv1/bias");
  CHECK(info->layout.tensors(4).name() == "output/kernel");
  CHECK(std::vector<int64_t>(info->layout.tensors(4).shape().begin(),
                             info->layout.tensors(4).shape().end()) ==
        std::vector<int64_t>{256, 10});
  CHECK(info->layers[0].output == Shape{8, 24, 24});
  CHECK(info->layers[2].output == Shape{8, 12, 12});
  CHECK(info->layers[5].output == Shape{16, 4, 4});
  CHECK(info->layers[6].output == Shape{256});
  CHECK(info->layers[3].kernel_offset == 208);
  CHECK(info->layers[7].bias_offset == 208 + 3216 + 2560);
  CHECK(info->num_outputs == 10);
  CHECK(info->logits_layer == 7);
}

TEST_CASE("AnalyzeGraph_StridesPadsAndGroupsSetTheOutputShape") {
  ModelGraph graph;
  for (int64_t d : {6, 9, 9}) graph.add_input_shape(d);
  auto* conv = graph.add_layers();
  conv->set_name("dw");
  conv->mutable_conv2d()->set_filters(12);
  conv->mutable_conv2d()->set_groups(6);
  for (int64_t k : {3, 3}) conv->mutable_conv2d()->add_kernel_size(k);
  for (int64_t s : {2, 2}) conv->mutable_conv2d()->add_strides(s);
  for (int64_t p : {1, 1, 1, 1}) conv->mutable_conv2d()->add_pads(p);
  conv->mutable_conv2d()->set_use_bias(false);
  graph.add_layers()->set_name("gap");
  graph.mutable_layers(1)->mutable_global_avg_pool();
  graph.add_layers()->set_name("flat");
  graph.mutable_layers(2)->mutable_flatten();
  graph.add_layers()->set_name("probs");
  graph.mutable_layers(3)->mutable_softmax();
  absl::StatusOr<GraphInfo> info = AnalyzeGraph(graph);
  REQUIRE(info.ok());
  // (9 + 1 + 1 - 3) / 2 + 1 = 5; depthwise multiplier 2: 12 filters of 1 channel each.
  CHECK(info->layers[0].output == Shape{12, 5, 5});
  CHECK(info->num_parameters == 12 * 1 * 3 * 3);
  CHECK(info->layout.tensors_size() == 1);
  CHECK(info->layers[1].output == Shape{12, 1, 1});
  CHECK(info->num_outputs == 12);
  CHECK(info->logits_layer == 2);
}

TEST_CASE("AnalyzeGraph_NamesTheLayerAndTheAttribute") {
  ModelGraph graph = SmallCnnGraph(28, 10);
  graph.mutable_layers(3)->mutable_conv2d()->set_groups(3);
  CHECK(ErrorOf(graph) ==
        "graph.layers[3] 'conv2': conv2d.groups must be a divisor of the 8 input channels and 16 "
        "filters, got 3");

  graph = SmallCnnGraph(28, 10);
  graph.mutable_layers(0)->mutable_conv2d()->clear_kernel_size();
  graph.mutable_layers(0)->mutable_conv2d()->add_kernel_size(5);
  CHECK(ErrorOf(graph) ==
        "graph.layers[0] 'conv1': conv2d.kernel_size must be 2 values >= 1, got [5]");

  graph = SmallCnnGraph(28, 10);
  for (int64_t p : {5, 0, 0, 0}) graph.mutable_layers(2)->mutable_max_pool2d()->add_pads(p);
  CHECK(ErrorOf(graph) ==
        "graph.layers[2] 'pool1': max_pool2d.pads must be in [0, kernel size), got [5, 0, 0, 0]");

  graph = SmallCnnGraph(28, 10);
  graph.mutable_layers()->DeleteSubrange(6, 1);  // no flatten before the dense layer
  CHECK(ErrorOf(graph) ==
        "graph.layers[6] 'output': dense needs a rank-1 (flattened) input, got [16, 4, 4]");

  graph = SmallCnnGraph(8, 10);  // 8 -> 4 -> 2 -> 1: conv2's 5x5 kernel does not fit
  CHECK(ErrorOf(graph).find("graph.layers[3] 'conv2': conv2d needs a (padded) input at least as "
                            "large as the 5x5 kernel") == 0);

  graph = MlpGraph(4, 3, 2);
  graph.mutable_layers(2)->set_name("hidden");
  CHECK(ErrorOf(graph) == "graph.layers[2].name must be unique, got a second 'hidden'");

  graph = MlpGraph(4, 3, 2);
  graph.mutable_layers(0)->mutable_dense()->set_units(0);
  CHECK(ErrorOf(graph) == "graph.layers[0] 'hidden': dense.units must be >= 1, got 0");

  graph = MlpGraph(4, 3, 2);
  graph.mutable_layers(1)->mutable_softmax();
  CHECK(ErrorOf(graph) ==
        "graph.layers[1] 'hidden_relu': softmax is supported only as the last layer");

  graph = MlpGraph(4, 3, 1);
  CHECK(ErrorOf(graph).find("softmax cross-entropy needs the last layer to output a rank-1 "
                            "vector of at least 2 classes, got [1]") != std::string::npos);

  graph = MlpGraph(4, 3, 2);
  graph.mutable_layers(1)->clear_kind();
  CHECK(ErrorOf(graph).find("graph.layers[1] 'hidden_relu': kind must be one of dense") == 0);

  graph = MlpGraph(4, 3, 2);
  graph.clear_input_shape();
  CHECK(ErrorOf(graph).find("graph.input_shape must be") == 0);

  graph = MlpGraph(4, 3, 2);
  graph.mutable_layers(1)->mutable_reshape()->add_shape(2);
  CHECK(ErrorOf(graph) ==
        "graph.layers[1] 'hidden_relu': reshape.shape must be a shape of 3 elements like [3], "
        "got [2]");
}

TEST_CASE("CanonicalGraph_SpellsOutTheDefaults") {
  ModelGraph graph = CanonicalGraph(SmallCnnGraph(28, 10));
  CHECK(graph.loss() == cohort::v1::LOSS_SOFTMAX_CROSS_ENTROPY);
  CHECK(graph.layers(0).conv2d().groups() == 1);
  CHECK(graph.layers(0).conv2d().use_bias());
  CHECK(graph.layers(0).conv2d().strides_size() == 2);
  CHECK(graph.layers(0).conv2d().strides(0) == 1);
  CHECK(graph.layers(2).max_pool2d().strides(0) == 2);
  CHECK(graph.layers(2).max_pool2d().pads_size() == 4);
  CHECK(graph.layers(7).dense().use_bias());
  // Canonicalising keeps the meaning: same shapes and layout.
  absl::StatusOr<GraphInfo> a = AnalyzeGraph(graph);
  absl::StatusOr<GraphInfo> b = AnalyzeGraph(SmallCnnGraph(28, 10));
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->layout.SerializeAsString() == b->layout.SerializeAsString());
  CHECK(CanonicalGraph(graph).SerializeAsString() == graph.SerializeAsString());
}

}  // namespace
}  // namespace cohort::model
