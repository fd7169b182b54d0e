"""ONNX graphs built with onnx.helper, the way exporters write them (weights as initializers
whose data may live in an external file, value_info often missing)."""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class GraphBuilder:
    """Appends nodes; tracks the current activation and its channel count."""

    def __init__(self, channels: int, height: int, width: int, name="x"):
        self.nodes, self.initializers = [], []
        self.inputs = [helper.make_tensor_value_info(name, TensorProto.FLOAT,
                                                     [1, channels, height, width])]
        self.count = 0

    def _weight(self, name, shape):
        self.initializers.append(numpy_helper.from_array(np.zeros(shape, np.float32), name))
        return name

    def constant(self, name, values):
        """An int64 initializer, e.g. a Reshape's target shape."""
        self.initializers.append(helper.make_tensor(name, TensorProto.INT64, [len(values)],
                                                    values))
        return name

    def node(self, op, inputs, name=None, **attributes):
        self.count += 1
        output = f"t{self.count}"
        self.nodes.append(helper.make_node(op, inputs, [output], name=name or f"{op}_{self.count}",
                                           **attributes))
        return output

    def conv(self, x, c_in, c_out, kernel=3, stride=1, pad=1, group=1, name=None, bias=True):
        base = name or f"conv{self.count}"
        weight = self._weight(f"{base}.weight", [c_out, c_in // group, kernel, kernel])
        inputs = [x, weight] + ([self._weight(f"{base}.bias", [c_out])] if bias else [])
        return self.node("Conv", inputs, name=name, kernel_shape=[kernel, kernel],
                         strides=[stride, stride], pads=[pad] * 4, group=group,
                         dilations=[1, 1])

    def clip(self, x):
        """ReLU6 as torch exports it: Clip with min and max as constant inputs."""
        low = self._weight(f"min{self.count}", [])
        high = self._weight(f"max{self.count}", [])
        return self.node("Clip", [x, low, high])

    def gemm(self, x, features, out_features, name=None):
        weight = self._weight(f"fc{self.count}.weight", [out_features, features])
        bias = self._weight(f"fc{self.count}.bias", [out_features])
        return self.node("Gemm", [x, weight, bias], name=name, transB=1)

    def model(self, output, shape) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, "g", self.inputs, [
            helper.make_tensor_value_info(output, TensorProto.FLOAT, shape)],
            initializer=self.initializers)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def torchvision_mobilenet_v2() -> onnx.ModelProto:
    """MobileNetV2 as torch.onnx exports torchvision's model in eval mode: batch norms
    folded into conv biases, ReLU6 as Clip, residual Add, GlobalAveragePool, Flatten, Gemm;
    node names follow the module paths."""
    g = GraphBuilder(3, 224, 224, name="input")
    x = g.conv("input", 3, 32, stride=2, name="/features/features.0/features.0.0/Conv")
    x = g.clip(x)
    channels, index = 32, 1
    for t, c, n, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                       (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]:
        for i in range(n):
            stride, hidden, block_input = (s if i == 0 else 1), channels * t, x
            path, step = f"/features/features.{index}/conv", 0
            if t != 1:
                x = g.clip(g.conv(x, channels, hidden, kernel=1, pad=0,
                                  name=f"{path}/conv.0/conv.0.0/Conv"))
                step = 1
            x = g.clip(g.conv(x, hidden, hidden, stride=stride, group=hidden,
                              name=f"{path}/conv.{step}/conv.{step}.0/Conv"))
            x = g.conv(x, hidden, c, kernel=1, pad=0, name=f"{path}/conv.{step + 1}/Conv")
            if stride == 1 and channels == c:
                x = g.node("Add", [block_input, x], name=f"/features/features.{index}/Add")
            channels, index = c, index + 1
    x = g.clip(g.conv(x, 320, 1280, kernel=1, pad=0,
                      name="/features/features.18/features.18.0/Conv"))
    x = g.node("GlobalAveragePool", [x], name="/GlobalAveragePool")
    x = g.node("Flatten", [x], name="/Flatten", axis=1)
    x = g.gemm(x, 1280, 1000, name="/classifier/classifier.1/Gemm")
    return g.model(x, [1, 1000])


def small_network() -> onnx.ModelProto:
    """A stem, an inverted-residual block with its residual add, a head: seconds to optimize
    and report on."""
    g = GraphBuilder(3, 16, 16)
    stem = g.clip(g.conv("x", 3, 8, stride=2, name="stem"))
    x = g.clip(g.conv(stem, 8, 16, kernel=1, pad=0, name="expand"))
    x = g.clip(g.conv(x, 16, 16, group=16, name="dw"))
    x = g.conv(x, 16, 8, kernel=1, pad=0, name="project")
    x = g.node("Add", [stem, x], name="add")
    x = g.clip(g.conv(x, 8, 32, kernel=1, pad=0, name="head"))
    x = g.node("GlobalAveragePool", [x], name="gap")
    x = g.node("Flatten", [x], name="flatten")
    return g.model(g.gemm(x, 32, 10, name="fc"), [1, 10])
