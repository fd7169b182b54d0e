"""The explicit-set simulator: DESIGN section 4 computed the dumb way, to check ``traffic``.

It shares nothing with the counting path but the layer's definition: it lists every loop
iteration, applies each access as an integer matrix, drops padding by comparing with the
tensor's shape, groups the touched elements into one Python set per tile, and applies the
section-4 formulas with set operations, the partial-sum read-backs included. Its results are
its own type (``Simulated``), and the tile sequences of ``lex``, ``scan``, ``zorder`` and
``hilbert`` come from their definitions, written out here (``sequence``). It is meant for
small layers (up to some 10^5 iterations).

The per-tile sets themselves (``layer_footprints``, ``fused_footprints``: a ``Footprints``)
are what the oracle of the DRAM address stream (``polyscan.testing.stream``) starts from.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import islpy as isl
import numpy as np

from ..model.layer import Layer, Tensor

# kinds of a footprint: how its tensor moves (DESIGN sections 4 and 5)
READ = "read"  # read-only, in DRAM
ACCUMULATE = "accumulate"  # an output in DRAM: written on leaving, partial sums read back
EXPORTED = "exported"  # an intermediate read outside its group: written once
ONCHIP = "onchip"  # an intermediate that never touches DRAM
ITERATIONS = "iterations"  # an inner layer's iterations: counted (recomputed), not stored


@dataclass(frozen=True)
class Simulated:
    """The simulator's figures, in entries: what ``ps.traffic`` must equal field by field
    (compared by ``differences``, duck-typed: this package knows nothing of ``Traffic``)."""

    reads: dict[str, int]
    writes: dict[str, int]
    peak: int
    tiles: int
    recomputed: dict[str, int] = field(default_factory=dict)  # fused groups: MACs per layer

    FIELDS = ("reads", "writes", "peak", "tiles", "recomputed", "total")

    @property
    def total(self) -> int:
        return sum(self.reads.values()) + sum(self.writes.values())

    def to_dict(self) -> dict:
        """Every field (keys as plain strings)."""
        return {name: _plain(getattr(self, name)) for name in self.FIELDS}

    def differences(self, other) -> dict[str, tuple]:
        """``{field: (simulated, other's)}`` for every field where ``other`` (anything with
        these attributes, e.g. a ``Traffic``) differs; empty when all agree."""
        mine, theirs = self.to_dict(), {name: _plain(getattr(other, name))
                                        for name in self.FIELDS}
        return {name: (mine[name], theirs[name]) for name in self.FIELDS
                if mine[name] != theirs[name]}

    def matches(self, other) -> bool:
        return not self.differences(other)


def _plain(value):
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else value


@dataclass(frozen=True)
class Footprints:
    """The explicit footprints of a layer or fused group: ``sets[name][tile]`` is the set of
    elements (index tuples in the tensor's ``shapes[name]``; iterations for a layer's name)
    that tile ``tile`` (grid coordinates over the schedule's order) touches; ``kinds[name]``
    one of READ, ACCUMULATE, EXPORTED, ONCHIP, ITERATIONS. Names are the traffic keys: a
    layer's tensor names; ``"<layer>.<tensor>"`` and ``"<layer>"`` in a fused group. A tile
    that touches nothing of a tensor may be missing from its ``sets``."""

    kinds: dict[str, str]
    sets: dict[str, dict[tuple[int, ...], set]]
    shapes: dict[str, tuple[int, ...]]


def simulate(layer: Layer, tile: dict[str, int], order: tuple[str, ...],
             sequence: list[tuple[int, ...]]) -> Simulated:
    """Traffic of the tiles ``sequence`` (grid coordinates over ``order``), explicitly."""
    return simulate_sets(layer_footprints(layer, tile, order), sequence)


def simulate_fused(layers: list[Layer], inputs: dict, exported: tuple[str, ...],
                   tile: dict[str, int], order: tuple[str, ...], sequence) -> Simulated:
    """A fused group's traffic (DESIGN section 5), explicitly (see ``fused_footprints``)."""
    return simulate_sets(fused_footprints(layers, inputs, exported, tile, order, sequence),
                         sequence)


def layer_footprints(layer: Layer, tile: dict[str, int], order: tuple[str, ...]) -> Footprints:
    """A layer's tensors' per-tile sets: read-only tensors READ, the output ACCUMULATE."""
    sets = tile_footprints(layer, tile, order)
    return Footprints({name: READ if layer.tensors[name].read_only else ACCUMULATE
                       for name in sets}, sets,
                      {name: tuple(layer.tensors[name].shape) for name in sets})


def fused_footprints(layers: list[Layer], inputs: dict, exported: tuple[str, ...],
                     tile: dict[str, int], order: tuple[str, ...],
                     sequence=None) -> Footprints:
    """A fused group's per-tile sets (DESIGN section 5), for the tiles of ``sequence`` (by
    default every tile): per tile of the last layer, each earlier layer's needed outputs are
    the union of what later layers read of them (of the elements it writes, when several
    layers write one tensor), its iterations every one writing a needed element. ``inputs``
    maps a ``TensorKey`` (layer, tensor) to the group layers producing it
    (``FusedGroup.inputs``); ``exported`` names the inner layers read outside the group."""
    sink = layers[-1]
    by_name = {layer.name: layer for layer in layers}
    touched = {(layer.name, t.name): elements(layer, t) for layer in layers
               for t in layer.tensors.values()}
    writers = {}  # layer -> its output element -> the iterations writing it
    for layer in layers[:-1]:
        writers[layer.name] = {}
        for i, written in enumerate(touched[layer.name, layer.output.name]):
            for element in written:
                writers[layer.name].setdefault(element, []).append(i)
    sizes = [tile.get(d, sink.extents[d]) for d in order]
    points = np.indices([sink.extents[d] for d in sink.dims]).reshape(len(sink.dims), -1).T
    tile_of = [tuple(r) for r in (points[:, [sink.dims.index(d) for d in order]]
                                  // np.array(sizes, dtype=np.int64)).tolist()]
    if sequence is None:
        sequence = lex_sequence(grid_of(sink, tile, order))

    kinds, footprints, shapes = {}, {}, {}
    for t in sequence:
        iterations = {sink.name: {i for i, c in enumerate(tile_of) if c == t}}
        for j in reversed(range(len(layers))):
            layer = layers[j]
            if j != len(layers) - 1:
                needed = set()
                for key, producers in inputs.items():
                    if layer.name in producers:  # same elements, row-major (a flatten)
                        shape = by_name[key.layer].tensors[key.tensor].shape
                        read = (tuple(np.unravel_index(np.ravel_multi_index(e, shape),
                                                       layer.output.shape))
                                for e in footprints[key.layer, key.tensor][t])
                        needed |= {e for e in read if e in writers[layer.name]}
                iterations[layer.name] = {i for e in needed for i in writers[layer.name][e]}
                key = (layer.name, layer.output.name)
                kinds[key] = EXPORTED if layer.name in exported else ONCHIP
                shapes[key] = tuple(layer.output.shape)
                footprints.setdefault(key, {})[t] = needed
                kinds[layer.name] = ITERATIONS
                footprints.setdefault(layer.name, {})[t] = iterations[layer.name]
            for tensor in layer.tensors.values():
                key = (layer.name, tensor.name)
                if tensor.role == "output" and j != len(layers) - 1:
                    continue
                kinds.setdefault(key, ACCUMULATE if tensor.role == "output" else READ)
                shapes[key] = tuple(tensor.shape)
                per_iteration = touched[key]
                footprints.setdefault(key, {})[t] = {e for i in iterations[layer.name]
                                                     for e in per_iteration[i]}
    for key in inputs:  # intermediates are the producers' outputs, not reads
        for table in (footprints, kinds, shapes):
            table.pop((key.layer, key.tensor))
    named = {_name(key): key for key in footprints}
    return Footprints({n: kinds[k] for n, k in named.items()},
                      {n: footprints[k] for n, k in named.items()},
                      {n: shapes[k] for n, k in named.items() if k in shapes})


def _name(key) -> str:
    """Traffic keys as the counting path names them: ``"<layer>.<tensor>"``, a layer's
    name for its iterations (compared as strings, so the oracle needs no key type)."""
    return key if isinstance(key, str) else f"{key[0]}.{key[1]}"


def simulate_sets(footprints: Footprints, sequence) -> Simulated:
    """DESIGN sections 4 and 5, literally, over explicit per-tile sets."""
    kinds = footprints.kinds
    reads, writes, recomputed = {}, {}, {}
    for key, per_tile in footprints.sets.items():
        tiles = [per_tile.get(t, set()) for t in sequence]
        entries = len(tiles[0]) + sum(len(b - a) for a, b in zip(tiles, tiles[1:]))
        touched = len(set().union(*tiles))
        if kinds[key] == READ:
            reads[key] = entries
        elif kinds[key] == ACCUMULATE:
            writes[key] = sum(len(a - b) for a, b in zip(tiles, tiles[1:])) + len(tiles[-1])
            seen, read_back = set(tiles[0]), 0
            for a, b in zip(tiles, tiles[1:]):
                read_back += len((b - a) & seen)
                seen |= b
            reads[key] = read_back
        elif kinds[key] == EXPORTED:
            writes[key] = touched
        elif kinds[key] == ITERATIONS:
            recomputed[key] = entries - touched
    peak = max(sum(len(per_tile.get(t, ())) for key, per_tile in footprints.sets.items()
                   if kinds[key] != ITERATIONS) for t in sequence)
    return Simulated(reads, writes, peak, len(sequence), recomputed)


def tile_footprints(layer: Layer, tile: dict[str, int], order: tuple[str, ...]) -> dict:
    """Per tensor, the set of elements each tile touches, keyed by grid coordinate."""
    sizes = {d: tile.get(d, layer.extents[d]) for d in layer.dims}
    points = np.indices([layer.extents[d] for d in layer.dims]).reshape(len(layer.dims), -1).T
    tile_of_point = [tuple(row) for row in
                     (points[:, [layer.dims.index(d) for d in order]]
                      // np.array([sizes[d] for d in order], dtype=np.int64)).tolist()]
    footprints = {}
    for name, tensor in layer.tensors.items():
        per_tile: dict[tuple[int, ...], set] = {}
        for t, touched in zip(tile_of_point, elements(layer, tensor)):
            if touched:
                per_tile.setdefault(t, set()).update(touched)
        footprints[name] = per_tile
    return footprints


def simulate_footprints(layer: Layer, footprints: dict, sequence) -> Simulated:
    """DESIGN section 4's formulas, literally, over a layer's explicit per-tile sets
    (``tile_footprints``)."""
    return simulate_sets(Footprints({name: READ if layer.tensors[name].read_only
                                     else ACCUMULATE for name in footprints}, footprints,
                                    {name: tuple(layer.tensors[name].shape)
                                     for name in footprints}), sequence)


def elements(layer: Layer, tensor: Tensor) -> list[list[tuple[int, ...]]]:
    """For every iteration of ``layer`` (row-major over its dims), the elements of ``tensor``
    it touches, padding dropped. An affine access is applied as an integer matrix; any other
    (floor divisions, a view into a larger tensor, several elements per iteration) by
    listing the points of the relation."""
    points = np.indices([layer.extents[d] for d in layer.dims]).reshape(len(layer.dims), -1).T
    try:
        matrix, offset = access_matrix(tensor.access)
    except ValueError:
        return _listed_elements(layer, tensor)
    rows = points @ matrix.T + offset
    inside = np.all((rows >= 0) & (rows < np.array(tensor.shape)), axis=1)
    return [[tuple(r)] if ok else [] for r, ok in zip(rows.tolist(), inside)]


def _listed_elements(layer: Layer, tensor: Tensor) -> list[list[tuple[int, ...]]]:
    relation = tensor.access.intersect_domain(layer.domain).intersect_range(tensor.space)
    n_in = relation.dim(isl.dim_type.in_)
    found: list[list[tuple[int, ...]]] = [[] for _ in range(layer.macs)]
    extents = [layer.extents[d] for d in layer.dims]

    def add(point):
        values = [point.get_coordinate_val(isl.dim_type.set, i).to_python()
                  for i in range(wrapped.dim(isl.dim_type.set))]
        found[int(np.ravel_multi_index(values[:n_in], extents))].append(tuple(values[n_in:]))

    wrapped = relation.wrap()
    wrapped.foreach_point(add)
    return found


def exhaustive_optimum(layer: Layer, buffer: int, traversals=("lex", "scan")):
    """The least ``(total, tiles, peak)`` over the whole search space of DESIGN section 4,
    every schedule simulated explicitly, and one schedule ``(tile, order, traversal)``
    reaching it; None when nothing fits. Exponential: for tiny layers only."""
    best = None
    sizes = [sorted({-(-layer.extents[d] // n) for n in range(1, layer.extents[d] + 1)})
             for d in layer.dims]
    for combination in itertools.product(*sizes):
        tile = {d: t for d, t in zip(layer.dims, combination) if t < layer.extents[d]}
        tiled = tuple(tile)
        footprints = tile_footprints(layer, tile, tiled)
        for order in itertools.permutations(tiled):
            grid = tuple(math.ceil(layer.extents[d] / tile[d]) for d in order)
            position = [tiled.index(d) for d in order]
            for traversal in traversals:
                sequence = []
                for coordinate in SEQUENCES[traversal](grid):
                    canonical = [0] * len(tiled)
                    for p, value in zip(position, coordinate):
                        canonical[p] = value
                    sequence.append(tuple(canonical))
                result = simulate_footprints(layer, footprints, sequence)
                key = (result.total, result.tiles, result.peak)
                if result.peak <= buffer and (best is None or key < best[0]):
                    best = (key, (tile, order, traversal))
    return best


def access_matrix(access: isl.Map) -> tuple[np.ndarray, np.ndarray]:
    """``(A, b)`` with ``index = A @ iteration + b``, for an affine access without divisions
    defined on every iteration (ValueError otherwise)."""
    if not access.is_single_valued() or not access.domain().is_equal(
            isl.Set.universe(access.domain().get_space())):
        raise ValueError(f"the simulator's matrix needs an access defined everywhere, got "
                         f"{access}")
    function = isl.PwMultiAff.from_map(access)
    if not function.isa_multi_aff():
        raise ValueError(f"the simulator needs a single affine access, got {access}")
    multi = function.as_multi_aff()
    n_in, n_out = access.dim(isl.dim_type.in_), access.dim(isl.dim_type.out)
    matrix = np.zeros((n_out, n_in), dtype=np.int64)
    offset = np.zeros(n_out, dtype=np.int64)
    for j in range(n_out):
        aff = multi.get_aff(j)
        if aff.dim(isl.dim_type.div) or aff.get_denominator_val().to_python() != 1:
            raise ValueError(f"the simulator needs an access without divisions, got {access}")
        for i in range(n_in):
            matrix[j, i] = aff.get_coefficient_val(isl.dim_type.in_, i).to_python()
        offset[j] = aff.get_constant_val().to_python()
    return matrix, offset


def lex_sequence(grid: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Nested loops over the grid, the last dim innermost."""
    return list(itertools.product(*(range(n) for n in grid)))


def scan_sequence(grid: tuple[int, ...]) -> list[tuple[int, ...]]:
    """DESIGN's definition: concatenate over i1 the sequence of the rest, reversed if i1 odd."""
    if not grid:
        return [()]
    rest = scan_sequence(grid[1:])
    return [(i,) + t for i in range(grid[0]) for t in (rest[::-1] if i % 2 else rest)]


def _levels(grid: tuple[int, ...]) -> int:
    """Bits of the largest coordinate: the levels of the power-of-two cube holding the grid."""
    return max((n - 1).bit_length() for n in grid) if grid else 0


def zorder_sequence(grid: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Morton order (docs/traversals.md): the tiles sorted by their coordinates' bits read
    level by level from the most significant, the outer dim's bit first within a level."""
    levels = _levels(grid)
    return sorted(lex_sequence(grid), key=lambda tile: [
        (c >> level) & 1 for level in reversed(range(levels)) for c in tile])


def hilbert_sequence(grid: tuple[int, ...]) -> list[tuple[int, ...]]:
    """The tiles in the order of the m-dimensional Hilbert curve of J. Skilling ("Programming
    the Hilbert curve", AIP Conf. Proc. 707, 2004) over the smallest power-of-two cube holding
    the grid, the tiles outside the grid left out (lex for fewer than two dims or one tile).

    The curve is walked forwards: index h's point is Skilling's TransposetoAxes of h's
    transpose (bit ``b * m + (m - 1 - i)`` of h is bit b of axis i). A point's top bits
    depend only on the index's top digits, so every aligned block of indices fills one
    aligned sub-cube; blocks whose sub-cube misses the grid are skipped whole."""
    m, levels = len(grid), _levels(grid)
    if m < 2 or levels == 0:
        return lex_sequence(grid)

    def axes(index: int) -> list[int]:
        x = [0] * m
        for b in range(levels):
            for i in range(m):
                x[i] |= ((index >> (b * m + m - 1 - i)) & 1) << b
        t = x[m - 1] >> 1  # Gray decode
        for i in range(m - 1, 0, -1):
            x[i] ^= x[i - 1]
        x[0] ^= t
        q = 2
        while q != 1 << levels:  # undo excess work
            p = q - 1
            for i in range(m - 1, -1, -1):
                if x[i] & q:
                    x[0] ^= p  # invert
                else:
                    t = (x[0] ^ x[i]) & p  # exchange
                    x[0] ^= t
                    x[i] ^= t
            q <<= 1
        return x

    found = []

    def walk(prefix: int, depth: int):
        below = levels - depth  # levels of each axis the block leaves free
        corner = [a >> below << below for a in axes(prefix << (below * m))]
        if any(c >= n for c, n in zip(corner, grid)):
            return
        if below == 0:
            found.append(tuple(corner))
            return
        for digit in range(1 << m):
            walk(prefix << m | digit, depth + 1)

    walk(0, 0)
    return found


SEQUENCES = {"lex": lex_sequence, "scan": scan_sequence, "zorder": zorder_sequence,
             "hilbert": hilbert_sequence}


def sequence(traversal, grid: tuple[int, ...]) -> list[tuple[int, ...]]:
    """The tiles of a traversal (a name of ``SEQUENCES``, from its definition here, or an
    explicit list of grid coordinates, returned as given) over ``grid``."""
    if isinstance(traversal, str):
        return SEQUENCES[traversal](tuple(grid))
    return [tuple(int(c) for c in t) for t in traversal]


def grid_of(layer: Layer, tile: dict[str, int], order: tuple[str, ...]) -> tuple[int, ...]:
    return tuple(math.ceil(layer.extents[d] / tile.get(d, layer.extents[d])) for d in order)


def simulate_plan(plan) -> list[Simulated]:
    """Each group of a plan (a ``network.plan.Plan``, duck-typed) simulated explicitly, with
    the tensors of ``plan.resident`` kept in the buffer across groups as DESIGN 6b says: from
    the group writing one to the group of its last reader it takes its whole size in every
    tile, and none of them moves it. ``peak`` is then the tile's own footprints plus every
    resident tensor alive. Raises ``ValueError`` for a resident tensor that no single group
    writes whole, or that the network delivers, and for a group writing only part of an
    inner layer's output that layers outside read."""
    net = plan.net
    place = {name: g for g, group in enumerate(plan.groups) for name in group.layers}
    alive: dict[str, range] = {}
    for name in plan.resident:
        tensor = net.tensors[name]
        writers = {place[w] for w in tensor.writers}
        if len(writers) != 1 or name in net.outputs or not tensor.readers:
            raise ValueError(f"{name}: not one group's tensor read by a later one")
        alive[name] = range(writers.pop(), max(place[r.layer] for r in tensor.readers) + 1)
    results = []
    for g, group in enumerate(plan.groups):
        schedule = group.schedule
        layers = list(schedule.layers)
        if len(layers) == 1:
            footprints = layer_footprints(layers[0], schedule.tile, schedule.order)
            bound = {t: net.bindings[f"{layers[0].name}.{t}"] for t in layers[0].tensors}
        else:
            footprints = fused_footprints(layers, schedule.group.inputs,
                                          schedule.group.exported, schedule.tile,
                                          schedule.order)
            bound = {f"{layer.name}.{t}": net.bindings[f"{layer.name}.{t}"]
                     for layer in layers for t in layer.tensors}
            _check_written_whole(layers, footprints)
        held = [name for name, span in alive.items() if g in span]
        kept = {key for key in footprints.sets if bound.get(key) in held}
        own = Footprints({k: v for k, v in footprints.kinds.items() if k not in kept},
                         {k: v for k, v in footprints.sets.items() if k not in kept},
                         footprints.shapes)
        simulated = simulate_sets(own, sequence(schedule.traversal, schedule.grid))
        entries = sum(math.prod(net.tensors[name].shape) for name in held)
        results.append(Simulated(simulated.reads, simulated.writes, simulated.peak + entries,
                                 simulated.tiles, simulated.recomputed))
    return results


def _check_written_whole(layers: list[Layer], footprints: Footprints):
    """Every exported output of a fused group's tiles, together, is all the layer alone
    writes: the layers outside may read any of it."""
    for layer in layers[:-1]:
        key = f"{layer.name}.{layer.output.name}"
        if footprints.kinds.get(key) != EXPORTED:
            continue
        written = set().union(*footprints.sets[key].values())
        whole = {e for touched in elements(layer, layer.output) for e in touched}
        if written != whole:
            raise ValueError(f"{key}: the group writes {len(written)} of its {len(whole)} "
                             f"elements, but layers outside read it")
