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
iteration set is kept to count recomputed MACs. Traffic keys are ``TensorKey``s: they print
as ``"<layer>.<tensor>"``, and nothing splits them (layer names may hold any character).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import islpy as isl

from ..errors import FusionError
from .layer import Layer
from .nest import (
    ACCUMULATE,
    EXPORTED,
    ITERATIONS,
    ONCHIP,
    READ,
    Nest,
    Operand,
    TensorKey,
    iterations_key,
)
from .schedule import Schedule


class FusedGroup:
    """Layers (in execution order, the sink last) and where each of their inputs comes from.

    ``inputs`` maps a layer's input (a ``TensorKey``, a ``(layer, tensor)`` pair, or its
    ``"<layer>.<tensor>"`` string) to the group layer producing it, or to several when their
    outputs are the disjoint slices of one tensor (a Concat); by default each layer's ``I``
    is the previous layer's output and every other input (weights, residuals) comes from
    outside. ``exported`` names inner layers (one name, or several) whose output a layer
    outside the group also reads.
    """

    def __init__(self, layers: Sequence[Layer], inputs: Mapping | None = None,
                 exported: str | Sequence[str] = ()):
        if isinstance(layers, (Layer, str)) or not isinstance(layers, Sequence) or not all(
                isinstance(layer, Layer) for layer in layers):
            raise FusionError("a fused group is a list of layers (ps.conv2d(...), ...)")
        self.layers = tuple(layers)
        if not self.layers:
            raise FusionError("a fused group needs at least one layer")
        names = [layer.name for layer in self.layers]
        if len(set(names)) != len(names):
            raise FusionError(f"a fused group names a layer twice: {', '.join(names)}")
        self.position = {name: j for j, name in enumerate(names)}
        self.inputs = self._inputs(inputs)
        self.exported = (exported,) if isinstance(exported, str) else tuple(exported)
        self._check()
        self.name = "+".join(names)
        self.nest = self._nest()

    @property
    def sink(self) -> Layer:
        return self.layers[-1]

    def _inputs(self, given) -> dict[TensorKey, tuple[str, ...]]:
        """``inputs`` with tensor keys and tuples of producers."""
        if given is None:
            for layer in self.layers[1:]:
                if "I" not in layer.tensors:
                    raise FusionError(f"layer {layer.name!r} has no tensor I to chain: give "
                                      f"inputs=")
            return {TensorKey(b.name, "I"): (a.name,) for a, b in zip(self.layers,
                                                                      self.layers[1:])}
        if not isinstance(given, Mapping):
            raise FusionError(f"inputs must map '<layer>.<tensor>' to a producer, got "
                              f"{type(given).__name__}")
        known = {str(key): key for key in (TensorKey(layer.name, t) for layer in self.layers
                                           for t in layer.tensors)}
        inputs = {}
        for key, producers in given.items():
            if isinstance(key, tuple) and len(key) == 2:
                key = TensorKey(*key)
            if not isinstance(key, str) or str(key) not in known:
                raise FusionError(f"{str(key)!r} is not an input of a layer of the group")
            producers = (producers,) if isinstance(producers, str) else tuple(producers)
            if not producers or not all(isinstance(p, str) for p in producers):
                raise FusionError(f"{str(key)!r} must come from one or more layer names")
            inputs[known[str(key)]] = producers
        return inputs

    def _check(self):
        position = self.position
        for key, producers in self.inputs.items():
            consumer = self.layers[position[key.layer]]
            wanted = consumer.tensors[key.tensor]
            if wanted.role == "output":
                raise FusionError(f"{str(key)!r} is an output, not an input")
            for producer in producers:
                if producer not in position or position[producer] >= position[key.layer]:
                    raise FusionError(f"{str(key)!r} must come from an earlier layer of the "
                                      f"group, not {producer!r}")
                made = self.layers[position[producer]].output.shape
                if not _chains(made, wanted.shape, len(producers) > 1):
                    raise FusionError(f"{producer!r} produces {made}, but {str(key)!r} has "
                                      f"shape {wanted.shape}")
            if len(producers) > 1:
                self._check_slices(key, producers)
        used = {p for producers in self.inputs.values() for p in producers}
        for layer in self.layers[:-1]:
            if layer.name not in used:
                raise FusionError(f"layer {layer.name!r} feeds no later layer of the group")
        for name in self.exported:
            if not isinstance(name, str) or name not in position or name == self.sink.name:
                raise FusionError(f"{name!r} is not an inner layer of the group")

    def _check_slices(self, key: TensorKey, producers: tuple[str, ...]):
        """Several producers of one input write disjoint parts of it."""
        seen = None
        for producer in producers:
            written = self.written(self.position[producer]).reset_tuple_id()
            if seen is not None and not written.intersect(seen).is_empty():
                raise FusionError(f"the producers of {str(key)!r} write overlapping elements")
            seen = written if seen is None else seen.union(written)

    def _nest(self) -> Nest:
        """The group as one nest over the sink's dims (tuple names follow positions, so that
        groups of equal shapes share closed forms)."""
        sink = len(self.layers) - 1
        domain = self.domain(sink)
        to_iterations = {sink: isl.Map.identity(domain.get_space().map_from_set())
                         .intersect_domain(domain)}
        operands: dict[TensorKey, Operand] = {}
        for j in reversed(range(len(self.layers))):
            layer = self.layers[j]
            if j != sink:  # iterations computing what the later layers need
                needed = self._needed(j, to_iterations)
                to_iterations[j] = needed.apply_range(
                    self.access(j, layer.output.name).reverse()
                    .intersect_range(self.domain(j)))
                if layer.name in self.exported and \
                        not to_iterations[j].range().is_equal(self.domain(j)):
                    raise FusionError(
                        f"layer {layer.name!r}: the later layers of the group need only part "
                        f"of its output, so the group cannot write the whole of it that "
                        f"layers outside read")
            for tensor in layer.tensors.values():
                key = TensorKey(layer.name, tensor.name)
                if key in self.inputs:
                    continue  # an intermediate: the producer's output operand
                relation = to_iterations[j].apply_range(self.access(j, tensor.name))
                operands[key] = Operand(key, self._kind(j, tensor), relation,
                                        self.space(j, tensor.name))
            if j != sink:
                key = iterations_key(layer.name)
                operands[key] = Operand(key, ITERATIONS, to_iterations[j], self.domain(j))
        ordered = {k: operands[k] for k in sorted(operands, key=self._key_order)}
        return Nest(self.name, self.sink.dims, self.sink.extents, domain, ordered,
                    self.sink.whole)

    def _needed(self, j: int, to_iterations) -> isl.Map:
        """Sink iterations -> elements of layer ``j``'s output that later layers read."""
        reads = []
        written = self.written(j)
        for key, producers in self.inputs.items():
            if self.layers[j].name not in producers:
                continue
            c = self.position[key.layer]
            reads.append(to_iterations[c].apply_range(self.access(c, key.tensor))
                         .apply_range(self.reshape(c, key.tensor, j))
                         .intersect_range(written))
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

    def _key_order(self, key: TensorKey):
        return self.position[key.layer], key.tensor == "", key.tensor

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

    def written(self, j: int) -> isl.Set:
        """The elements of its output tensor that layer ``j`` writes (all of them, unless
        it writes one slice of a Concat)."""
        output = self.layers[j].output.name
        return self.access(j, output).intersect_domain(self.domain(j)).range() \
            .intersect(self.space(j, output))

    def reshape(self, c: int, tensor: str, j: int) -> isl.Map:
        """Elements of layer ``c``'s input ``tensor`` -> the same elements of layer ``j``'s
        output: the identity on equal shapes, else matched in row-major order (a flatten
        between a pool and a gemm)."""
        read = self.layers[c].tensors[tensor].shape
        made = self.layers[j].output.shape
        a = [f"a{i}" for i in range(len(read))]
        b = [f"b{i}" for i in range(len(made))]
        box = [f"0 <= {v} < {n}" for v, n in (*zip(a, read), *zip(b, made))]
        if read == made:
            match = [f"{x} = {y}" for x, y in zip(a, b)]
        elif [n for n in read if n != 1] == [n for n in made if n != 1]:  # unit dims only
            match = [f"{x} = {y}" for x, y in zip([v for v, n in zip(a, read) if n != 1],
                                                    [v for v, n in zip(b, made) if n != 1])]
        else:
            match = [f"{_row_major(a, read)} = {_row_major(b, made)}"]
        return isl.Map("{ T%d_%s[%s] -> T%d_%s[%s] : %s }" % (
            self._tag(c), tensor, ", ".join(a), self._tag(j), self.layers[j].output.name,
            ", ".join(b), " and ".join(match + box)))

    def space(self, j: int, tensor: str) -> isl.Set:
        return self.layers[j].tensors[tensor].space.set_tuple_name(f"T{self._tag(j)}_{tensor}")


def _chains(made: tuple[int, ...], wanted: tuple[int, ...], slices: bool) -> bool:
    """Whether a tensor made with shape ``made`` can be read as ``wanted``: the same shape
    (always, for the slices of one tensor), the same up to unit dims, or flattened."""
    if made == wanted or slices:
        return made == wanted
    squeezed = [n for n in made if n != 1] == [n for n in wanted if n != 1]
    return squeezed or (len(wanted) == 1 and math.prod(made) == wanted[0])


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
                 traversal="lex", inputs=None, exported=(), resident=()):
        group = layers if isinstance(layers, FusedGroup) else FusedGroup(layers, inputs,
                                                                         exported)
        self.group = group
        self.layers = group.layers
        self.layer = group.sink  # the layer whose dims the schedule tiles
        self._tile_nest(group.nest, f"fused group {group.name!r}", tile, order, traversal,
                        resident)
