#include "model/zoo.h"

#include <string>

namespace cohort::model {
namespace {

using cohort::v1::Layer;
using cohort::v1::ModelGraph;

Layer* Add(ModelGraph& graph, const std::string& name) {
  Layer* layer = graph.add_layers();
  layer->set_name(name);
  return layer;
}

void AddDense(ModelGraph& graph, const std::string& name, int64_t units) {
  Add(graph, name)->mutable_dense()->set_units(units);
}

void AddConv(ModelGraph& graph, const std::string& name, int64_t filters, int64_t kernel) {
  auto* conv = Add(graph, name)->mutable_conv2d();
  conv->set_filters(filters);
  conv->add_kernel_size(kernel);
  conv->add_kernel_size(kernel);
}

void AddMaxPool(ModelGraph& graph, const std::string& name, int64_t size) {
  auto* pool = Add(graph, name)->mutable_max_pool2d();
  pool->add_kernel_size(size);
  pool->add_kernel_size(size);
}

}  // namespace

ModelGraph SoftmaxRegressionGraph(int64_t inputs, int64_t classes) {
  ModelGraph graph;
  graph.add_input_shape(inputs);
  AddDense(graph, "dense", classes);
  graph.set_loss(cohort::v1::LOSS_SOFTMAX_CROSS_ENTROPY);
  return graph;
}

ModelGraph MlpGraph(int64_t inputs, int64_t hidden, int64_t classes) {
  ModelGraph graph;
  graph.add_input_shape(inputs);
  AddDense(graph, "hidden", hidden);
  Add(graph, "hidden_relu")->mutable_relu();
  AddDense(graph, "output", classes);
  graph.set_loss(cohort::v1::LOSS_SOFTMAX_CROSS_ENTROPY);
  return graph;
}

ModelGraph SmallCnnGraph(int64_t side, int64_t classes) {
  ModelGraph graph;
  graph.add_input_shape(1);
  graph.add_input_shape(side);
  graph.add_input_shape(side);
  AddConv(graph, "conv1", 8, 5);
  Add(graph, "conv1_relu")->mutable_relu();
  AddMaxPool(graph, "pool1", 2);
  AddConv(graph, "conv2", 16, 5);
  Add(graph, "conv2_relu")->mutable_relu();
  AddMaxPool(graph, "pool2", 2);
  Add(graph, "flatten")->mutable_flatten();
  AddDense(graph, "output", classes);
  graph.set_loss(cohort::v1::LOSS_SOFTMAX_CROSS_ENTROPY);
  return graph;
}

ModelGraph CnnGraph(int64_t side, int64_t classes) {
  ModelGraph graph;
  graph.add_input_shape(1);
  graph.add_input_shape(side);
  graph.add_input_shape(side);
  AddConv(graph, "conv1", 16, 3);
  Add(graph, "conv1_relu")->mutable_relu();
  AddMaxPool(graph, "pool1", 2);
  AddConv(graph, "conv2", 32, 3);
  Add(graph, "conv2_relu")->mutable_relu();
  AddMaxPool(graph, "pool2", 2);
  Add(graph, "flatten")->mutable_flatten();
  AddDense(graph, "hidden", 64);
  Add(graph, "hidden_relu")->mutable_relu();
  AddDense(graph, "output", classes);
  graph.set_loss(cohort::v1::LOSS_SOFTMAX_CROSS_ENTROPY);
  return graph;
}

}  // namespace cohort::model
