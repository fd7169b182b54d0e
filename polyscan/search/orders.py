"""The best loop order for every tile-size combination at once: dynamic programs over orders.

Building an order from the innermost level outwards, the reuse of the level that puts dim
``d`` just outside the set ``S`` of inner dims depends only on ``S`` and ``d`` (lex: the
inner dims are reset, the outer ones summed over), so the best lex order is a longest path
over the subsets of dims: ``2^m`` states instead of ``m!`` orders (``lex_reuse``).

In scan the inner dims do not move at a step; they sit at the end of the sweep just
finished. For a step from ``g`` to ``g + 1`` (in either direction) that sweep ran backwards
when ``g`` is odd, leaving every inner dim at its first tile, and forwards when ``g`` is even,
leaving the outermost inner dim at its last tile and each further one at its last tile only
while all dims outside it have an odd number of tiles (otherwise at its first). So the exact
state is ``(S, L)``, ``L`` the inner dims left at their last tile (``scan_reuse``). An upper
bound with the lex-sized state ``S`` takes, for ``g`` even, the better of first and last for
every inner dim (``scan_reuse_bound_where``); the optimizer runs the exact program only where the
bound cannot rule a combination out. Both subset programs can drop combinations between
sizes on a partial bound (``program_where``, ``Batch.entries``).

Every function takes a ``Batch`` of combinations and returns the weighted reuse
``sum_X w_X reuse_X`` per combination (``w`` is 2 for the output, read back and written).
The programs that find an order record, for each state, the step that reached its best
value, and read the order back along those steps.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from .tables import INNER, OUTER, STEP, Cluster, NestTables

UNREACHABLE = np.iinfo(np.int64).min // 4

Dims = frozenset[str]
"""A set of loop dims: the inner dims of a level, and the state of the program over subsets."""

LEX, SCAN, SCAN_BOUND = "lex", "scan", "scan-bound"  # the kinds of Level and TableKey
ENTRIES = "entries"  # a TableKey of Cluster.entries (parity 1: first or last tile)


class Level(NamedTuple):
    """One level of a loop order, ``step`` stepping just outside the ``inner`` dims: what a
    level's reuse is memoised by.

    ``kind`` LEX: its lex transitions. SCAN: its scan transitions whose step starts at an
    even (``parity`` 0) or odd position, the inner dims in ``last`` at their last tile (at
    odd parity ``last`` is empty: the sweep before ran backwards). SCAN_BOUND: the even scan
    transitions, each cluster's inner dims wherever they make the most reuse (the bound).
    """

    kind: str
    inner: Dims
    step: str
    parity: int = 0
    last: Dims = frozenset()

    def roles(self, dims: tuple[str, ...]) -> tuple[str, ...]:
        """Each dim's role here (inactive dims, in neither set, count as outer)."""
        step, inner = self.step, self.inner
        return tuple([STEP if d == step else INNER if d in inner else OUTER for d in dims])


class TableKey(NamedTuple):
    """One cluster's table for a level: the cluster's index in the nest and the arguments of
    ``Cluster.lex`` (LEX) or ``Cluster.scan`` (SCAN; ``inner_last`` one flag per INNER dim),
    or the roles whose even scan tables SCAN_BOUND maximises over ``inner_last``."""

    kind: str
    cluster: int
    roles: tuple[str, ...]
    parity: int  # 0 but for SCAN
    inner_last: tuple[bool, ...]  # () but for SCAN

    def table(self, cluster: Cluster) -> np.ndarray:
        """``(tensors, combos)``: the table over all of the cluster's combinations."""
        if self.kind == LEX:
            return cluster.lex(self.roles)
        if self.kind == SCAN:
            return cluster.scan(self.roles, self.parity, self.inner_last)
        if self.kind == ENTRIES:
            return cluster.entries(self.roles, bool(self.parity))
        choices = itertools.product((False, True), repeat=self.roles.count(INNER))
        return np.max([cluster.scan(self.roles, 0, last) for last in choices], axis=0)


class ScanState(NamedTuple):
    """A state of the exact scan program: the dims placed so far (inner to the next level)
    and those of them a forward sweep over all of them leaves at their last tile."""

    inner: Dims
    last: Dims

    def outside(self, d: str, odd: bool) -> ScanState:
        """The state once ``d`` is placed just outside: a forward sweep over ``d`` ends at
        its last tile, and the last inner sweep it made ran forwards (``last`` as it was)
        when ``d`` has an ``odd`` number of tiles, backwards (all at the first) otherwise."""
        return ScanState(self.inner | {d}, self.last | {d} if odd else frozenset({d}))


class Step(NamedTuple):
    """How a program reached a state's best value: from ``previous``, ``dim`` placed just
    outside its inner dims."""

    previous: Dims | ScanState
    dim: str


class Batch:
    """Tile-size combinations: ``indices[k]`` indexes cluster ``k``'s combinations.

    The programs only order the batch's *active* dims, those tiled in some combination: a dim
    with one tile contributes nothing as the step and is the same inner or outer.
    """

    def __init__(self, tables: NestTables, indices: list[np.ndarray]):
        self.tables = tables
        self.indices = indices
        self.size = len(indices[0]) if indices else 1
        self.grid = {d: c.grid[idx, i] for c, idx in zip(tables.clusters, indices)
                     for i, d in enumerate(c.dims)}
        self.dims = [d for c in tables.clusters for d in c.dims if self.grid[d].max() > 1]
        self._gathered: dict[TableKey, tuple[np.ndarray, np.ndarray]] = {}
        self._levels: dict[tuple[Level, int | None], np.ndarray] = {}

    def subset(self, rows: np.ndarray) -> Batch:
        """The batch of some of these combinations (``rows`` indexes them)."""
        return Batch(self.tables, [idx[rows] for idx in self.indices])

    def tile_counts(self) -> np.ndarray:
        return np.prod([self.grid[d] for d in self.grid], axis=0)

    def footprint_sums(self) -> np.ndarray:
        """``(tensors, batch)``: each tensor's footprint size summed over all tiles."""
        return np.prod([c.S[:, idx] for c, idx in zip(self.tables.clusters, self.indices)],
                       axis=0)

    def peaks(self) -> np.ndarray:
        """Exact buffer peak: the best combination of the clusters' Pareto vectors."""
        vectors = sorted((c.peak_vectors[idx] for c, idx in zip(self.tables.clusters,
                                                                self.indices)),
                         key=lambda v: v.shape[1])  # narrow fronts first: fewer products
        best = np.zeros(self.size, dtype=np.int64)
        if vectors:
            _largest_sums(vectors, 0, None, best)
        return best

    def level(self, level: Level, per_tensor: bool = False) -> np.ndarray:
        """``sum_X w_X prod_clusters table[X]`` for one level, per combination, memoised;
        tensors with an all-zero factor are skipped. With ``per_tensor``, every tensor's
        unweighted reuse instead, ``(tensors, combinations)``."""
        key = level, per_tensor
        if key not in self._levels:
            factors = [self._factor(k, cluster, level)
                       for k, cluster in enumerate(self.tables.clusters)]
            if per_tensor:
                self._levels[key] = functools.reduce(np.multiply,
                                                     [values for values, _ in factors])
                return self._levels[key]
            weights = self.tables.weights  # on-chip data (weight 0): its reuse moves nothing
            alive = weights != 0
            for _, live in factors:
                alive &= live
            rows = np.flatnonzero(alive)
            if len(rows) == 0:
                self._levels[key] = np.zeros(self.size, dtype=np.int64)
            else:
                if 2 * len(rows) > len(weights):  # multiplying the dead rows costs less
                    arrays = [values for values, _ in factors]  # than copying the live ones
                    weights = np.where(alive, weights, 0)
                else:
                    arrays = [np.take(values, rows, axis=0) for values, _ in factors]
                    weights = weights[rows]
                product = arrays[0] * arrays[1] if len(arrays) > 1 else arrays[0]
                for values in arrays[2:]:
                    product *= values
                self._levels[key] = weights @ product  # far faster than a sum over rows
        return self._levels[key]

    def entries(self, inner: Dims, ends: bool = False) -> np.ndarray:
        """A bound on what all levels outside the ``inner`` dims reuse together, per
        combination: ``sum_X w_X`` of X's overlap with the tile before, summed over the
        tiles those levels step into (each is stepped into once). In lex those tiles have
        every inner dim at its first tile, reset from its last; in scan (``ends``) at its
        first or its last, and their larger footprint bounds the overlap
        (``Cluster.entries``)."""
        product = None
        for k, cluster in enumerate(self.tables.clusters):
            roles = tuple([INNER if d in inner else OUTER for d in cluster.dims])
            values = self._gather(k, cluster, TableKey(ENTRIES, k, roles, int(ends), ()))[0]
            product = values if product is None else product * values
        return self.tables.weights @ product

    def _factor(self, k: int, cluster: Cluster, level: Level) -> tuple[np.ndarray, np.ndarray]:
        """Cluster ``k``'s table for ``level`` at the batch's combinations, and which of its
        tensor rows are not all 0."""
        roles = level.roles(cluster.dims)
        if level.kind == SCAN:
            last = level.last
            inner_last = tuple([d in last for d, role in zip(cluster.dims, roles)
                                if role == INNER])
            key = TableKey(SCAN, k, roles, level.parity, inner_last)
        else:
            key = TableKey(level.kind, k, roles, 0, ())
        return self._gather(k, cluster, key)

    def _gather(self, k: int, cluster: Cluster, key: TableKey) -> tuple[np.ndarray, np.ndarray]:
        """``_factor`` by table key, memoised: many levels share a table. A tensor row is
        live if the table's row is not all 0 (over all of the cluster's combinations: rows
        of zeros in this batch alone just multiply to 0)."""
        if key not in self._gathered:
            table = key.table(cluster)
            self._gathered[key] = np.take(table, self.indices[k], axis=1), table.any(axis=1)
        return self._gathered[key]


def _largest_sums(vectors: list[np.ndarray], k: int, product: np.ndarray | None,
                  best: np.ndarray):
    """Raise ``best`` to the largest sum over tensors of ``product`` (the vectors chosen
    for the clusters before ``k``, multiplied once for all the choices after) times one
    vector per cluster from ``k`` on. A function of the module, not a closure: a recursive
    closure is a reference cycle, and it kept each batch's vectors until the garbage
    collector ran (1.5 GB on one PP-OCR search)."""
    if k == len(vectors):
        np.maximum(best, product.sum(axis=1), out=best)
        return
    for j in range(vectors[k].shape[1]):
        chosen = vectors[k][:, j, :]
        _largest_sums(vectors, k + 1, chosen if product is None else product * chosen, best)


LevelReuse = Callable[[Batch, Dims, str], np.ndarray]
"""The reuse of putting a dim just outside a set of inner dims, per combination."""


def _order_from(came_from: dict, state) -> tuple[str, ...]:
    """The order (outer to inner) of the steps recorded into ``state`` from the start."""
    order = []
    while state in came_from:
        state, d = came_from[state]
        order.append(d)
    return tuple(order)


# --- lex ----------------------------------------------------------------------------------

def _lex_level(batch: Batch, inner: Dims, d: str, per_tensor: bool = False) -> np.ndarray:
    return batch.level(Level(LEX, inner, d), per_tensor)


def lex_reuse(batch: Batch) -> np.ndarray:
    """Best weighted lex reuse over all orders, per combination."""
    return _subset_program(batch, _lex_level)[0]


def lex_reuse_where(batch: Batch, wanted: Wanted) -> tuple[np.ndarray, np.ndarray]:
    """Best weighted lex reuse of the combinations that ``wanted`` keeps, and their indices
    in the batch (``program_where``)."""
    return program_where(batch, _lex_level, False, wanted)


def lex_reuse_of_order(batch: Batch, order: tuple[str, ...]) -> np.ndarray:
    """Weighted lex reuse of one given loop order (outer to inner), per combination."""
    reuse = np.zeros(batch.size, dtype=np.int64)
    inner: Dims = frozenset()
    for d in reversed([d for d in order if d in batch.dims]):
        reuse += _lex_level(batch, inner, d)
        inner = inner | {d}
    return reuse


def lex_order(batch: Batch) -> tuple[str, ...]:
    """A best lex order (outer to inner) of a batch holding one combination."""
    _, came_from = _subset_program(batch, _lex_level, trace=True)
    return _order_from(came_from, frozenset(batch.dims))


# --- scan ---------------------------------------------------------------------------------

def _scan_bound_level(batch: Batch, inner: Dims, d: str) -> np.ndarray:
    return batch.level(Level(SCAN, inner, d, 1)) + batch.level(Level(SCAN_BOUND, inner, d))


def scan_reuse_bound_where(batch: Batch, wanted: Wanted) -> tuple[np.ndarray, np.ndarray]:
    """An upper bound on the weighted scan reuse of every order (lex-sized state), for the
    combinations that ``wanted`` keeps, and their indices in the batch (``program_where``)."""
    return program_where(batch, _scan_bound_level, True, wanted)


def _scan_level(batch: Batch, state: ScanState, d: str,
                per_tensor: bool = False) -> np.ndarray:
    return (batch.level(Level(SCAN, state.inner, d, 0, state.last), per_tensor)
            + batch.level(Level(SCAN, state.inner, d, 1), per_tensor))


def reuse_per_tensor(batch: Batch, order: tuple[str, ...], traversal: str) -> np.ndarray:
    """``(tensors,)`` unweighted reuse of one schedule: a batch of one combination, a loop
    order (outer to inner) and lex or scan."""
    active = [d for d in order if d in batch.dims]
    reuse = np.zeros(len(batch.tables.keys), dtype=np.int64)
    state = ScanState(frozenset(), frozenset())
    for d in reversed(active):
        reuse += (_lex_level(batch, state.inner, d, True) if traversal == "lex"
                  else _scan_level(batch, state, d, True))[:, 0]
        state = state.outside(d, batch.grid[d][0] % 2 == 1)
    return reuse


def _scan_program(batch: Batch, trace: bool = False
                  ) -> tuple[dict[ScanState, np.ndarray], dict[ScanState, Step]]:
    """Exact program over ``ScanState``s: the best reuse of each (``UNREACHABLE`` for
    combinations that cannot reach it). With ``trace`` (a batch of one combination), also
    the step into each state that first reached its best value."""
    best = {ScanState(frozenset(), frozenset()): np.zeros(batch.size, dtype=np.int64)}
    came_from: dict[ScanState, Step] = {}
    for size in range(len(batch.dims)):
        for state in [s for s in best if len(s.inner) == size
                      and best[s].max() > UNREACHABLE // 2]:
            for d in batch.dims:
                if d in state.inner:
                    continue
                gain = best[state] + _scan_level(batch, state, d)
                odd = batch.grid[d] % 2 == 1
                for target, applies in ((state.outside(d, True), odd),
                                        (state.outside(d, False), ~odd)):
                    candidate = np.where(applies, gain, UNREACHABLE)
                    current = best.get(target)
                    if trace and candidate[0] > (UNREACHABLE if current is None
                                                 else current[0]):
                        came_from[target] = Step(state, d)
                    best[target] = candidate if current is None else \
                        np.maximum(current, candidate)
    return best, came_from


def scan_reuse(batch: Batch) -> np.ndarray:
    """Exact best weighted scan reuse over all orders, per combination."""
    best, _ = _scan_program(batch)
    return np.max([v for state, v in best.items() if len(state.inner) == len(batch.dims)],
                  axis=0)


def scan_order(batch: Batch) -> tuple[str, ...]:
    """A best scan order (outer to inner) of a batch holding one combination."""
    best, came_from = _scan_program(batch, trace=True)
    full = max((s for s in best if len(s.inner) == len(batch.dims)), key=lambda s: best[s][0])
    return _order_from(came_from, full)


# --- the program over subsets ---------------------------------------------------------------

class SubsetProgram:
    """Longest path over subsets of dims, ``best[S | d] = max(best[S] + level(S, d))``, one
    size of ``S`` at a time (each size's states are dropped once the next size's are done),
    so that a caller can drop combinations between sizes.

    With ``trace`` (a batch of one combination), it records the step into each subset that
    reached its best value, ties to the dim earliest in the nest (a rule of the nest, not of
    the order in which the program happens to reach states)."""

    def __init__(self, batch: Batch, level: LevelReuse, trace: bool = False):
        self.batch, self.level, self.trace = batch, level, trace
        self.dims = batch.dims  # fixed: a subset of the batch may tile fewer dims
        self.best: dict[Dims, np.ndarray] = {frozenset(): np.zeros(batch.size, dtype=np.int64)}
        self.came_from: dict[Dims, Step] = {}
        self.size = 0

    @property
    def done(self) -> bool:
        return self.size == len(self.dims)

    def extend(self):
        """The best values of the subsets one dim larger."""
        rank = {d: i for i, d in enumerate(self.dims)}
        larger: dict[Dims, np.ndarray] = {}
        came_from = self.came_from
        for inner, value in self.best.items():
            for d in self.dims:
                if d in inner:
                    continue
                gain = value + self.level(self.batch, inner, d)
                key = inner | {d}
                current = larger.get(key)
                if self.trace and (current is None or gain[0] > current[0] or (
                        gain[0] == current[0] and rank[d] < rank[came_from[key].dim])):
                    came_from[key] = Step(inner, d)
                larger[key] = gain if current is None else np.maximum(current, gain)
        self.best = larger
        self.size += 1

    def bound(self, rest: Callable[[Batch, Dims], np.ndarray]) -> np.ndarray:
        """``max_S best[S] + rest(S)`` over the current size's subsets, per combination.

        A dim a combination does not tile is the same wherever it stands (no step, one
        position), so some best order puts all such dims outermost: the max need only
        cover, per combination, the subsets of its tiled dims, or those holding them all
        once the size passes their number. Subsets that hold an untiled dim otherwise
        would repeat a smaller size's bound, the weaker one."""
        tiled = {d: self.batch.grid[d] > 1 for d in self.dims}
        values = []
        for inner, value in self.best.items():
            holds_untiled = np.zeros(self.batch.size, dtype=bool)
            for d in inner:
                holds_untiled |= ~tiled[d]
            misses_tiled = np.zeros(self.batch.size, dtype=bool)
            for d in self.dims:
                if d not in inner:
                    misses_tiled |= tiled[d]
            values.append(np.where(holds_untiled & misses_tiled, UNREACHABLE,
                                   value + rest(self.batch, inner)))
        return np.max(values, axis=0)

    def restrict(self, keep: np.ndarray, batch: Batch):
        """Go on with the combinations ``keep`` selects, ``batch`` holding just those."""
        self.batch = batch
        self.best = {inner: value[keep] for inner, value in self.best.items()}

    def result(self) -> np.ndarray:
        return self.best[frozenset(self.dims)]


Wanted = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``wanted(indices, reuse_bound)``: which of the combinations at ``indices`` of a batch,
whose reuse is at most ``reuse_bound``, are still worth evaluating."""


def program_where(batch: Batch, level: LevelReuse, ends: bool, wanted: Wanted
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The program over subsets, dropping combinations between sizes: after each size the
    reuse of a combination is at most ``max_S best[S] + entries(S)`` (the best reuse with
    ``S`` innermost, plus all that the levels outside ``S`` can reuse, ``Batch.entries``),
    and those that ``wanted`` rejects on that bound go no further. Returns the program's
    values of the rest and their indices in the batch."""
    program = SubsetProgram(batch, level)
    indices = np.arange(batch.size)
    while not program.done:
        program.extend()
        if program.done:
            break
        keep = wanted(indices, program.bound(lambda part, inner: part.entries(inner, ends)))
        if not keep.all():
            indices = indices[keep]
            if len(indices) == 0:
                return np.zeros(0, dtype=np.int64), indices
            program.restrict(keep, batch.subset(indices))
    return program.result(), indices


def _subset_program(batch: Batch, level: LevelReuse, trace: bool = False
                    ) -> tuple[np.ndarray, dict[Dims, Step]]:
    """The whole ``SubsetProgram``: the best over all dims, and its steps with ``trace``."""
    program = SubsetProgram(batch, level, trace)
    while not program.done:
        program.extend()
    return program.result(), program.came_from
