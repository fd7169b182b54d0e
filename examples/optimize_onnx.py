"""From an ONNX file to an optimized schedule for every layer.

Builds a small CNN with ``onnx.helper`` (conv 3->16 stride 2, depthwise 3x3, pointwise 16->24,
global average pool, a 24->10 classifier; weights as initializers, as exporters write them),
checks and saves it to a temporary folder, imports it with ``ps.load_onnx`` and plans it under
a 4K-entry buffer with ``ps.optimize_network`` (layer fusion included).

Run: python examples/optimize_onnx.py
"""

import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from rich.console import Console

import polyscan as ps

rng = np.random.default_rng(0)
weights = []


def weight(name, *shape):
    weights.append(numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name))
    return name


def conv(name, x, w, b, kernel, stride=1, pad=0, group=1):
    return helper.make_node("Conv", [x, w, b], [name], name=name, kernel_shape=[kernel] * 2,
                            strides=[stride] * 2, pads=[pad] * 4, group=group)


nodes = [
    conv("stem", "input", weight("stem.w", 16, 3, 3, 3), weight("stem.b", 16), 3, 2, 1),
    helper.make_node("Relu", ["stem"], ["stem_relu"], name="stem_relu"),
    conv("dw", "stem_relu", weight("dw.w", 16, 1, 3, 3), weight("dw.b", 16), 3, 1, 1, 16),
    helper.make_node("Relu", ["dw"], ["dw_relu"], name="dw_relu"),
    conv("pw", "dw_relu", weight("pw.w", 24, 16, 1, 1), weight("pw.b", 24), 1),
    helper.make_node("GlobalAveragePool", ["pw"], ["pool"], name="pool"),
    helper.make_node("Flatten", ["pool"], ["flat"], name="flatten", axis=1),
    helper.make_node("Gemm", ["flat", weight("fc.w", 10, 24), weight("fc.b", 10)], ["logits"],
                     name="fc", transB=1),
]
graph = helper.make_graph(
    nodes, "tiny_mobilenet",
    [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 32, 32])],
    [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])], initializer=weights)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
onnx.checker.check_model(model, full_check=True)  # full_check: with shape inference

with tempfile.TemporaryDirectory() as folder:
    path = Path(folder) / "tiny_mobilenet.onnx"
    onnx.save(model, path)
    print(f"wrote {path.name}: {path.stat().st_size:,} bytes, {len(model.graph.node)} nodes")
    net = ps.load_onnx(path)

print(f"{net}:")
for layer in net.layers:
    print(f"  {layer.name:8} {layer.kind:16} {layer}")
plan = ps.optimize_network(net, 4096, progress=False)
print(plan.summary())
Console(width=150).print(ps.plan_table(plan))
