"""A network: layers joined by the tensors they pass, as a networkx graph.

Nodes are layer names (attribute ``layer``); an edge ``a -> b`` with attribute ``tensor``
says that layer ``a``'s output is what ``b`` reads as that tensor (``"I"``; ``"R"`` for a
residual folded into ``b``, DESIGN 6a; ``"S"`` for the channel factors of a scale). A layer
with no in-edge for ``I`` reads the network input; layers whose output nobody reads produce
the network output.
"""

from __future__ import annotations

import networkx as nx

from .errors import PolyscanError
from .layer import Layer


class Network:
    def __init__(self, name: str, graph: nx.DiGraph):
        if not nx.is_directed_acyclic_graph(graph):
            raise PolyscanError(f"network {name!r} has a cycle")
        self.name = name
        self.graph = graph
        self.layers: list[Layer] = [graph.nodes[n]["layer"]
                                    for n in nx.lexicographical_topological_sort(
                                        graph, key=lambda n: graph.nodes[n]["index"])]

    def layer(self, name: str) -> Layer:
        if name not in self.graph:
            raise PolyscanError(f"network {self.name!r} has no layer {name!r}")
        return self.graph.nodes[name]["layer"]

    def __repr__(self) -> str:
        return f"<Network {self.name!r}: {len(self.layers)} layers>"


class NetworkBuilder:
    """Adds layers in order, wiring each to the layers whose outputs it reads."""

    def __init__(self, name: str):
        self.name = name
        self.graph = nx.DiGraph()

    def add(self, layer: Layer, input: Layer | None = None, residual: Layer | None = None,
            sources: dict[str, Layer] | None = None) -> Layer:
        """Add ``layer`` reading ``input``'s output as I (none: the network input), if given
        ``residual``'s output as R, and each ``sources[tensor]``'s output as that tensor (the
        S of a channel scale, say)."""
        if layer.name in self.graph:
            raise PolyscanError(f"network {self.name!r} already has a layer {layer.name!r}")
        if residual is not None:
            layer = layer.with_residual()
        wiring = {"I": input, "R": residual}
        for tensor, producer in (sources or {}).items():
            self._check_source(layer, tensor, wiring)
            wiring[tensor] = producer
        producers = [p.name for p in wiring.values() if p is not None]
        if len(set(producers)) < len(producers):  # a DiGraph keeps one edge per pair
            raise PolyscanError(f"layer {layer.name!r} reads two tensors from one layer")
        self.graph.add_node(layer.name, layer=layer, index=len(self.graph))
        for tensor, producer in wiring.items():
            if producer is not None:
                self.graph.add_edge(producer.name, layer.name, tensor=tensor)
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
        return Network(self.name, self.graph)
