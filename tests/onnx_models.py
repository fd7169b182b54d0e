"""ONNX graphs built with onnx.helper, the way exporters write them (weights as initializers
whose data may live in an external file, value_info often missing)."""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class GraphBuilder:
    """Appends nodes; tracks the current activation and its channel count. Weights are
    random small integers (as floats), so that ONNX's reference evaluator gives distinct,
    exact values to compare with."""

    def __init__(self, channels: int, height: int, width: int, name="x", shape=None):
        self.nodes, self.initializers = [], []
        self.inputs = [helper.make_tensor_value_info(name, TensorProto.FLOAT,
                                                     shape or [1, channels, height, width])]
        self.count = 0
        self.rng = np.random.default_rng(0)

    def _weight(self, name, shape):
        values = self.rng.integers(-2, 3, shape).astype(np.float32)
        self.initializers.append(numpy_helper.from_array(values, name))
        return name

    def constant(self, name, values):
        """An int64 initializer, e.g. a Reshape's target shape."""
        self.initializers.append(helper.make_tensor(name, TensorProto.INT64, [len(values)],
                                                    values))
        return name

    def constant_float(self, name, values):
        """A float initializer, e.g. a Resize's scales."""
        self.initializers.append(helper.make_tensor(name, TensorProto.FLOAT, [len(values)],
                                                    values))
        return name

    def node(self, op, inputs, name=None, outputs=1, **attributes):
        """Append a node; its output name (or names, with ``outputs`` > 1)."""
        self.count += 1
        names = [f"t{self.count}"] if outputs == 1 else \
            [f"t{self.count}_{i}" for i in range(outputs)]
        self.nodes.append(helper.make_node(op, inputs, names, name=name or f"{op}_{self.count}",
                                           **attributes))
        return names[0] if outputs == 1 else names

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

    def model(self, output, shape=None, opset=17) -> onnx.ModelProto:
        """The model; ``output`` is one output name or several (shapes are inferred)."""
        outputs = [output] if isinstance(output, str) else list(output)
        graph = helper.make_graph(self.nodes, "g", self.inputs, [
            helper.make_tensor_value_info(o, TensorProto.FLOAT, shape if len(outputs) == 1
                                          else None) for o in outputs],
            initializer=self.initializers)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def save(model, folder, name="m.onnx", external=False):
    """Write ``model`` into ``folder``; with ``external``, its weights go to a side file that
    is then deleted (only shapes are needed)."""
    path = folder / name
    if external:
        onnx.save_model(model, str(path), save_as_external_data=True,
                        all_tensors_to_one_file=True, location="weights.bin",
                        size_threshold=0)
        (folder / "weights.bin").unlink()
    else:
        onnx.save_model(model, str(path))
    return path


def evaluate(model: onnx.ModelProto, seed: int = 0) -> dict[str, np.ndarray]:
    """Every tensor of ``model`` (inputs, intermediates, outputs) from ONNX's reference
    evaluator, on a random integer-valued input."""
    from onnx.reference import ReferenceEvaluator

    inferred = onnx.shape_inference.infer_shapes(model)
    full = onnx.ModelProto()
    full.CopyFrom(inferred)
    known = {o.name for o in full.graph.output}
    for node in full.graph.node:
        for output in node.output:
            if output and output not in known:
                full.graph.output.append(helper.make_empty_tensor_value_info(output))
                known.add(output)
    rng = np.random.default_rng(seed)
    feeds = {}
    for info in full.graph.input:
        shape = [d.dim_value for d in info.type.tensor_type.shape.dim]
        feeds[info.name] = rng.integers(-3, 4, shape).astype(np.float32)
    names = [o.name for o in full.graph.output]
    results = ReferenceEvaluator(full).run(None, feeds)
    return {**feeds, **dict(zip(names, results))}


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
