"""Fused groups (DESIGN section 5): layers executed as one schedule over the last layer's dims.

For a tile of the last layer (the *sink*), each inner layer must produce the elements of its
output that the group's later layers read from it: the union of their footprints on it
(``needed``). It computes them completely, so its iterations for the tile are every
iteration writing a needed element, and its own tensors' footprints follow from those. In
ISL this is a chain of compositions, from the sink backwards:

    sink iterations -> consumer iterations -> consumer's input = producer's output elements
                    -> producer iterations (the inverse of its output access) -> ...

Every tensor of the group becomes an operand of one nest over the sink's dims: external
inputs and weights are read, the sink's output accumulates, intermediates stay on chip (and
are written once if a layer outside the group reads them too), and each inner layer's
iteration set is kept to count recomputed MACs. Traffic keys are ``"<layer>.<tensor>"``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import islpy as isl

from .errors import PolyscanError
from .layer import Layer
from .nest import ACCUMULATE, EXPORTED, ITERATIONS, ONCHIP, READ, Nest, Operand
from .schedule import Schedule


class FusionError(PolyscanError):
    """The layers do not form a group that can be fused."""


class FusedGroup:
    """Layers (in execution order, the sink last) and where each of their inputs comes from.

    ``inputs`` maps ``"<layer>.<tensor>"`` to the name of the group layer producing it; by
    default each layer's ``I`` is the previous layer's output and every other input (weights,
    residuals) comes from outside. ``exported`` names inner layers whose output a layer
    outside the group also reads.
    """

    def __init__(self, layers: Sequence[Layer], inputs: Mapping[str, str] | None = None,
                 exported: Sequence[str] = ()):
        self.layers = tuple(layers)
        if not self.layers:
            raise FusionError("a fused group needs at least one layer")
        names = [layer.name for layer in self.layers]
        if len(set(names)) != len(names):
            raise FusionError(f"a fused group names a layer twice: {', '.join(names)}")
        self.inputs = dict(inputs) if inputs is not None else {
            f"{b.name}.I": a.name for a, b in zip(self.layers, self.layers[1:])}
        self.exported = tuple(exported)
        self._check()
        self.name = "+".join(names)
        self.nest = self._nest()

    @property
    def sink(self) -> Layer:
        return self.layers[-1]

    def _check(self):
        position = {layer.name: j for j, layer in enumerate(self.layers)}
        for key, producer in self.inputs.items():
            consumer, _, tensor = key.partition(".")
            if consumer not in position or tensor not in self.layers[position[consumer]].tensors:
                raise FusionError(f"{key!r} is not an input of a layer of the group")
            if self.layers[position[consumer]].tensors[tensor].role == "output":
                raise FusionError(f"{key!r} is an output, not an input")
            if producer not in position or position[producer] >= position[consumer]:
                raise FusionError(f"{key!r} must come from an earlier layer of the group, "
                                  f"not {producer!r}")
            made = self.layers[position[producer]].output.shape
            wanted = self.layers[position[consumer]].tensors[tensor].shape
            if math.prod(made) != math.prod(wanted):
                raise FusionError(f"{producer!r} produces {made}, but {key!r} has shape {wanted}")
        used = set(self.inputs.values())
        for layer in self.layers[:-1]:
            if layer.name not in used:
                raise FusionError(f"layer {layer.name!r} feeds no later layer of the group")
        for name in self.exported:
            if name not in position or name == self.sink.name:
                raise FusionError(f"{name!r} is not an inner layer of the group")

    def _nest(self) -> Nest:
        """The group as one nest over the sink's dims (tuple names follow positions, so that
        groups of equal shapes share closed forms)."""
        sink = len(self.layers) - 1
        domain = self.domain(sink)
        to_iterations = {sink: isl.Map.identity(domain.get_space().map_from_set())
                         .intersect_domain(domain)}
        operands: dict[str, Operand] = {}
        for j in reversed(range(len(self.layers))):
            layer = self.layers[j]
            if j != sink:  # iterations computing what the later layers need
                needed = self._needed(j, to_iterations)
                to_iterations[j] = needed.apply_range(
                    self.access(j, layer.output.name).reverse()
                    .intersect_range(self.domain(j)))
            for tensor in layer.tensors.values():
                key = f"{layer.name}.{tensor.name}"
                if key in self.inputs:
                    continue  # an intermediate: the producer's output operand
                relation = to_iterations[j].apply_range(self.access(j, tensor.name))
                operands[key] = Operand(key, self._kind(j, tensor), relation,
                                        self.space(j, tensor.name))
            if j != sink:
                operands[layer.name] = Operand(layer.name, ITERATIONS, to_iterations[j],
                                               self.domain(j))
        ordered = {k: operands[k] for k in sorted(operands, key=self._key_order)}
        return Nest(self.name, self.sink.dims, self.sink.extents, domain, ordered)

    def _needed(self, j: int, to_iterations) -> isl.Map:
        """Sink iterations -> elements of layer ``j``'s output that later layers read."""
        reads = []
        for key, producer in self.inputs.items():
            if producer != self.layers[j].name:
                continue
            consumer, _, tensor = key.partition(".")
            c = next(i for i, layer in enumerate(self.layers) if layer.name == consumer)
            reads.append(to_iterations[c].apply_range(self.access(c, tensor))
                         .apply_range(self.reshape(c, tensor, j))
                         .intersect_range(self.space(j, self.layers[j].output.name)))
        kept = [r for r in reads if not any(r.is_strict_subset(other) for other in reads)]
        needed = kept[0]
        for other in kept[1:]:
            if not other.is_subset(needed):
                needed = needed.union(other)
        return needed

    def _kind(self, j: int, tensor) -> str:
        if tensor.role != "output":
            return READ
        if j == len(self.layers) - 1:
            return ACCUMULATE
        return EXPORTED if self.layers[j].name in self.exported else ONCHIP

    def _key_order(self, key: str):
        layer, _, tensor = key.partition(".")
        position = next(i for i, x in enumerate(self.layers) if x.name == layer)
        return position, tensor == "", tensor

    # --- tuple names by distance from the sink: groups that end in the same layers name
    # --- the same relations alike, and share their closed forms

    def _tag(self, j: int) -> int:
        return len(self.layers) - 1 - j

    def domain(self, j: int) -> isl.Set:
        return self.layers[j].domain.set_tuple_name(_iterations(self._tag(j)))

    def access(self, j: int, tensor: str) -> isl.Map:
        """Layer ``j``'s access to ``tensor``, with tuples named by position."""
        return self.layers[j].tensors[tensor].access \
            .set_tuple_name(isl.dim_type.in_, _iterations(self._tag(j))) \
            .set_tuple_name(isl.dim_type.out, f"T{self._tag(j)}_{tensor}")

    def reshape(self, c: int, tensor: str, j: int) -> isl.Map:
        """Elements of layer ``c``'s input ``tensor`` -> the same elements of layer ``j``'s
        output, matched in row-major order (a flatten between a pool and a gemm)."""
        read = self.layers[c].tensors[tensor].shape
        made = self.layers[j].output.shape
        a = [f"a{i}" for i in range(len(read))]
        b = [f"b{i}" for i in range(len(made))]
        box = [f"0 <= {v} < {n}" for v, n in (*zip(a, read), *zip(b, made))]
        return isl.Map("{ T%d_%s[%s] -> T%d_%s[%s] : %s = %s and %s }" % (
            self._tag(c), tensor, ", ".join(a), self._tag(j), self.layers[j].output.name,
            ", ".join(b),
            _row_major(a, read), _row_major(b, made), " and ".join(box)))

    def space(self, j: int, tensor: str) -> isl.Set:
        return self.layers[j].tensors[tensor].space.set_tuple_name(f"T{self._tag(j)}_{tensor}")


def _row_major(names: list[str], shape: tuple[int, ...]) -> str:
    terms, stride = [], 1
    for name, extent in reversed(list(zip(names, shape))):
        terms.append(f"{stride}*{name}")
        stride *= extent
    return " + ".join(terms) or "0"


def _iterations(tag: int) -> str:
    return "S" if tag == 0 else f"S{tag}"


class FusedSchedule(Schedule):
    """``FusedSchedule([L1, L2, L3], tile=..., order=..., traversal=...)``: one schedule over
    the last layer's dims for a fused group (see ``FusedGroup`` for ``inputs``/``exported``)."""

    def __init__(self, layers: Sequence[Layer] | FusedGroup, tile=None, order=None,
                 traversal="lex", inputs=None, exported=()):
        group = layers if isinstance(layers, FusedGroup) else FusedGroup(layers, inputs,
                                                                         exported)
        self.group = group
        self.layers = group.layers
        self.layer = group.sink
        self._tile_nest(group.nest, f"fused group {group.name!r}", tile, order, traversal)
