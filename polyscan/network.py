"""A network: layers joined by the tensors they pass, as a networkx graph.

Nodes are layer names (attribute ``layer``); an edge ``a -> b`` with attribute ``tensor``
says that layer ``a``'s output is what ``b`` reads as that tensor (``"I"``, or ``"R"`` for a
residual folded into ``b``, DESIGN 6a). A layer with no in-edge for ``I`` reads the network
input; layers whose output nobody reads produce the network output.
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

    def add(self, layer: Layer, input: Layer | None = None, residual: Layer | None = None) -> Layer:
        """Add ``layer`` reading ``input``'s output as I (none: the network input) and,
        if given, ``residual``'s output as R."""
        if layer.name in self.graph:
            raise PolyscanError(f"network {self.name!r} already has a layer {layer.name!r}")
        if residual is not None:
            layer = layer.with_residual()
        self.graph.add_node(layer.name, layer=layer, index=len(self.graph))
        for source, tensor in ((input, "I"), (residual, "R")):
            if source is not None:
                self.graph.add_edge(source.name, layer.name, tensor=tensor)
        return layer

    def build(self) -> Network:
        return Network(self.name, self.graph)
