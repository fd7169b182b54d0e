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
every inner dim (``scan_reuse_bound``); the optimizer runs the exact program only where the
bound cannot rule a combination out.

Every function takes a ``Batch`` of combinations and returns the weighted reuse
``sum_X w_X reuse_X`` per combination (``w`` is 2 for the output, read back and written).
"""

from __future__ import annotations

import itertools

import numpy as np

from .tables import INNER, OUTER, STEP, NestTables

UNREACHABLE = np.iinfo(np.int64).min // 4


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
        self._gathered: dict = {}
        self._levels: dict = {}

    def tile_counts(self) -> np.ndarray:
        return np.prod([self.grid[d] for d in self.grid], axis=0)

    def footprint_sums(self) -> np.ndarray:
        """``(tensors, batch)``: each tensor's footprint size summed over all tiles."""
        return np.prod([c.S[:, idx] for c, idx in zip(self.tables.clusters, self.indices)],
                       axis=0)

    def peaks(self) -> np.ndarray:
        """Exact buffer peak: the best combination of the clusters' Pareto vectors."""
        vectors = [c.peak_vectors[idx] for c, idx in zip(self.tables.clusters, self.indices)]
        best = np.zeros(self.size, dtype=np.int64)
        for choice in itertools.product(*(range(v.shape[1]) for v in vectors)):
            per_tensor = np.prod([v[:, j, :] for v, j in zip(vectors, choice)], axis=0)
            best = np.maximum(best, per_tensor.sum(axis=1))
        return best

    def gathered(self, key, cluster_index: int, table_of) -> tuple[np.ndarray, np.ndarray]:
        """``table[:, indices]`` for one cluster and which of its tensor rows are not all 0,
        memoised by ``key`` within the batch (``table_of()`` makes the table if needed)."""
        if key not in self._gathered:
            values = table_of()[:, self.indices[cluster_index]]
            self._gathered[key] = values, values.any(axis=1)
        return self._gathered[key]

    def level(self, key, roles_of, value_of, tensor: int | None = None) -> np.ndarray:
        """``sum_X w_X prod_clusters value_of(cluster, roles)[X]`` for one level, memoised
        by ``key``; tensors with an all-zero factor are skipped. With ``tensor``, only that
        tensor's unweighted reuse."""
        key = (key, tensor)
        if key not in self._levels:
            factors = [value_of(k, cluster, tuple(roles_of(d) for d in cluster.dims))
                       for k, cluster in enumerate(self.tables.clusters)]
            if tensor is None:  # on-chip data (weight 0): its reuse moves nothing
                weights = self.tables.weights
            else:
                weights = np.zeros(len(self.tables.weights), dtype=np.int64)
                weights[tensor] = 1
            rows = weights != 0
            for _, live in factors:
                rows &= live
            rows = np.flatnonzero(rows)
            if len(rows) == 0:
                self._levels[key] = np.zeros(self.size, dtype=np.int64)
            else:
                product = factors[0][0][rows] * weights[rows, None]
                for values, _ in factors[1:]:
                    product *= values[rows]
                self._levels[key] = product.sum(axis=0)
        return self._levels[key]


def _roles(inner: frozenset, step: str):
    """Roles of dims at the level where ``step`` steps inside the ``inner`` dims (inactive
    dims, in neither, count as outer)."""
    return lambda d: STEP if d == step else (INNER if d in inner else OUTER)


# --- lex ----------------------------------------------------------------------------------

def _lex_level(batch: Batch, inner: frozenset, d: str, tensor=None) -> np.ndarray:
    return batch.level(("lex", inner, d), _roles(inner, d), lambda k, cluster, roles:
                       batch.gathered(("lex", k, roles), k, lambda: cluster.lex(roles)), tensor)


def lex_reuse(batch: Batch) -> np.ndarray:
    """Best weighted lex reuse over all orders, per combination."""
    return _subset_program(batch, _lex_level, keep=False)[frozenset(batch.dims)]


def lex_reuse_of_order(batch: Batch, order: tuple[str, ...]) -> np.ndarray:
    """Weighted lex reuse of one given loop order (outer to inner), per combination."""
    reuse = np.zeros(batch.size, dtype=np.int64)
    inner = frozenset()
    for d in reversed([d for d in order if d in batch.dims]):
        reuse += _lex_level(batch, inner, d)
        inner = inner | {d}
    return reuse


def lex_order(batch: Batch) -> tuple[str, ...]:
    """A best lex order (outer to inner) of a batch holding one combination."""
    best = _subset_program(batch, _lex_level, keep=True)
    return _trace_subsets(batch, best, _lex_level)


# --- scan ---------------------------------------------------------------------------------

def _scan_bound_level(batch: Batch, inner: frozenset, d: str) -> np.ndarray:
    roles_of = _roles(inner, d)
    odd = batch.level(("scan", inner, frozenset(), d, 1), roles_of, lambda k, cluster, roles:
                      batch.gathered(("scan", k, roles, 1, _none_last(roles)), k,
                                     lambda: cluster.scan(roles, 1, _none_last(roles))))
    even = batch.level(("scan-max", inner, d), roles_of, lambda k, cluster, roles:
                       batch.gathered(("scan-max", k, roles), k, lambda: np.max(
                           [cluster.scan(roles, 0, last) for last in _inner_choices(roles)],
                           axis=0)))
    return odd + even


def scan_reuse_bound(batch: Batch) -> np.ndarray:
    """An upper bound on the weighted scan reuse of every order (lex-sized state)."""
    return _subset_program(batch, _scan_bound_level, keep=False)[frozenset(batch.dims)]


def _scan_level(batch: Batch, inner: frozenset, last: frozenset, d: str,
                tensor=None) -> np.ndarray:
    roles_of = _roles(inner, d)

    def at(parity):
        def value(k, cluster, roles):
            flags = tuple(parity == 0 and dim in last
                          for dim, role in zip(cluster.dims, roles) if role == INNER)
            return batch.gathered(("scan", k, roles, parity, flags), k,
                                  lambda: cluster.scan(roles, parity, flags))
        return value

    return (batch.level(("scan", inner, last, d, 0), roles_of, at(0), tensor)
            + batch.level(("scan", inner, frozenset(), d, 1), roles_of, at(1), tensor))


def reuse_per_tensor(batch: Batch, order: tuple[str, ...], traversal: str) -> np.ndarray:
    """``(tensors,)`` unweighted reuse of one schedule: a batch of one combination, a loop
    order (outer to inner) and lex or scan."""
    active = [d for d in order if d in batch.dims]
    reuse = np.zeros(len(batch.tables.keys), dtype=np.int64)
    inner, last = frozenset(), frozenset()
    for d in reversed(active):
        for x in range(len(reuse)):
            level = (_lex_level(batch, inner, d, x) if traversal == "lex"
                     else _scan_level(batch, inner, last, d, x))
            reuse[x] += level[0]
        (target, _), (other, _) = _scan_targets(batch, inner, last, d)
        inner, last = target if batch.grid[d][0] % 2 == 1 else other
    return reuse


def _scan_targets(batch: Batch, inner: frozenset, last: frozenset, d: str):
    """States reached by putting ``d`` outside ``(inner, last)``, with where each applies."""
    odd = batch.grid[d] % 2 == 1  # after a forward sweep over d, the inner sweep ran forward
    return (((inner | {d}, last | {d}), odd), ((inner | {d}, frozenset({d})), ~odd))


def _scan_program(batch: Batch) -> dict:
    """Exact program over states (inner dims, those of them left at their last tile)."""
    best = {(frozenset(), frozenset()): np.zeros(batch.size, dtype=np.int64)}
    for size in range(len(batch.dims)):
        for (inner, last) in [key for key in best if len(key[0]) == size
                              and best[key].max() > UNREACHABLE // 2]:
            for d in batch.dims:
                if d in inner:
                    continue
                gain = best[inner, last] + _scan_level(batch, inner, last, d)
                for key, applies in _scan_targets(batch, inner, last, d):
                    candidate = np.where(applies, gain, UNREACHABLE)
                    best[key] = np.maximum(best[key], candidate) if key in best else candidate
    return best


def scan_reuse(batch: Batch) -> np.ndarray:
    """Exact best weighted scan reuse over all orders, per combination."""
    best = _scan_program(batch)
    return np.max([v for (inner, _), v in best.items() if len(inner) == len(batch.dims)],
                  axis=0)


def scan_order(batch: Batch) -> tuple[str, ...]:
    """A best scan order (outer to inner) of a batch holding one combination."""
    best = _scan_program(batch)
    full = [key for key in best if len(key[0]) == len(batch.dims)]
    key = max(full, key=lambda k: best[k][0])
    order = []
    while key[0]:
        key, d = next((previous, d) for previous in best if len(previous[0]) == len(key[0]) - 1
                      for d in key[0] - previous[0]
                      if any(target == key and applies[0]
                             for target, applies in _scan_targets(batch, *previous, d))
                      and best[previous][0] > UNREACHABLE // 2
                      and best[previous][0] + _scan_level(batch, *previous, d)[0] == best[key][0])
        order.append(d)
    return tuple(order)


# --- the program over subsets ---------------------------------------------------------------

def _subset_program(batch: Batch, level, keep: bool) -> dict:
    """Longest path over subsets of dims: ``best[S | d] = max(best[S] + level(S, d))``."""
    best = {frozenset(): np.zeros(batch.size, dtype=np.int64)}
    for size in range(len(batch.dims)):
        layer = [s for s in best if len(s) == size]
        for inner in layer:
            for d in batch.dims:
                if d not in inner:
                    gain = best[inner] + level(batch, inner, d)
                    key = inner | {d}
                    best[key] = np.maximum(best[key], gain) if key in best else gain
        if not keep:  # every superset one larger is done
            for inner in layer:
                del best[inner]
    return best


def _trace_subsets(batch: Batch, best: dict, level) -> tuple[str, ...]:
    """The order behind the best value, ties to the earliest dim of the nest (not a set's
    iteration order: that varies with the hash seed from run to run)."""
    key, order = frozenset(batch.dims), []
    while key:
        d = next(d for d in batch.dims if d in key and
                 best[key - {d}][0] + level(batch, key - {d}, d)[0] == best[key][0])
        order.append(d)
        key = key - {d}
    return tuple(order)


def _none_last(roles) -> tuple[bool, ...]:
    return tuple(False for role in roles if role == INNER)


def _inner_choices(roles):
    return list(itertools.product((False, True), repeat=sum(r == INNER for r in roles)))
