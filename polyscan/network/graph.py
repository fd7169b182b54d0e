"""A network: layers and the DRAM tensors they read and write.

Every tensor of every layer is *bound* to a network tensor (``bindings``, keyed by
``TensorKey(layer, tensor)``). A network tensor is written by the layers whose output is bound
to it (none: a network input or a weight; several: the channel slices of a Concat, DESIGN
6a) and read by the layers whose inputs are bound to it. Layers index their tensors in the
network tensor's own coordinates (an imported layer reading a slice or a shuffle of a tensor
has that offset or permutation in its access map), so readers and writers of one network
tensor agree element by element; a reader may also see it through a row-major reshape of the
same size (a flatten before a fully connected layer).

``graph`` (networkx) has an edge ``a -> b`` when ``b`` reads a network tensor that ``a``
writes; its attribute ``tensors`` names which of ``b``'s tensors. ``outputs`` are the network
tensors the network delivers (by default: written, and read by no layer).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import networkx as nx

from ..errors import PolyscanError
from ..model.layer import Layer
from ..model.nest import TensorKey


@dataclass(frozen=True)
class NetworkTensor:
    """A tensor in DRAM: its name, its shape, and who writes and reads it."""

    name: str
    shape: tuple[int, ...]
    writers: tuple[str, ...]  # layer names
    readers: tuple[TensorKey, ...]  # (layer, tensor) reading it
    weight: bool  # read only as a weight

    @property
    def size(self) -> int:
        return math.prod(self.shape)


class Network:
    """``Network(name, layers, bindings, outputs)``; ``layers`` in an execution order."""

    def __init__(self, name: str, layers: Sequence[Layer],
                 bindings: Mapping[TensorKey, str] | None = None,
                 outputs: Iterable[str] | None = None):
        self.name = name
        names = [layer.name for layer in layers]
        if len(set(names)) != len(names):
            twice = next(n for n in names if names.count(n) > 1)
            raise PolyscanError(f"network {name!r} has two layers named {twice!r}")
        self._layers = {layer.name: layer for layer in layers}
        self.bindings = {TensorKey(layer.name, t): (bindings or {}).get(
            TensorKey(layer.name, t), TensorKey(layer.name, t))
            for layer in layers for t in layer.tensors}
        self.tensors = self._tensors(layers)
        self.outputs = tuple(outputs) if outputs is not None else tuple(
            t.name for t in self.tensors.values() if t.writers and not t.readers)
        for output in self.outputs:
            if output not in self.tensors or not self.tensors[output].writers:
                raise PolyscanError(f"network {name!r}: output {output!r} is no tensor a "
                                    f"layer writes")
        self._sources = {reader: self._read_from(tensor, reader)
                         for tensor in self.tensors.values() for reader in tensor.readers}
        self.graph = nx.DiGraph()
        for index, layer in enumerate(layers):
            self.graph.add_node(layer.name, layer=layer, index=index)
        for reader, writers in self._sources.items():
            for writer in writers:
                if self.graph.has_edge(writer, reader.layer):
                    self.graph.edges[writer, reader.layer]["tensors"] += (reader.tensor,)
                else:
                    self.graph.add_edge(writer, reader.layer, tensors=(reader.tensor,))
        if not nx.is_directed_acyclic_graph(self.graph):
            raise PolyscanError(f"network {name!r} has a cycle")
        self.layers: list[Layer] = [self.graph.nodes[n]["layer"]
                                    for n in nx.lexicographical_topological_sort(
                                        self.graph, key=lambda n: self.graph.nodes[n]["index"])]

    def _tensors(self, layers: Sequence[Layer]) -> dict[str, NetworkTensor]:
        """The network tensors with their writers and readers; the shapes they are seen
        with must agree (or be row-major reshapes of one size)."""
        writers: dict[str, list[str]] = {}
        readers: dict[str, list[TensorKey]] = {}
        shapes: dict[str, tuple[int, ...]] = {}
        weight: dict[str, bool] = {}
        for layer in layers:
            for tensor in layer.tensors.values():
                key = TensorKey(layer.name, tensor.name)
                name = self.bindings[key]
                if tensor.role == "output":
                    writers.setdefault(name, []).append(layer.name)
                    shapes[name] = tensor.shape
                else:
                    readers.setdefault(name, []).append(key)
                    shapes.setdefault(name, tensor.shape)
                weight[name] = weight.get(name, True) and tensor.role == "weight"
                if math.prod(tensor.shape) != math.prod(shapes[name]):
                    raise PolyscanError(f"network {self.name!r}: {key} has shape "
                                        f"{tensor.shape}, but tensor {name!r} has "
                                        f"{shapes[name]}")
        return {name: NetworkTensor(name, shapes[name], tuple(writers.get(name, ())),
                                    tuple(readers.get(name, ())), weight[name])
                for name in shapes}

    def _read_from(self, tensor: NetworkTensor, reader: TensorKey) -> tuple[str, ...]:
        """The writers of ``tensor`` whose elements ``reader`` reads: all of them, unless
        they write slices of it (a Concat) and the reader reads only some (a DenseNet
        layer reads the features of the layers before it, not the ones after)."""
        if len(tensor.writers) < 2:
            return tensor.writers
        read = _touched(self._layers[reader.layer], reader.tensor)
        return tuple(w for w in tensor.writers if not read.intersect(
            _touched(self._layers[w], self._layers[w].output.name)).is_empty())

    def sources(self, layer: str, tensor: str) -> tuple[str, ...]:
        """The layers whose outputs layer ``layer`` reads as ``tensor`` (none: it reads a
        network input or a weight)."""
        return self._sources.get(TensorKey(layer, tensor), ())

    def layer(self, name: str) -> Layer:
        if name not in self._layers:
            raise PolyscanError(f"network {self.name!r} has no layer {name!r}")
        return self._layers[name]

    def tensor_of(self, layer: str, tensor: str) -> NetworkTensor:
        """The network tensor that layer ``layer``'s tensor ``tensor`` is bound to."""
        return self.tensors[self.bindings[TensorKey(layer, tensor)]]

    @property
    def inputs(self) -> list[NetworkTensor]:
        """Tensors that no layer writes and that are not weights: the network's inputs."""
        return [t for t in self.tensors.values() if not t.writers and not t.weight]

    def floor(self) -> int:
        """Weights + network inputs + network outputs, in entries (DESIGN section 5): every
        plan reads and writes at least these once."""
        return sum(t.size for t in self.tensors.values() if t.weight) + \
            sum(t.size for t in self.inputs) + sum(self.tensors[n].size for n in self.outputs)

    def __repr__(self) -> str:
        return f"<Network {self.name!r}: {len(self.layers)} layers>"


def _touched(layer: Layer, tensor: str):
    """The elements of its tensor ``tensor`` that ``layer`` reads or writes."""
    t = layer.tensors[tensor]
    return t.access.intersect_domain(layer.domain).range().intersect(t.space) \
        .reset_tuple_id()


class NetworkBuilder:
    """Adds layers in order, wiring each to the layers whose outputs it reads."""

    def __init__(self, name: str):
        self.name = name
        self.layers: list[Layer] = []
        self.bindings: dict[TensorKey, str] = {}

    def add(self, layer: Layer, input: Layer | None = None, residual: Layer | None = None,
            sources: dict[str, Layer] | None = None) -> Layer:
        """Add ``layer`` reading ``input``'s output as I (none: the network input), if given
        ``residual``'s output as R, and each ``sources[tensor]``'s output as that tensor (the
        S of a channel scale, say)."""
        if any(x.name == layer.name for x in self.layers):
            raise PolyscanError(f"network {self.name!r} already has a layer {layer.name!r}")
        if residual is not None:
            layer = layer.with_residual()
        wiring = {"I": input, "R": residual}
        for tensor, producer in (sources or {}).items():
            self._check_source(layer, tensor, wiring)
            wiring[tensor] = producer
        for tensor, producer in wiring.items():
            if producer is not None:
                self.bindings[TensorKey(layer.name, tensor)] = \
                    TensorKey(producer.name, producer.output.name)
        self.layers.append(layer)
        return layer

    @staticmethod
    def _check_source(layer: Layer, tensor: str, wiring: dict[str, Layer | None]):
        """A source must feed one of the layer's inputs, and one not wired already."""
        inputs = [t.name for t in layer.tensors.values() if t.read_only]
        if tensor not in inputs:
            raise PolyscanError(f"layer {layer.name!r} reads no tensor {tensor!r} "
                                f"(it reads {', '.join(inputs)})")
        if wiring.get(tensor) is not None:
            raise PolyscanError(f"layer {layer.name!r} is given two producers of {tensor!r}")

    def build(self) -> Network:
        return Network(self.name, self.layers, self.bindings)
