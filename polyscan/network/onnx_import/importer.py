"""The walk over an ONNX graph: values, the network tensors behind them, and the layers.

Every ONNX tensor computed from the network input is a ``Value``: the elements of a network
tensor that its ``view`` picks. A layer's output is a new network tensor; data-movement
operators (``operators.py``) only make new views; element-wise work keeps the value. Layers
are collected with their bindings in the kernel's coordinates (``Pending``) and put into the
network tensors' coordinates at the end, once every Concat has placed its inputs and every
residual Add has been folded where it can be.
"""

from __future__ import annotations

from dataclasses import dataclass

import islpy as isl
import numpy as np
import onnx
from onnx import numpy_helper

from ...errors import OnnxImportError
from ...model.layer import Layer
from ...model.nest import TensorKey
from ..graph import Network
from . import views
from .views import Value


@dataclass(eq=False)
class Pending:
    """A layer in its kernel's coordinates, with what each tensor is bound to: a network
    tensor and the map from the kernel's elements to that tensor's elements."""

    layer: Layer
    bindings: dict[str, tuple[str, isl.Map]]
    fold: bool = False  # an Add: fold it as a residual into its I's producer if it can be


class Importer:
    def __init__(self, model: onnx.ModelProto, name: str, unknown: str):
        from .operators import OPERATORS  # the handlers use this module's Importer

        self.operators = OPERATORS
        self.graph = model.graph
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
                          1)
        self.name = name
        self.unknown = unknown
        self.shapes: dict[str, tuple[int, ...] | None] = {}
        for info in [*self.graph.input, *self.graph.value_info, *self.graph.output]:
            self.shapes[info.name] = _static(info)
        self.constants: dict[str, np.ndarray | None] = {}  # None: a constant of unknown value
        for tensor in self.graph.initializer:
            self.constants[tensor.name] = _array(tensor)
            self.shapes[tensor.name] = tuple(tensor.dims)
        self.values: dict[str, Value] = {}
        self.storages: dict[str, tuple[int, ...]] = {}  # network tensor -> shape
        self.aliases: dict[str, tuple[str, isl.Map]] = {}  # placed into another tensor
        self.pending: list[Pending] = []
        self.cut: list[str] = []  # network tensors read by an operator cut as a boundary
        self.unwritten: set[str] = set()  # network tensors no layer writes: the inputs
        self.names: set[str] = set()

    # --- the walk ---------------------------------------------------------------------

    def network(self) -> Network:
        for info in self.graph.input:
            if info.name not in self.constants:
                self._network_input(info.name)
        for index, node in enumerate(self.graph.node):
            self._visit(node, index)
        return self._finish()

    def _network_input(self, name: str):
        shape = self.shape(name)
        if shape is None:
            raise OnnxImportError(f"input {name!r} has no static shape")
        self.batch_one(name, shape, "the network input")
        self.storages[name] = shape[1:]
        self.unwritten.add(name)
        self.values[name] = Value(name, _drop_batch(shape), shape, names=[name])

    def _visit(self, node, index: int):
        name = self.layer_name(node.name or f"{node.op_type}_{index}")
        if node.op_type in ("Shape", "Size"):  # reads only a shape: a constant
            shape = self.shape(node.input[0])
            value = None if shape is None else np.array(
                shape if node.op_type == "Shape" else [int(np.prod(shape))], dtype=np.int64)
            if value is not None and node.op_type == "Shape":
                start = _attribute(node, "start", 0)
                end = _attribute(node, "end", None)
                value = value[start:end]
            self.constants[node.output[0]] = value if node.op_type == "Shape" or value is None \
                else value.reshape(())
            return
        if not any(x in self.values for x in node.input if x):
            self._fold_constant(node)
            return
        handler = self.operators.get(node.op_type)
        if handler is not None:
            handler(self, node, name)
        elif self.unknown == "boundary":
            self._boundary(node)
        else:
            raise OnnxImportError(
                f"unsupported operator {node.op_type} at node {name!r} (docs/networks.md "
                f"lists what polyscan models; unknown='boundary' / --unknown boundary cuts "
                f"the network there)")

    def _fold_constant(self, node):
        """A node computing from constants only: its outputs are constants, with their value
        when every input's is known (shape arithmetic: a Pad's or a Slice's amounts)."""
        if node.op_type == "Constant":
            attribute = node.attribute[0] if node.attribute else None
            value = None
            if attribute is not None and attribute.type == onnx.AttributeProto.TENSOR:
                value = _array(attribute.t)
                self.shapes[node.output[0]] = tuple(attribute.t.dims)  # known, data or not
            elif attribute is not None:
                value = np.array(onnx.helper.get_attribute_value(attribute))
            self.constants[node.output[0]] = value
            if value is not None:
                self.shapes[node.output[0]] = value.shape
            return
        inputs = [self.constants.get(x) for x in node.input if x]
        values = None
        if all(v is not None for v in inputs):
            values = _evaluate(node, [x for x in node.input if x], inputs, self.opset)
        for i, output in enumerate(node.output):
            self.constants[output] = None if values is None else values[i]

    def _boundary(self, node):
        """An operator cut as a layer boundary of unknown cost: what it reads leaves the
        network, what it makes enters it."""
        for x in node.input:
            if x in self.values:
                self.cut.append(self.values[x].storage)
        for output in node.output:
            shape = self.shape(output)
            if shape is None:
                raise OnnxImportError(f"no static shape for {output!r}, the output of "
                                      f"{node.op_type} node {node.name!r} cut as a boundary")
            self.batch_one(output, shape, f"{node.op_type} node {node.name!r}")
            self.storages[output] = shape[1:]
            self.unwritten.add(output)
            self.values[output] = Value(output, _drop_batch(shape), shape, names=[output])

    # --- what the operator handlers use ------------------------------------------------

    def shape(self, name: str) -> tuple[int, ...] | None:
        return self.shapes.get(name)

    def value(self, name: str, node, where: str) -> Value:
        if name not in self.values:
            raise OnnxImportError(f"{node.op_type} at node {where!r}: its {name!r} is not "
                                  f"computed from the network input")
        return self.values[name]

    def output_shape(self, node, where: str, index: int = 0,
                     computed: tuple[int, ...] | None = None) -> tuple[int, ...]:
        """The shape of the node's output: ONNX's, which must agree with ``computed`` (the
        shape polyscan computes for it) when both are known; ``computed`` where ONNX's shape
        inference gave none (shapes that follow from constants it does not evaluate)."""
        name = node.output[index]
        shape = self.shape(name)
        if shape is not None and computed is not None and tuple(computed) != shape:
            raise OnnxImportError(f"{node.op_type} at node {where!r}: polyscan computes the "
                                  f"shape {list(computed)} for {name!r}, ONNX says "
                                  f"{list(shape)}")
        if shape is None:
            shape = None if computed is None else tuple(int(n) for n in computed)
            self.shapes[name] = shape
        if shape is None:
            raise OnnxImportError(f"{node.op_type} at node {where!r}: no static shape for its "
                                  f"output {name!r} (ONNX shape inference could not infer "
                                  f"it; symbolic dims?)")
        return shape

    def batch_one(self, name: str, shape: tuple[int, ...], where: str):
        if len(shape) == 0 or shape[0] != 1:
            hint = ", set it with --input-shape" if name in self.storages or \
                where == "the network input" else ""
            raise OnnxImportError(f"{where}: {name!r} has shape {list(shape)}; polyscan models "
                                  f"batch 1 (a leading dim of 1){hint}")

    def constant(self, name: str) -> np.ndarray | None:
        return self.constants.get(name)

    def is_constant(self, name: str) -> bool:
        return name in self.constants

    def layer_name(self, base: str) -> str:
        name, count = base, 1
        while name in self.names:
            count += 1
            name = f"{base}_{count}"
        self.names.add(name)
        return name

    def resolve(self, storage: str, view: isl.Map) -> tuple[str, isl.Map]:
        """Where the elements of ``storage`` picked by ``view`` finally live."""
        while storage in self.aliases:
            storage, placement = self.aliases[storage]
            view = view.apply_range(placement)
        return storage, view

    def final_name(self, storage: str) -> str:
        while storage in self.aliases:
            storage = self.aliases[storage][0]
        return storage

    def same(self, a: Value, b: Value) -> bool:
        """Whether two values are the same elements (an element-wise function of one
        tensor, like ``x * sigmoid(x)``)."""
        if a is b:
            return True
        if a.shape != b.shape or a.pad != b.pad:
            return False
        (sa, va), (sb, vb) = self.resolve(a.storage, a.view), self.resolve(b.storage, b.view)
        return sa == sb and va.is_equal(vb)

    def keep(self, output: str, value: Value):
        """``output`` is the same value (element-wise work moves no data)."""
        value.names.append(output)
        self.values[output] = value

    def alias_value(self, output: str, value: Value, view: isl.Map, shape: tuple[int, ...]):
        """``output`` picks elements of ``value``: ``view`` maps its indices to the value's."""
        self.values[output] = Value(value.storage, view.apply_range(value.view), shape,
                                    names=[output])

    def add_layer(self, layer: Layer, reads: dict[str, tuple[Value, tuple]], output: str,
                  layout: tuple, fold: bool = False) -> Layer:
        """Collect ``layer``, reading ``reads[tensor] = (value, layout)`` and writing a new
        network tensor named after the ONNX tensor ``output``, whose axes the layer's output
        sits on as ``layout`` says (``views.placed``)."""
        bindings = {}
        for tensor, (value, tensor_layout) in reads.items():
            if value.pad != (0, 0, 0, 0):
                raise OnnxImportError(f"internal error: {layer.name!r} reads a padded value")
            kernel = layer.tensors[tensor].shape
            bindings[tensor] = (value.storage, self.placed(layer, tensor, kernel, value.shape,
                                                           tensor_layout).apply_range(value.view))
        out = layer.output
        shape = self.shape(output)
        if shape is None:  # ONNX could not infer it: the kernel's output says what it is
            shape = self.shapes[output] = tuple(1 if d is None else out.shape[d]
                                                for d in layout)
        placement = self.placed(layer, out.name, out.shape, shape, layout)
        self.storages[output] = out.shape
        bindings[out.name] = (output, views.identity(out.shape))
        self.values[output] = Value(output, placement.reverse(), shape, names=[output])
        self.pending.append(Pending(layer, bindings, fold))
        return layer

    def write_into(self, layer: Layer, reads: dict[str, tuple[Value, tuple]],
                   storage: str, placement: isl.Map):
        """Collect ``layer`` writing into an existing network tensor (a Concat's copy)."""
        bindings = {tensor: (value.storage, self.placed(layer, tensor, layer.tensors[tensor].shape,
                                                        value.shape, tensor_layout)
                             .apply_range(value.view))
                    for tensor, (value, tensor_layout) in reads.items()}
        bindings[layer.output.name] = (storage, placement)
        self.pending.append(Pending(layer, bindings))

    def placed(self, layer: Layer, tensor: str, kernel_shape, value_shape, layout) -> isl.Map:
        if value_shape is None:
            raise OnnxImportError(f"layer {layer.name!r}: no static shape for its {tensor}")
        try:
            return views.placed(tuple(kernel_shape), tuple(value_shape), tuple(layout))
        except ValueError:
            raise OnnxImportError(f"layer {layer.name!r} ({layer.kind}): its {tensor} has "
                                  f"shape {tuple(kernel_shape)}, which does not fit the ONNX "
                                  f"tensor of shape {list(value_shape)}") from None

    def writer(self, storage: str) -> Pending | None:
        """The collected layer writing the whole of ``storage`` (None: none, or several)."""
        found = [p for p in self.pending
                 if self.final_name(p.bindings[p.layer.output.name][0]) == storage]
        return found[0] if len(found) == 1 else None

    # --- the end ------------------------------------------------------------------------

    def _finish(self) -> Network:
        if not self.pending:
            raise OnnxImportError(f"{self.name}: the model has no layer polyscan can model")
        outputs = [self.values[o.name].storage for o in self.graph.output
                   if o.name in self.values] + self.cut
        for pending in [p for p in self.pending if p.fold]:
            self._fold(pending, outputs)
        layers, bindings = [], {}
        for pending in self.pending:
            views_of, layer = {}, pending.layer
            for tensor, (storage, view) in pending.bindings.items():
                storage, view = self.resolve(storage, view)
                bindings[TensorKey(layer.name, tensor)] = storage
                shape = self.storages[storage]
                if not views.is_identity(view, shape) or layer.tensors[tensor].shape != shape:
                    views_of[tensor] = (shape, view)
            layers.append(layer.with_views(views_of) if views_of else layer)
        outputs = list(dict.fromkeys(self.final_name(s) for s in outputs))
        written = {bindings[TensorKey(x.name, x.output.name)] for x in layers}
        return Network(self.name, layers, bindings, [s for s in outputs if s in written])

    def _fold(self, add: Pending, outputs: list[str]):
        """Fold an Add into the layer producing its ``I`` (which then reads the other operand
        as its residual ``R``) when that layer writes the whole tensor, nothing else reads
        it, it has no residual yet, and the network does not deliver it (DESIGN 6a)."""
        storage, view = self.resolve(*add.bindings["I"])
        producer = self.writer(storage)
        if producer is None or "R" in producer.layer.tensors or storage in \
                [self.final_name(s) for s in outputs] or \
                not views.is_identity(view, self.storages[storage]) or \
                self.final_name(add.bindings["R"][0]) == storage:
            return
        readers = [(p, t) for p in self.pending for t, (s, _) in p.bindings.items()
                   if p.layer.tensors[t].role != "output" and self.final_name(s) == storage]
        if readers != [(add, "I")]:
            return
        written_storage, written = self.resolve(*producer.bindings[producer.layer.output.name])
        if not views.is_identity(written, self.storages[storage]):
            return
        residual_storage, residual = add.bindings["R"]
        back = view.reverse()  # the tensor's elements -> the add's kernel elements
        producer.layer = producer.layer.with_residual()
        producer.bindings["R"] = (residual_storage, written.apply_range(back)
                                  .apply_range(residual))
        out_storage, out = add.bindings["O"]
        self.aliases[storage] = (out_storage, back.apply_range(out))
        self.pending.remove(add)


def _static(info) -> tuple[int, ...] | None:
    """A value's shape when every dim is a known positive number."""
    if not info.type.HasField("tensor_type") or not info.type.tensor_type.HasField("shape"):
        return None
    dims = info.type.tensor_type.shape.dim
    if not all(d.HasField("dim_value") and d.dim_value > 0 for d in dims):
        return None
    return tuple(d.dim_value for d in dims)


def _drop_batch(shape: tuple[int, ...]) -> isl.Map:
    """Value indices (batch first, always 0) -> the network tensor's."""
    return views.placed(shape[1:], shape, (None, *range(len(shape) - 1))).reverse()


def _array(tensor) -> np.ndarray | None:
    """An initializer's values; None when they live in an absent external file."""
    if tensor.data_location == onnx.TensorProto.EXTERNAL:
        return None
    try:
        return numpy_helper.to_array(tensor)
    except Exception:
        return None


def _evaluate(node, names: list[str], inputs: list[np.ndarray],
              opset: int) -> list[np.ndarray] | None:
    """Run one constant node with ONNX's reference evaluator (shape arithmetic)."""
    from onnx.reference import ReferenceEvaluator

    try:
        feeds = dict(zip(names, inputs))
        graph = onnx.helper.make_graph(
            [node], "constant",
            [onnx.helper.make_tensor_value_info(n, onnx.helper.np_dtype_to_tensor_dtype(
                v.dtype), v.shape) for n, v in feeds.items()],
            [onnx.helper.make_empty_tensor_value_info(o) for o in node.output if o])
        model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("",
                                                                                  opset)])
        results = ReferenceEvaluator(model).run(None, feeds)
        return [np.asarray(r) for r in results]
    except Exception:
        return None


def _attribute(node, key, default=None):
    for attribute in node.attribute:
        if attribute.name == key:
            return onnx.helper.get_attribute_value(attribute)
    return default

