#!/usr/bin/python3
"""Regenerates the committed ONNX fixtures of tests/fixtures/onnx from PyTorch.

Run with Debian's interpreter, which has python3-torch and python3-onnx (never needed at test
time):

    /usr/bin/python3 scripts/make-onnx-fixtures.py

For each model it writes <name>.onnx (torch.onnx.export, opset 13, eval mode), and
<name>_input.pb / <name>_output.pb: one batch of sample inputs and PyTorch's outputs for them, as
serialized onnx.TensorProto (the layout of ONNX's own backend test data). The models cover every
operator Cohort imports: Gemm, MatMul + Add, Conv (strided, padded, depthwise), Relu, Clip as
ReLU6, MaxPool, AveragePool, GlobalAveragePool, Flatten, Reshape, Softmax.
"""
import os
import sys

import onnx
import onnx.checker
import onnx.numpy_helper
import torch
from torch import nn

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "onnx")


class Mlp(nn.Module):
    """Linear (exported as Gemm), then a hand-written x @ W + b (exported as MatMul + Add)."""

    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(20, 16)
        self.out_weight = nn.Parameter(torch.randn(16, 5) * 0.3)
        self.out_bias = nn.Parameter(torch.randn(5) * 0.1)

    def forward(self, x):
        return torch.relu(self.hidden(x)) @ self.out_weight + self.out_bias


class LeNet(nn.Module):
    """The LeNet-style CNN trained by a federation in the integration test (28x28 grey)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 5)
        self.conv2 = nn.Conv2d(4, 8, 5)
        self.fc = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        x = nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = nn.functional.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.fc(torch.flatten(x, 1))


class MobileBlock(nn.Module):
    """A MobileNet-style block: strided conv, depthwise 3x3, pointwise 1x1, ReLU6, pooling."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.depthwise = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.pointwise = nn.Conv2d(8, 16, 1)
        self.pool = nn.AvgPool2d(2)
        self.classifier = nn.Linear(16, 10)

    def forward(self, x):
        x = nn.functional.relu6(self.stem(x))
        x = nn.functional.relu6(self.depthwise(x))
        x = nn.functional.relu6(self.pointwise(x))
        x = nn.functional.adaptive_avg_pool2d(self.pool(x), 1)  # GlobalAveragePool
        x = x.reshape(-1, 16)
        return torch.softmax(self.classifier(x), dim=1)


def tensor_file(path, array):
    with open(path, "wb") as f:
        f.write(onnx.numpy_helper.from_array(array).SerializeToString())


def export(name, module, sample):
    module.eval()
    path = os.path.join(OUT, name + ".onnx")
    torch.onnx.export(module, sample, path, opset_version=13, input_names=["input"],
                      output_names=["output"], dynamic_axes={"input": {0: "N"}, "output": {0: "N"}},
                      do_constant_folding=True)
    onnx.checker.check_model(onnx.load(path))
    with torch.no_grad():
        expected = module(sample)
    tensor_file(os.path.join(OUT, name + "_input.pb"), sample.numpy())
    tensor_file(os.path.join(OUT, name + "_output.pb"), expected.numpy())
    ops = sorted({n.op_type for n in onnx.load(path).graph.node})
    print(f"{name}: {os.path.getsize(path)} bytes, ops {', '.join(ops)}")


def main():
    torch.manual_seed(20261201)
    os.makedirs(OUT, exist_ok=True)
    export("mlp", Mlp(), torch.randn(4, 20))
    export("lenet", LeNet(), torch.rand(3, 1, 28, 28))
    export("mobile_block", MobileBlock(), torch.randn(2, 3, 16, 16))
    return 0


if __name__ == "__main__":
    sys.exit(main())
