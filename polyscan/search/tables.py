"""Per-cluster tables: the sums from which the traffic of every lex and scan schedule follows.

The traffic of a schedule is ``sum_X w_X (S_X - reuse_X)`` (minus the output's first
touches), where ``S_X`` sums the footprint size of X over all tiles and ``reuse_X`` sums the
overlap of consecutive tiles (``docs/optimizer.md``). Both are sums over tile positions of
products of per-component closed forms, and they factor over *clusters*: the finest
partition of the loop dims such that every footprint component lies inside one cluster
(for a convolution: ``{k}``, ``{c}``, ``{y, r}``, ``{x, s}``). So for each cluster and each
of its tile-size combinations, this module tabulates, per tensor:

- ``S``: the sum of the tensor's in-cluster footprint product over all positions;
- ``peak``: the Pareto-maximal vectors (one entry per tensor) of that product, whose
  combination across clusters gives the exact buffer peak;
- ``lex[roles]``: the overlap sum for a lex transition in which each cluster dim is
  ``OUTER`` (summed over all positions, unchanged), the ``STEP`` dim (+1) or ``INNER``
  (at its last tile, reset to the first);
- ``scan[roles, parity, inner]``: the same for a scan transition (the step dim moves between
  ``g`` and ``g + 1``, split by the parity of ``g``; inner dims stay, at their first or last
  tile as ``inner`` says);
- ``entries[roles, ends]``: summed over the positions of the OUTER dims, a bound on the
  overlap of a tile entered with the INNER dims at their first tile (scan: first or last)
  with the tile before it: what the levels outside the inner dims can reuse at most
  (``orders.Batch.entries``).
"""

from __future__ import annotations

import functools
import itertools
import math
import weakref
from dataclasses import dataclass, field

import numpy as np

from ..caches import Memo, clears, stored
from ..errors import SearchTooLargeError
from ..model.nest import ACCUMULATE, EXPORTED, READ, Nest
from ..polyhedral.footprint import (
    RESET,
    Component,
    divided_window,
    nest_footprints,
    relation_components,
    touched_elements,
)

OUTER, STEP, INNER = "outer", "step", "inner"


def balanced_sizes(extent: int) -> list[int]:
    """Tile sizes ``ceil(E / n)`` for ``n = 1..E``, largest first, without repeats."""
    sizes = sorted({-(-extent // n) for n in range(1, extent + 1)}, reverse=True)
    return sizes


@dataclass
class Cluster:
    """One cluster of dims and its tables over its tile-size combinations."""

    dims: tuple[str, ...]
    extents: tuple[int, ...]
    components: list[list[Component]]  # per operand (nest order), its components here
    moves_data: tuple[bool, ...]  # per operand: does it cross the DRAM boundary?
    whole: tuple[bool, ...] = ()  # per dim: no tile may split it (one size: the extent)
    smallest: bool = False  # only the smallest tiles (a least-peak bound), not every size
    tiles: np.ndarray = field(init=False)  # (combos, dims) tile sizes
    grid: np.ndarray = field(init=False)  # (combos, dims) tiles per dim
    S: np.ndarray = field(init=False)  # (tensors, combos)
    peak_vectors: np.ndarray = field(init=False)  # (combos, pareto, tensors), padded
    _lex: dict = field(default_factory=dict, init=False)
    _scan: dict = field(default_factory=dict, init=False)
    _entries: dict = field(default_factory=dict, init=False)

    def __post_init__(self):
        whole = self.whole or (False,) * len(self.dims)
        sizes = [[e] if w else [1] if self.smallest else balanced_sizes(e)
                 for e, w in zip(self.extents, whole)]
        self.tiles = np.array(list(itertools.product(*sizes)),
                              dtype=np.int64).reshape(-1, len(self.dims))
        self.grid = -(-np.array(self.extents, dtype=np.int64) // self.tiles)
        every = [(0, self.grid[:, i]) for i in range(len(self.dims))]
        combo, positions = _product_rows(self.combos, every)
        sizes = self._sizes(combo, positions)
        self.S = np.array([self._sum(combo, row) for row in sizes]).reshape(-1, self.combos)
        self.peak_vectors = self._pareto(combo, sizes)

    @property
    def combos(self) -> int:
        return len(self.tiles)

    def lex(self, roles: tuple[str, ...]) -> np.ndarray:
        """``(tensors, combos)`` overlap sums of the lex transitions with these roles."""
        if roles not in self._lex:
            ranges, moves = [], []
            for i, role in enumerate(roles):
                n = self.grid[:, i]
                if role == OUTER:
                    ranges.append((0, n)), moves.append(0)
                elif role == STEP:
                    ranges.append((0, n - 1)), moves.append(1)
                else:
                    ranges.append((n - 1, 1)), moves.append(RESET)
            self._lex[roles] = self._transitions(ranges, moves)
        return self._lex[roles]

    def scan(self, roles: tuple[str, ...], parity: int, inner_last: tuple[bool, ...]) -> np.ndarray:
        """``(tensors, combos)`` overlap sums of the scan transitions with these roles, whose
        step starts at an even (``parity`` 0) or odd position, with the inner dims at their
        last tile where ``inner_last`` (one flag per INNER dim, in order) says so."""
        parity = parity if STEP in roles else 0  # only the step dim's cluster splits by it
        key = (roles, parity, inner_last)
        if key not in self._scan:
            ranges, moves, flags = [], [], iter(inner_last)
            for i, role in enumerate(roles):
                n = self.grid[:, i]
                if role == OUTER:
                    ranges.append((0, n)), moves.append(0)
                elif role == STEP:  # g = parity, parity + 2, ... <= n - 2
                    ranges.append((parity, np.maximum(0, (n - parity) // 2), 2))
                    moves.append(1)
                else:
                    ranges.append((n - 1 if next(flags) else 0, 1)), moves.append(0)
            self._scan[key] = self._transitions(ranges, moves)
        return self._scan[key]

    def entries(self, roles: tuple[str, ...], ends: bool) -> np.ndarray:
        """``(tensors, combos)``: over the positions of the OUTER dims, a bound on the overlap
        of a tile with the one before it, when that tile has the INNER dims at their first
        tile (lex) or (``ends``) at their first or their last (scan). In scan it is the
        largest footprint product of the two. In lex the inner dims were reset from their
        last tile: a component lying in the INNER dims gives that reset's overlap, the
        others their footprint at the first tile."""
        key = (roles, ends)
        if key not in self._entries:
            counts = [self.grid[:, i] if role == OUTER else 1 for i, role in enumerate(roles)]
            self._entries[key] = self._factored(
                counts, functools.partial(self._scan_entries if ends else self._lex_entries,
                                          roles))
        return self._entries[key]

    def _scan_entries(self, roles, component: Component, index: list[int]) -> np.ndarray:
        """A component's largest footprint with each of its INNER dims at its first or its
        last tile, summed over its OUTER dims' positions (per tensor, the largest product
        is the product of its components' largest: they share no dim)."""
        inner = [i for i in index if roles[i] == INNER]
        largest = None
        for last in itertools.product((False, True), repeat=len(inner)):
            at_last = dict(zip(inner, last))
            ranges = [(0, self.grid[:, i]) if roles[i] == OUTER else
                      (self.grid[:, i] - 1 if at_last[i] else 0, 1) for i in index]
            combo, positions = _product_rows(self.combos, ranges)
            values = self._evaluate(component.size, index, combo, positions)
            largest = values if largest is None else np.maximum(largest, values)
        return self._sum(combo, largest)

    def _lex_entries(self, roles, component: Component, index: list[int]) -> np.ndarray:
        """A component lying in the INNER dims: the overlap of their last and first tiles;
        any other: its footprint with the INNER dims at their first tile, summed over its
        OUTER dims' positions."""
        reset = bool(index) and all(roles[i] == INNER for i in index)
        ranges = [(0, self.grid[:, i]) if roles[i] == OUTER else
                  (self.grid[:, i] - 1 if reset else 0, 1) for i in index]
        form = component.overlap((RESET,) * len(index)) if reset else component.size
        return self._summed(form, index, ranges)

    # --- evaluation ---------------------------------------------------------------------

    def _transitions(self, ranges: list, moves: list) -> np.ndarray:
        """``(tensors, combos)``: over the product of the per-dim ``ranges`` of positions,
        the sums of the overlap products of a tile with the one ``moves`` away."""
        def sums(component: Component, index: list[int]) -> np.ndarray:
            pattern = tuple(moves[i] for i in index)
            form = component.overlap(pattern) if any(pattern) else component.size
            return self._summed(form, index, [ranges[i] for i in index])
        return self._factored([r[1] for r in ranges], sums)

    def _factored(self, counts: list, sums) -> np.ndarray:
        """``(tensors, combos)``: per tensor, the sum over a product of per-dim ranges of
        positions (``counts[i]`` of them for dim ``i``) of the product of its components'
        values. A tensor's components share no dim, so that sum is the product of each
        component's own sum over its dims' positions (``sums(component, dim indices)``),
        times the positions of the dims none of them uses: each component is evaluated on
        its own dims' positions, never on the whole cluster's."""
        tables = np.zeros((len(self.components), self.combos), dtype=np.int64)
        for t, components in enumerate(self.components):
            if not self.moves_data[t]:
                continue  # reuse of on-chip data moves nothing either way: 0
            product = np.ones(self.combos, dtype=np.int64)
            used = set()
            for component in components:
                index = [self.dims.index(d) for d in component.dims]
                used.update(index)
                product *= sums(component, index)
            for i, count in enumerate(counts):
                if i not in used:
                    product *= count
            tables[t] = product
        return tables

    def _summed(self, form, index: list[int], ranges: list) -> np.ndarray:
        """``(combos,)``: a component's closed form summed over the product of its dims'
        ``ranges`` of positions."""
        combo, positions = _product_rows(self.combos, ranges)
        return self._sum(combo, self._evaluate(form, index, combo, positions))

    def _evaluate(self, form, index: list[int], combo: np.ndarray,
                  positions: np.ndarray) -> np.ndarray:
        """A component's closed form at rows of (combination, positions of its dims)."""
        tiles = self.tiles[combo][:, index]
        return form(np.concatenate([positions * tiles, tiles], axis=1))

    def _sum(self, combo: np.ndarray, values: np.ndarray) -> np.ndarray:
        sums = np.zeros(self.combos, dtype=np.int64)
        np.add.at(sums, combo, values)
        return sums

    def _sizes(self, combo: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """``(operands, rows)``: each operand's in-cluster footprint product at each row of
        (combination, positions of every dim)."""
        values = np.ones((len(self.components), len(combo)), dtype=np.int64)
        for t, components in enumerate(self.components):
            for component in components:
                index = [self.dims.index(d) for d in component.dims]
                values[t] *= self._evaluate(component.size, index, combo, positions[:, index])
        return values

    def _pareto(self, combo: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Per combo, the vectors (over tensors) not dominated by another: the peak over
        positions of any sum of products with other clusters is attained at one of them.
        ``combo`` is sorted (rows come combination by combination)."""
        bounds = np.searchsorted(combo, np.arange(self.combos + 1))
        fronts = []
        for c in range(self.combos):
            vectors = np.unique(values[:, bounds[c]:bounds[c + 1]].T, axis=0)[::-1]
            front = [v for v in vectors
                     if not any(np.all(w >= v) and np.any(w > v) for w in vectors)]
            fronts.append(front)
        width = max(len(f) for f in fronts)
        return np.array([f + [f[0]] * (width - len(f)) for f in fronts], dtype=np.int64)


def _product_rows(combos: int, ranges) -> tuple[np.ndarray, np.ndarray]:
    """All rows ``(combo, positions)`` of the per-combo product of per-dim ranges.

    Each range is ``(start, count)`` or ``(start, count, stride)``, with ``start`` and
    ``count`` scalars or arrays over the ``combos`` combinations.
    """
    combo = np.arange(combos, dtype=np.int64)
    positions = np.zeros((combos, 0), dtype=np.int64)
    for start, count, *stride in ranges:
        start = np.broadcast_to(np.asarray(start, dtype=np.int64), (combos,))
        count = np.broadcast_to(np.asarray(count, dtype=np.int64), (combos,))
        step = stride[0] if stride else 1
        repeat = count[combo]
        new_combo = np.repeat(combo, repeat)
        offsets = np.arange(len(new_combo)) - np.repeat(np.cumsum(repeat) - repeat, repeat)
        new_column = start[new_combo] + step * offsets
        positions = np.concatenate([np.repeat(positions, repeat, axis=0),
                                    new_column[:, None]], axis=1)
        combo = new_combo
    return combo, positions


@dataclass
class NestTables:
    """The clusters of a nest with their tables, and what ties them to the operands (all but
    iteration sets, which neither move data nor take buffer space)."""

    nest: Nest
    keys: tuple[str, ...]
    weights: np.ndarray  # DRAM transfers per buffer entry (Operand.dram_weight)
    touched: np.ndarray  # elements of each operand the whole nest touches
    clusters: list[Cluster]

    def _touched(self, *kinds) -> int:
        return int(sum(t for key, t in zip(self.keys, self.touched)
                       if self.nest.operands[key].kind in kinds))

    @property
    def constant(self) -> int:
        """Traffic that no schedule changes: outputs' first entries are not read-backs,
        exported intermediates are written once."""
        return self._touched(EXPORTED) - self._touched(ACCUMULATE)

    @property
    def compulsory(self) -> int:
        """Every element that crosses the DRAM boundary at all, once: no schedule moves less."""
        return self._touched(READ, ACCUMULATE, EXPORTED)

    @property
    def combos(self) -> int:
        return math.prod(c.combos for c in self.clusters)


MAX_ROWS = 4_000_000  # tile positions a cluster's tables may enumerate (~0.6 GB)
MAX_COMPONENT_DIMS = 2  # loop dims one footprint component may couple (its closed forms
#                         are counted over twice as many parameters; MobileNets need 2)


def clusters_of(nest: Nest) -> list[tuple[str, ...]]:
    """The finest partition of the nest's dims such that every footprint component lies in
    one part (its clusters), in the nest's dim order. From the components' dims alone: no
    closed form is counted (a group too coupled to search costs little to reject)."""
    groups: list[set[str]] = [{d} for d in nest.dims]
    for operand in nest.operands.values():
        if not operand.in_buffer:
            continue
        for dims, _ in relation_components(nest, operand):
            joined = [g for g in groups if g & set(dims)]
            for g in joined:
                groups.remove(g)
            groups.append(set().union(*joined))
    groups = [g for g in groups if g]
    groups.sort(key=lambda g: min(nest.dims.index(d) for d in g))
    return [tuple(d for d in nest.dims if d in g) for g in groups]


def too_coupled(nest: Nest) -> str | None:
    """Why the search cannot tabulate ``nest`` (None: it can). A footprint that is no
    product of small per-dim parts (one tensor read two ways inside a fused group, say a
    layer's output read by a 3x3 and a 1x1 branch) couples dims: barvinok's counts over
    many parameters take minutes, and its tables enumerate every tile position. So does a
    window read through a division (``footprint.divided_window``)."""
    return stored("too-coupled", nest.shape_key, lambda: _too_coupled(nest))


def _too_coupled(nest: Nest) -> str | None:
    widest = max((dims for operand in nest.operands.values() if operand.in_buffer
                  for dims, _ in relation_components(nest, operand)), key=len, default=())
    if len(widest) > MAX_COMPONENT_DIMS:
        return (f"a footprint couples loop dims {', '.join(widest)} (at most "
                f"{MAX_COMPONENT_DIMS} can be counted in reasonable time)")
    divided = next((dims for operand in nest.operands.values() if operand.in_buffer
                    for dims in [divided_window(nest, operand)] if dims), ())
    if divided:
        return (f"a footprint over loop dims {', '.join(divided)} reads a window through an "
                f"integer division (a flattened tensor behind a pool or conv), which "
                f"barvinok takes minutes to count")
    rows = table_rows(nest)
    if rows > MAX_ROWS:
        return (f"its tables would enumerate {rows:,} tile positions (at most {MAX_ROWS:,}) "
                f"over dims {', '.join(max(clusters_of(nest), key=len))}")
    return None


def table_rows(nest: Nest) -> int:
    """Tile positions the largest cluster's tables enumerate: over its tile-size
    combinations, the tiles of each (per dim: the sum of the grid sizes of its sizes)."""
    return max((math.prod(sum(-(-nest.extents[d] // t) for t in balanced_sizes(nest.extents[d]))
                          for d in dims if d not in nest.whole)
                for dims in clusters_of(nest)), default=1)


def nest_tables(nest: Nest, smallest: bool = False) -> NestTables:
    """Clusters and tables of ``nest`` (tables of role patterns are filled on first use);
    with ``smallest``, of its smallest tiles only."""
    from ..cost.traffic import check_magnitude  # sums over every tile of the finest tiling

    check_magnitude(nest, math.prod(nest.extents.values()))
    reason = too_coupled(nest)
    if reason is not None:
        raise SearchTooLargeError(f"{nest.name} cannot be searched: {reason}")
    footprints = nest_footprints(nest)
    keys = tuple(k for k, o in nest.operands.items() if o.in_buffer)
    groups = [set(dims) for dims in clusters_of(nest)]
    clusters = []
    for index, group in enumerate(groups):
        dims = tuple(d for d in nest.dims if d in group)
        # constant components (indices on no loop dim) multiply in, here in the first cluster
        per_operand = [[c for c in footprints[k].components
                        if (c.dims and set(c.dims) <= group) or (not c.dims and index == 0)]
                       for k in keys]
        clusters.append(Cluster(dims, tuple(nest.extents[d] for d in dims), per_operand,
                                tuple(nest.operands[k].dram_weight > 0 for k in keys),
                                tuple(d in nest.whole for d in dims), smallest))
    touched = np.array([touched_elements(nest.operands[k]) for k in keys], dtype=np.int64)
    weights = np.array([nest.operands[k].dram_weight for k in keys], dtype=np.int64)
    return NestTables(nest, keys, weights, touched, clusters)


_TABLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
clears(_TABLES.clear)
_TABLES_BY_SHAPE = Memo(256)  # shape key -> NestTables (arrays: the largest memo)


def tables_for(nest: Nest) -> NestTables:
    """The tables of ``nest``, built once per shape (networks repeat shapes)."""
    if nest not in _TABLES:
        shared = _TABLES_BY_SHAPE.get(nest.shape_key, lambda: nest_tables(nest))
        # operands of equal-shaped nests correspond by position
        keys = tuple(k for k, o in nest.operands.items() if o.in_buffer)
        _TABLES[nest] = NestTables(nest, keys, shared.weights, shared.touched,
                                   shared.clusters)
    return _TABLES[nest]
