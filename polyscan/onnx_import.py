"""``ps.load_onnx``: an ONNX model as a polyscan network (DESIGN section 6a).

Only shapes are needed: weights whose external data files are absent are fine, and missing
``value_info`` is filled by ONNX shape inference. Batch is 1.

- ``Conv``: group 1 -> conv2d (pointwise when 1x1, stride 1, unpadded), group = channels ->
  depthwise, other groups -> grouped_conv2d; pads, strides, dilations, ``auto_pad``.
- ``Gemm``/``MatMul`` -> fully_connected; ``(Global)AveragePool``/``(Global)MaxPool`` -> pool.
- ``Add`` of two activations: folded into the layer producing the later operand, which then
  also reads the other operand as ``R``. ``Mul`` of an activation by a per-channel activation
  (squeeze-and-excitation) -> scale. An ``Add``/``Mul`` with a constant moves no data.
- Activations, batch norm and shape operators move no data: their output is their input.
- Any other operator: an error naming it and its node, unless ``unknown="boundary"``: then
  its outputs are treated as network inputs and its inputs as network outputs.
"""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import onnx
from onnx import shape_inference

from .constructors import (
    conv2d,
    depthwise,
    fully_connected,
    grouped_conv2d,
    pointwise,
    pool,
    scale,
)
from .errors import PolyscanError
from .layer import Layer
from .network import Network

LAYERS = {
    "Conv": "_conv", "Gemm": "_gemm", "MatMul": "_gemm", "GlobalAveragePool": "_pool",
    "GlobalMaxPool": "_pool", "AveragePool": "_pool", "MaxPool": "_pool", "Add": "_add",
    "Mul": "_mul",
}
# elementwise or shape-only on activations: the output is the input, no data moves
DATA_FREE = {
    "Relu", "Clip", "BatchNormalization", "Flatten", "Reshape", "Identity", "Dropout",
    "Sigmoid", "HardSigmoid", "HardSwish", "LeakyRelu", "Squeeze", "Unsqueeze", "Cast",
}
# computing constants (a Reshape's target shape): fine while no activation flows in
CONSTANT = {"Constant", "Shape", "Gather", "Concat", "Slice", "ConstantOfShape", "Range"}


class OnnxImportError(PolyscanError):
    """The file is not a usable ONNX model, or holds an operator polyscan cannot model."""


def load_onnx(path: str | Path, unknown: str = "error") -> Network:
    """The network of an ONNX model; ``unknown="boundary"`` cuts at unsupported operators."""
    if unknown not in ("error", "boundary"):
        raise OnnxImportError(f"unknown must be 'error' or 'boundary', got {unknown!r}")
    path = Path(path)
    try:
        model = onnx.load(str(path), load_external_data=False)
    except FileNotFoundError:
        raise OnnxImportError(f"no such file: {path}") from None
    except Exception as error:  # onnx raises DecodeError, ValueError, ... on a bad file
        raise OnnxImportError(f"{path} is not an ONNX model ({type(error).__name__})") \
            from None
    try:
        model = shape_inference.infer_shapes(model)
    except Exception as error:
        raise OnnxImportError(f"{path}: ONNX shape inference failed: {error}") from None
    return _Importer(model.graph, path.stem, unknown).network()


class _Importer:
    def __init__(self, graph, name: str, unknown: str):
        self.graph = graph
        self.name = name
        self.unknown = unknown
        self.shapes = {}
        for info in [*graph.input, *graph.value_info, *graph.output]:
            dims = info.type.tensor_type.shape.dim
            self.shapes[info.name] = tuple(d.dim_value if d.HasField("dim_value") else 1
                                           for d in dims)
        self.constants = {t.name: tuple(t.dims) for t in graph.initializer}
        self.shapes.update(self.constants)
        self.producer: dict[str, str | None] = {}  # activation -> layer producing it
        self.layers: dict[str, Layer] = {}
        self.edges: list[tuple[str, str, str]] = []

    def network(self) -> Network:
        for index, node in enumerate(self.graph.node):
            name = self._node_name(node, index)
            activations = [x for x in node.input if x and x not in self.constants]
            if node.op_type in LAYERS:
                getattr(self, LAYERS[node.op_type])(node, name)
            elif node.op_type in DATA_FREE:
                self._pass_through(node)
            elif node.op_type in CONSTANT and (node.op_type == "Shape" or not activations):
                self.constants.update({output: () for output in node.output})
            elif self.unknown == "boundary":
                for output in node.output:
                    self.producer[output] = None
            else:
                raise OnnxImportError(f"unsupported operator {node.op_type} at node {name!r} "
                                      f"(polyscan models Conv, Gemm, MatMul, pools, Add and "
                                      f"Mul; use unknown='boundary' to cut there)")
        if not self.layers:
            raise OnnxImportError(f"{self.name}: the model has no layer polyscan can model")
        graph = nx.DiGraph()
        for index, (name, layer) in enumerate(self.layers.items()):
            graph.add_node(name, layer=layer, index=index)
        for producer, consumer, tensor in self.edges:
            graph.add_edge(producer, consumer, tensor=tensor)
        return Network(self.name, graph)

    # --- operators ----------------------------------------------------------------------

    def _conv(self, node, name):
        data, weight = node.input[0], node.input[1]
        _, channels, height, width = self._shape(data, 4, node, name)
        out_channels, per_group, kh, kw = self._shape(weight, 4, node, name)
        group = _attribute(node, "group", 1)
        stride = tuple(_attribute(node, "strides", [1, 1]))
        dilation = tuple(_attribute(node, "dilations", [1, 1]))
        pads = self._pads(node, (height, width), (kh, kw), stride, dilation)
        window = dict(kernel=(kh, kw), stride=stride, padding=pads, dilation=dilation)
        if group == 1 and (kh, kw) == (1, 1) and stride == (1, 1) and not any(pads):
            layer = pointwise(channels, out_channels, height, width, name=name)
        elif group == 1:
            layer = conv2d(channels, out_channels, height, width, name=name, **window)
        elif group == channels == out_channels:
            layer = depthwise(channels, height, width, name=name, **window)
        else:
            layer = grouped_conv2d(channels, out_channels, height, width, group, name=name,
                                   **window)
        self._place(layer, node.output[0], {"I": data})

    def _gemm(self, node, name):
        data, weight = node.input[0], node.input[1]
        features = self._shape(data, 2, node, name)[-1]
        w = self._shape(weight, 2, node, name)
        transposed = node.op_type == "Gemm" and _attribute(node, "transB", 0)
        out_features = w[0] if transposed else w[1]
        if node.op_type == "Gemm" and _attribute(node, "transA", 0):
            raise OnnxImportError(f"Gemm with transA at node {name!r} is not a batch-1 layer")
        self._place(fully_connected(features, out_features, name=name), node.output[0],
                    {"I": data})

    def _pool(self, node, name):
        data = node.input[0]
        _, channels, height, width = self._shape(data, 4, node, name)
        if node.op_type.startswith("Global"):
            window = dict(kernel=(height, width), stride=1, padding=0)
        else:
            kernel = tuple(_attribute(node, "kernel_shape"))
            stride = tuple(_attribute(node, "strides", [1, 1]))
            window = dict(kernel=kernel, stride=stride,
                          padding=self._pads(node, (height, width), kernel, stride, (1, 1)))
        self._place(pool(channels, height, width, name=name, **window), node.output[0],
                    {"I": data})

    def _place(self, layer: Layer, output: str, inputs: dict[str, str]):
        self.layers[layer.name] = layer
        for tensor, activation in inputs.items():
            producer = self.producer.get(activation)
            if producer is not None:
                self.edges.append((producer, layer.name, tensor))
        self.producer[output] = layer.name

    def _add(self, node, name):
        """``Add``: fold into the producer of the later operand, which reads the other."""
        operands = [x for x in node.input if x not in self.constants]
        if len(operands) < 2:
            return self._pass_through(node)
        first, second = (self.producer.get(x) for x in operands)
        order = list(self.layers)
        later, other = (second, operands[0]) if (second is not None and (
            first is None or order.index(second) > order.index(first))) else (first,
                                                                            operands[1])
        if later is None:
            raise OnnxImportError(f"Add at node {name!r} adds two network inputs: nothing "
                                  f"computes either, so it cannot be folded into a layer")
        layer = self.layers[later]
        if "R" in layer.tensors:
            raise OnnxImportError(f"Add at node {name!r} would give layer {later!r} a second "
                                  f"residual")
        self.layers[later] = layer.with_residual()
        if self.producer.get(other) is not None:
            self.edges.append((self.producer[other], later, "R"))
        self.producer[node.output[0]] = later

    def _mul(self, node, name):
        """``Mul`` of an activation by a per-channel activation: a scale layer (the
        excitation of squeeze-and-excitation); by a constant: no data moved."""
        operands = [x for x in node.input if x not in self.constants]
        if len(operands) < 2:
            return self._pass_through(node)
        shapes = [self.shapes.get(x) for x in operands]
        full = max(range(2), key=lambda i: _size(shapes[i]))
        data, factor = operands[full], operands[1 - full]
        _, channels, height, width = self._shape(data, 4, node, name)
        if _size(shapes[1 - full]) != channels:
            raise OnnxImportError(f"Mul at node {name!r} is not a per-channel scale "
                                  f"({shapes[full]} by {shapes[1 - full]})")
        layer = scale(channels, height, width, name=name)
        self._place(layer, node.output[0], {"I": data, "S": factor})

    def _pass_through(self, node):
        sources = [x for x in node.input if x and x not in self.constants]
        producer = self.producer.get(sources[0]) if sources else None
        shape = self.shapes.get(sources[0]) if sources else None
        if shape and node.op_type == "Flatten":  # shape inference may lack the data
            shape = (shape[0], _size(shape[1:]))
        for output in node.output:
            self.producer[output] = producer
            if shape and output not in self.shapes and node.op_type != "Reshape":
                self.shapes[output] = shape

    # --- helpers ------------------------------------------------------------------------

    def _shape(self, tensor: str, rank: int, node, name) -> tuple[int, ...]:
        shape = self.shapes.get(tensor)
        if shape is None:
            raise OnnxImportError(f"no shape for {tensor!r} at node {name!r} (ONNX shape "
                                  f"inference could not infer it)")
        if len(shape) != rank:
            raise OnnxImportError(f"{node.op_type} at node {name!r}: {tensor!r} has shape "
                                  f"{shape}, expected rank {rank}")
        if tensor not in self.constants and shape[0] != 1:
            raise OnnxImportError(f"{node.op_type} at node {name!r}: batch {shape[0]}; "
                                  f"polyscan models batch 1")
        return shape

    def _pads(self, node, size, kernel, stride, dilation) -> tuple[int, int, int, int]:
        """(top, left, bottom, right) from ``pads`` or ``auto_pad``."""
        auto = _attribute(node, "auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        if auto in ("NOTSET", "VALID"):
            pads = _attribute(node, "pads", [0, 0, 0, 0]) if auto == "NOTSET" else [0] * 4
            return tuple(int(p) for p in pads)
        begin, end = [], []
        for n, k, s, d in zip(size, kernel, stride, dilation):
            total = max(0, (-(-n // s) - 1) * s + (k - 1) * d + 1 - n)
            small, large = total // 2, total - total // 2
            begin.append(small if auto == "SAME_UPPER" else large)
            end.append(large if auto == "SAME_UPPER" else small)
        return begin[0], begin[1], end[0], end[1]

    def _node_name(self, node, index: int) -> str:
        name = node.name or f"{node.op_type}_{index}"
        base, count = name, 1
        while name in self.layers:
            count += 1
            name = f"{base}_{count}"
        return name


def _attribute(node, key, default=None):
    for attribute in node.attribute:
        if attribute.name == key:
            return onnx.helper.get_attribute_value(attribute)
    return default


def _size(shape) -> int:
    size = 1
    for n in shape or ():
        size *= n
    return size
