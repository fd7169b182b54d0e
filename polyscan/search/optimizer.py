"""``ps.optimize``: the schedule of least DRAM traffic under a buffer capacity, provably.

The space (DESIGN section 4): every balanced tile size ``ceil(E/n)`` of every dim, every
order of the dims, lex and scan. Every tile-size combination is evaluated: its exact peak
(``Batch.peaks``) decides feasibility; for lex, a dynamic program over subsets of dims finds
the best of all ``m!`` orders at once (``orders.lex_reuse``); for scan, the same program on
an upper bound of reuse gives a lower bound of traffic for every combination, and the exact
scan program (``orders.scan_reuse``) then runs on combinations in increasing order of that
bound until the bound passes the best exact traffic found; both programs drop a combination
part-way once a partial bound shows it cannot win (``orders.program_where``). Nothing is
sampled: a schedule is only skipped when a valid bound proves it cannot win. Ties go to
fewer tiles, then lower peak, then the traversal listed first. See ``docs/optimizer.md``.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass, field

import numpy as np

from ..caches import MISSING, keep, peek, stored
from ..cost.accelerator import Accelerator
from ..cost.compute import least_macs
from ..cost.dram import DramCost, DramSettings
from ..cost.timing import TimeCost, makespan
from ..cost.traffic import Traffic
from ..errors import BufferTooSmallError, PolyscanError
from ..model.layer import Layer
from ..model.nest import ACCUMULATE, EXPORTED, READ, Nest
from ..model.schedule import Schedule
from .bounded import double_buffered_search
from .orders import (
    Batch,
    lex_order,
    lex_reuse_where,
    reuse_per_tensor,
    scan_order,
    scan_reuse,
    scan_reuse_bound_where,
)
from .parallel import evaluate_split
from .tables import NestTables, tables_for

SEARCHABLE = ("lex", "scan")
OBJECTIVES = ("traffic", "energy", "latency")
CHUNK = 1 << 15  # tile-size combinations evaluated together
CANDIDATES = 16  # least-traffic schedules per traversal compared on DRAM energy or time
FIRST_ROUND = 1024  # combinations evaluated before the first incumbent prunes the rest


@dataclass
class TraversalResult:
    """The best schedule of one traversal, with the figures the search computed for it."""

    traversal: str
    schedule: Schedule
    traffic: Traffic  # computed from the tables; equal to ps.traffic(schedule) (tested)
    exact_evaluations: int  # combinations whose exact program ran to the end
    dram: DramCost | None = None  # when the objective is energy (or ties were costed)
    time: TimeCost | None = None  # when the objective is latency: the makespan

    def figure(self, objective: str) -> float:
        """What ``objective`` minimises: entries, DRAM energy (pJ) or the makespan
        (accelerator cycles)."""
        if objective == "traffic":
            return self.total
        return self.time.cycles if objective == "latency" else self.dram.energy_pj

    @property
    def total(self) -> int:
        return self.traffic.total

    @property
    def tiles(self) -> int:
        return self.traffic.tiles

    @property
    def peak(self) -> int:
        return self.traffic.peak


@dataclass
class Search:
    """What a search found, and how much of the space it had to evaluate."""

    name: str
    buffer: int
    combinations: int  # tile-size combinations
    feasible: int  # of which the peak fits the buffer
    orders: int  # loop orders per combination (m!), all covered by the programs
    objective: str = "traffic"
    results: dict[str, TraversalResult] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def best(self) -> TraversalResult:
        return min(self.results.values(), key=lambda r: _rank(r, self.objective))

    @property
    def schedule(self) -> Schedule:
        return self.best.schedule

    @property
    def candidates(self) -> int:
        """Schedules in the space: combinations x orders x traversals."""
        return self.combinations * self.orders * len(self.results)


def optimize(layer: Layer, buffer: int, traversals=SEARCHABLE, objective: str = "traffic",
             dram: DramSettings | None = None, accel: Accelerator | None = None,
             double_buffer: bool = False) -> Schedule:
    """The schedule of minimum total DRAM traffic whose peak fits ``buffer`` entries; with
    ``objective="energy"``, the one of least modeled DRAM energy among the ``CANDIDATES``
    least-traffic schedules of each traversal (``dram`` sets the device and data layout);
    with ``objective="latency"``, the one of least makespan on ``accel`` (by default a
    16 x 16 array at 1 GHz beside this buffer and DRAM), exactly (``search.bounded``).
    ``double_buffer=True`` holds the double-buffered peak to ``buffer`` (docs/time.md)."""
    return search_layer(layer, buffer, traversals, objective, dram, accel,
                        double_buffer).schedule


def search_layer(layer: Layer, buffer: int, traversals=SEARCHABLE, objective: str = "traffic",
                 dram: DramSettings | None = None, accel: Accelerator | None = None,
                 double_buffer: bool = False) -> Search:
    """``optimize`` with the figures of the search (sizes of the space, evaluations, time)."""
    return search_nest(layer.nest, functools.partial(Schedule, layer),
                       f"layer {layer.name!r}", buffer, traversals, objective, dram,
                       accel=accel, double_buffer=double_buffer)


def search_nest(nest: Nest, make_schedule, label: str, buffer: int,
                traversals=SEARCHABLE, objective: str = "traffic",
                dram: DramSettings | None = None, limit: float | None = None,
                ties: bool = False, accel: Accelerator | None = None,
                double_buffer: bool = False) -> Search | None:
    """The best schedules of ``nest``; ``make_schedule(tile, order, traversal)`` builds them
    (a Schedule of a layer, a FusedSchedule of a group); ``label`` names the nest.

    ``limit``: a caller that only wants the nest if it costs less than ``limit`` gets None
    when no schedule does. For traffic the programs prune against it from the first
    combination on (as against a found optimum); if some traversal beats it, the others are
    then searched without it, so that every traversal still reports its own optimum. For
    energy and latency the programs prune at the fewest entries that cannot beat it (their
    cheapest cost, ``least_cost``), and each candidate's count stops once it passes it; a
    traversal none of whose candidates beats it is then searched again without it.

    ``ties``: for traffic, each traversal's optimum is then the one of least DRAM energy
    among its ``CANDIDATES`` least-traffic schedules of equal traffic (fewest tiles first),
    not merely the one of fewest tiles; best with a ``limit`` just above the least traffic,
    which prunes every schedule that does not tie.

    ``objective="latency"`` (the makespan on ``accel``) and ``double_buffer`` search by
    branch and bound (``search.bounded``); a traversal that cannot beat ``limit`` is then
    left out of the results."""
    start = time.perf_counter()
    traversals = _checked_traversals(traversals)
    buffer = checked_buffer(buffer)
    objective = checked_objective(objective)
    if not isinstance(double_buffer, bool):
        raise PolyscanError(f"double_buffer must be True or False, got {double_buffer!r}")
    dram = dram or DramSettings()
    if objective == "latency" and accel is None:
        accel = default_accelerator(buffer, dram)
    settings = (nest, make_schedule, label, buffer, traversals, objective, dram, limit, ties,
                accel, double_buffer)
    key = (nest.shape_key, buffer, traversals, objective, repr(dram), repr(dram.device()[0]),
           limit, ties, repr(accel), double_buffer)
    if limit is not None and objective != "latency" and not ties and not double_buffer:
        found = _shared(key, settings)
    else:
        found = stored("search", key, lambda: _search(*settings),
                       encode=functools.partial(_encoded, nest),
                       decode=lambda data: _decoded(data, *settings))
    if found is not None:
        found.seconds = time.perf_counter() - start
    return found


def _shared(key: tuple, settings: tuple) -> Search | None:
    """A search under a limit, through what the store knows of the nest without a limit:
    its optimum answers every limit (energy keeps a cost at the limit), and "nothing below
    L" answers every limit up to L. A search under a limit that finds something has found
    the optimum itself (every traversal reports its own: ``_search``), so what it finds is
    kept as the unbounded optimum, and what it does not find raises the known L. Searches
    of the same run under other limits (the partition search's helper, another cut) then
    need not search again."""
    nest, objective, limit = settings[0], settings[5], settings[7]
    unbounded = key[:6] + (None,) + key[7:]
    optimum = peek("search", unbounded, lambda data: _decoded(data, *settings))
    if optimum is not MISSING:
        figure = optimum.best.figure(objective)
        return optimum if (figure < limit if objective == "traffic" else figure <= limit) \
            else None
    below = peek("nothing-below", unbounded)
    below = below if isinstance(below, (int, float)) else None  # absent, or damaged
    if below is not None and limit <= below:
        return None
    found = _search(*settings)
    if found is not None:
        keep("search", unbounded, _encoded(nest, found))
    else:
        keep("nothing-below", unbounded, limit if below is None else max(below, limit))
    return found


def _encoded(nest: Nest, search: Search | None) -> tuple | None:
    """What the disk cache keeps of a search: its figures and, per traversal, the schedule
    as (tile, order) and its traffic and DRAM cost, operands by position (equal-shaped
    nests of other names share it)."""
    if search is None:
        return None
    position = {key: i for i, key in enumerate(nest.operands)}
    results = tuple((r.traversal, tuple(r.schedule.tile.items()), tuple(r.schedule.order),
                     tuple({position[k]: v for k, v in counts.items()}
                           for counts in (r.traffic.reads, r.traffic.writes,
                                          r.traffic.recomputed)),
                     r.traffic.peak, r.traffic.tiles, r.exact_evaluations, r.dram,
                     r.time is not None)
                    for r in search.results.values())
    return search.combinations, search.feasible, search.orders, results


def _decoded(data: tuple | None, nest: Nest, make_schedule, label, buffer, traversals,
             objective, dram, limit, ties, accel, double_buffer) -> Search | None:
    """The search ``_encoded`` kept, for this nest: schedules made again, makespans counted
    again (they hold the schedules)."""
    if data is None:
        return None
    combinations, feasible, orders, results = data
    keys = tuple(nest.operands)
    search = Search(nest.name, buffer, combinations, feasible, orders, objective)
    for traversal, tile, order, counts, peak, tiles, evaluated, dram_cost, timed in results:
        reads, writes, recomputed = ({keys[i]: v for i, v in c.items()} for c in counts)
        result = TraversalResult(traversal, make_schedule(dict(tile), order, traversal),
                                 Traffic(reads, writes, peak, tiles, recomputed), evaluated,
                                 dram_cost)
        if timed:
            result = _costed([result], "latency", dram, None, accel, double_buffer)[0]
        search.results[traversal] = result
    return search


def _search(nest: Nest, make_schedule, label: str, buffer: int, traversals, objective: str,
            dram: DramSettings, limit: float | None, ties: bool, accel: Accelerator | None,
            double_buffer: bool) -> Search | None:
    """``search_nest`` with its arguments checked, not looked up on disk."""
    start = time.perf_counter()
    tables = tables_for(nest)
    keep = 1 if objective == "traffic" and not ties else CANDIDATES
    space = Space(tables, make_schedule, label, keep=keep)
    feasible = space.feasible(buffer)
    search = Search(nest.name, buffer, tables.combos, len(feasible[0]),
                    math.factorial(len(nest.dims)), objective)
    searched = _double_buffered if double_buffer else _least_traffic
    ceiling = limit if objective == "traffic" else \
        _entries_ceiling(objective, limit, dram, accel, nest, double_buffer)
    results = searched(space, feasible, traversals, buffer, ceiling)
    if ceiling is not None and not any(results.values()):
        return None  # nothing beats the caller's limit

    def unbounded(missing: tuple[str, ...]):  # every traversal reports its own optimum
        if missing and ceiling is not None:
            results.update(searched(Space(tables, make_schedule, label, keep=keep), feasible,
                                    missing, buffer, None))

    if objective != "traffic":
        costed = {t: _costed(results[t], objective, dram, limit, accel, double_buffer)
                  for t in traversals}
        if not any(costed.values()):
            return None  # nothing beats the caller's limit
        unbounded(tuple(t for t in traversals if not costed[t]))
        results = {t: costed[t] or _costed(results[t], objective, dram, None, accel,
                                           double_buffer) for t in traversals}
    else:
        unbounded(tuple(t for t in traversals if not results[t]))
        if ties:
            least = min(r.total for found in results.values() for r in found)
            results = {t: [r for r in found if r.total == least] or found[:1]
                       for t, found in results.items()}
            if sum(len(found) for found in results.values()) > 1:  # else nothing to break
                results = {t: _costed(found, "energy", dram) for t, found in results.items()}
    for traversal in traversals:  # listed order: ties go to the first
        if results[traversal]:  # (double-buffered, a traversal may have none that fits)
            search.results[traversal] = min(results[traversal],
                                            key=lambda r: _rank(r, objective))
    search.seconds = time.perf_counter() - start
    return search


def _entries_ceiling(objective: str, limit: float | None, dram: DramSettings,
                     accel: Accelerator | None, nest: Nest, double_buffer: bool) -> int | None:
    """The fewest entries whose least cost (``least_cost``) is above ``limit``: no schedule
    moving that many can beat it, so the traffic search may prune there (for energy and
    latency, whose candidates are the least-traffic schedules; those at or above it would
    only be skipped when costed). None without a limit."""
    if limit is None or not math.isfinite(limit):
        return None
    macs = least_macs(nest) if objective == "latency" else 0

    def least(entries: int) -> float:
        return least_cost(objective, entries, dram, accel, macs, double_buffer)

    if least(0) > limit:
        return 0  # its MACs alone (latency) cost more: no schedule can beat it
    low, high = 0, 1  # least(low) <= limit, and limit < least(high) once the loop ends
    while least(high) <= limit:
        low, high = high, 2 * high
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if least(middle) <= limit else (low, middle)
    return high


def _least_traffic(space: Space, feasible, traversals, buffer: int, limit
                   ) -> dict[str, list[TraversalResult]]:
    """The ``space.keep`` least-traffic schedules of each traversal (the order programs);
    under ``limit``, only those below it."""
    if limit is not None:
        space.ceiling = (limit, -1, -1, -1)
    evaluated = dict.fromkeys(traversals, 0)

    def evaluate(flat, tiles, peaks, best):
        found = {}
        for traversal in traversals:
            totals = _lex_totals if traversal == "lex" else _scan_totals
            found[traversal], count = evaluate_split(totals, space, flat, tiles, peaks,
                                                     best[traversal])
            evaluated[traversal] += count
        return found

    best = space.ranked_search(feasible, traversals, evaluate)
    if limit is not None:
        best = {t: tuple(k for k in keys if k < space.ceiling) for t, keys in best.items()}
    return {t: [_result(space, t, key, evaluated[t]) for key in best[t]] for t in traversals}


def _double_buffered(space: Space, feasible, traversals, buffer: int, limit
                     ) -> dict[str, list[TraversalResult]]:
    """The same under the double-buffered capacity rule (``search.bounded``)."""
    found, smallest = double_buffered_search(space, feasible, traversals, buffer, space.keep,
                                             limit)
    if not any(found.values()) and limit is None:
        raise BufferTooSmallError(f"{space.label} (double-buffered)", buffer,
                                  smallest if smallest is not None else buffer + 1)
    return {t: [TraversalResult(t, f.schedule, f.traffic, 0) for f in found[t]]
            for t in traversals}


def default_accelerator(buffer: int, dram: DramSettings) -> Accelerator:
    """The accelerator a latency search assumes when given none: a 16 x 16 array at 1 GHz
    beside this buffer and DRAM."""
    return Accelerator(buffer_bytes=-(-buffer * dram.element_bits // 8),
                       element_bits=dram.element_bits, dram=dram.preset, name="default")


def _costed(results: list[TraversalResult], objective: str, dram: DramSettings,
            limit: float | None = None, accel: Accelerator | None = None,
            double_buffer: bool = False) -> list[TraversalResult]:
    """The results that may have the least DRAM energy (or makespan on ``accel``), with
    their cost; none of them if all cost more than ``limit``.

    Fewest tiles first (large tiles make long runs: a low incumbent early); a candidate
    whose entries cost more at the cheapest burst (with its MACs at full use of the array,
    for latency) is not counted, and a count stops as soon as its partial cost exceeds the
    incumbent's, so scattered candidates are cheap to reject."""
    kept, least = [], limit
    macs = {}  # nest -> its least MACs (the results share one, or a few)
    for result in sorted(results, key=lambda r: (r.tiles, r.total)):
        nest = result.schedule.nest
        if objective == "latency" and nest not in macs:
            macs[nest] = least_macs(nest)
        floor = least_cost(objective, result.total, dram, accel, macs.get(nest, 0),
                           double_buffer)
        if least is not None and floor > least:
            continue  # its entries at the cheapest burst (and its MACs) cost more
        if objective == "latency":
            result.time = makespan(result.schedule, accel, double_buffer, least)
            figure = None if result.time is None else result.time.cycles
        else:
            result.dram = dram.cost(result.schedule, over=None if least is None else
                                    lambda cost, limit=least: cost.energy_pj > limit)
            figure = None if result.dram is None else result.dram.energy_pj
        if figure is not None:
            kept.append(result)
            least = figure if least is None else min(least, figure)
    return kept


def least_cost(objective: str, entries: int, dram: DramSettings,
               accel: Accelerator | None, macs: int = 0, double_buffer: bool = False) -> float:
    """The least that moving ``entries`` can cost: ``DramSettings.least_cost``; for latency
    that DRAM time in the accelerator's cycles with the fewest cycles ``macs`` MACs take on
    its array, added (serial) or the longer of the two (double-buffered: they overlap at
    best), since a makespan is never less."""
    cost = dram.least_cost(objective, entries)
    if objective != "latency":
        return cost
    moving = cost * dram.device()[0].tCK * 1e-3 * accel.clock_mhz
    working = -(-macs // accel.pes)
    return max(moving, working) if double_buffer else moving + working


def _rank(result: TraversalResult, objective: str):
    """Sort key of a result: the objective's figure first, then traffic, DRAM energy (where
    ties were costed), tiles, peak."""
    figure = result.figure(objective)
    energy = 0 if result.dram is None else result.dram.energy_pj
    return figure, result.total, energy, result.tiles, result.peak


def checked_objective(objective) -> str:
    if objective not in OBJECTIVES:
        raise PolyscanError(f"objective must be one of {', '.join(OBJECTIVES)}, got "
                            f"{objective!r}")
    return objective


class Space:
    """The tile-size combinations of a nest: flat indices over the clusters' combinations."""

    def __init__(self, tables: NestTables, make_schedule, label: str, keep: int = 1,
                 ceiling: tuple | None = None):
        self.tables = tables
        self.make_schedule = make_schedule
        self.label = label
        self.keep = keep  # how many of the best keys each search keeps
        self.ceiling = ceiling  # a key nothing worth finding reaches (None: no such key)
        self.shape = [c.combos for c in tables.clusters]

    def batch(self, flat: np.ndarray) -> Batch:
        return Batch(self.tables, list(np.unravel_index(flat, self.shape)))

    def ranked_search(self, feasible, targets, evaluate) -> dict:
        """The ``keep`` best (total, tiles, peak, flat) keys per target (a traversal, a loop
        order...), sorted.

        ``evaluate(flat, tiles, peaks, best)`` returns the best keys per target among the
        given combinations. Every schedule moves at least the compulsory traffic, so the
        combinations are taken in increasing (tiles, peak): once every target's kept keys
        are compulsory, no later combination can enter them, and the search stops.
        """
        flat, tiles, peaks = feasible
        floor = self.tables.compulsory
        ranking = np.lexsort((flat, peaks, tiles))
        best = {t: () for t in targets}
        for first, last in _growing(len(ranking), FIRST_ROUND):
            chosen = ranking[first:last]
            alive = np.zeros(len(chosen), dtype=bool)
            for b in best.values():
                alive |= _below((floor, tiles[chosen], peaks[chosen], flat[chosen]),
                                self.limit(b))
            if alive.any():
                chosen = chosen[alive]
                found = evaluate(flat[chosen], tiles[chosen], peaks[chosen], best)
                best = {t: self.merge(best[t], found[t]) for t in targets}
            after = ranking[last:last + 1]
            limits = [self.limit(b) for b in best.values()]
            if len(after) and all(b is not None and b[0] == floor for b in limits) \
                    and not any(_below((floor, tiles[after], peaks[after], flat[after]), b)[0]
                                for b in limits):
                break
        return best

    def merge(self, a: tuple, b: tuple) -> tuple:
        """The ``keep`` least keys of two sorted tuples of keys."""
        return tuple(sorted(set(a) | set(b)))[:self.keep]

    def limit(self, keys: tuple):
        """The key a combination must beat to enter ``keys`` (None: anything enters)."""
        own = keys[-1] if len(keys) >= self.keep else None
        if self.ceiling is None:
            return own
        return self.ceiling if own is None else min(own, self.ceiling)

    def least(self, totals, tiles, peaks, flat) -> tuple:
        """The ``keep`` least (total, tiles, peak, flat index) keys of a batch, sorted."""
        ranking = np.lexsort((flat, peaks, tiles, totals))[:self.keep]
        return tuple((int(totals[i]), int(tiles[i]), int(peaks[i]), int(flat[i]))
                     for i in ranking)

    def schedule(self, flat: int, order, traversal) -> Schedule:
        """The schedule of combination ``flat``: its tiled dims, in the relative ``order``."""
        extents = self.tables.nest.extents
        indices = np.unravel_index(flat, self.shape)
        tile = {d: int(c.tiles[indices[k], i]) for k, c in enumerate(self.tables.clusters)
                for i, d in enumerate(c.dims) if c.tiles[indices[k], i] < extents[d]}
        return self.make_schedule(tile, tuple(d for d in order if d in tile), traversal)

    def traffic(self, flat: int, order, traversal, batch: Batch | None = None) -> Traffic:
        """Per-tensor traffic of one schedule from the tables: sums over tile positions,
        not over tiles, so a schedule of millions of tiles costs what one of ten does
        (``batch``: combination ``flat`` alone, whose levels the orders of a search share)."""
        batch = batch or self.batch(np.array([flat]))
        entries = batch.footprint_sums()[:, 0] - reuse_per_tensor(batch, order, traversal)
        reads, writes = {}, {}
        for x, key in enumerate(self.tables.keys):
            kind = self.tables.nest.operands[key].kind
            if kind == READ:
                reads[key] = int(entries[x])
            elif kind == ACCUMULATE:
                reads[key] = int(entries[x] - self.tables.touched[x])
                writes[key] = int(entries[x])
            elif kind == EXPORTED:
                writes[key] = int(self.tables.touched[x])
        return Traffic(reads, writes, int(batch.peaks()[0]), int(batch.tile_counts()[0]))

    def base(self, batch: Batch) -> np.ndarray:
        """Traffic with no reuse at all: a schedule's traffic is this minus its reuse."""
        return self.tables.weights @ batch.footprint_sums() + self.tables.constant

    def feasible(self, buffer: int):
        """(flat index, tiles, peak) of every combination whose peak fits ``buffer``."""
        kept = []
        smallest = math.inf
        for first in range(0, self.tables.combos, CHUNK):
            flat = np.arange(first, min(first + CHUNK, self.tables.combos))
            batch = self.batch(flat)
            peaks = batch.peaks()
            smallest = min(smallest, int(peaks.min()))
            fits = peaks <= buffer
            kept.append((flat[fits], batch.tile_counts()[fits], peaks[fits]))
        flat, tiles, peaks = (np.concatenate(column) for column in zip(*kept))
        if len(flat) == 0:
            raise BufferTooSmallError(self.label, buffer, smallest)
        return flat, tiles, peaks


def _lex_totals(space: Space, flat, tiles, peaks, best):
    """Best lex traffic (over all orders at once): the exact program, size by size, on the
    combinations whose traffic bound (``orders.lex_reuse_where``) can still beat the best
    found; returns the best keys and the combinations evaluated to the end."""
    found, evaluated = (), 0
    for first in range(0, len(flat), CHUNK):
        part = slice(first, first + CHUNK)
        batch = space.batch(flat[part])
        base = space.base(batch)
        keys = tiles[part], peaks[part], flat[part]
        limit = space.limit(space.merge(best, found))
        reuse, rows = lex_reuse_where(batch, _can_beat(limit, base, *keys))
        evaluated += len(rows)
        found = space.merge(found, space.least(base[rows] - reuse,
                                               *(key[rows] for key in keys)))
    return found, evaluated


def _can_beat(limit, base, tiles, peaks, flat):
    """``wanted`` for ``orders.program_where``: the combinations (of a batch with these
    ``base`` traffics and keys) whose traffic, at least ``base - reuse_bound``, may still
    make a key below ``limit``."""
    def wanted(rows, reuse_bound):
        return _below((base[rows] - reuse_bound, tiles[rows], peaks[rows], flat[rows]), limit)
    return wanted


def _scan_totals(space: Space, flat, tiles, peaks, best):
    """Best scan traffic: a bound for every combination that a partial bound does not
    already rule out against ``best`` (``orders.scan_reuse_bound_where``), then the exact
    program where the bound does not rule the combination out (exact traffic >= bound), in
    increasing bound order."""
    limit = space.limit(best)
    bounds, bases, kept = [], [], []
    for first in range(0, len(flat), CHUNK):
        part = np.arange(first, min(first + CHUNK, len(flat)))
        batch = space.batch(flat[part])
        base = space.base(batch)
        wanted = _can_beat(limit, base, tiles[part], peaks[part], flat[part])
        reuse, rows = scan_reuse_bound_where(batch, wanted)
        bases.append(base[rows])
        bounds.append(base[rows] - reuse)
        kept.append(part[rows])
    bound, base, kept = np.concatenate(bounds), np.concatenate(bases), np.concatenate(kept)
    flat, tiles, peaks = flat[kept], tiles[kept], peaks[kept]
    ranking = np.lexsort((flat, peaks, tiles, bound))
    found, evaluated = (), 0
    for first, last in _growing(len(ranking), 256):
        chosen = ranking[first:last]
        incumbent = space.limit(space.merge(best, found))
        chosen = chosen[_below((bound[chosen], tiles[chosen], peaks[chosen], flat[chosen]),
                               incumbent)]
        if len(chosen) == 0:
            break
        totals = base[chosen] - scan_reuse(space.batch(flat[chosen]))
        evaluated += len(chosen)
        found = space.merge(found, space.least(totals, tiles[chosen], peaks[chosen],
                                               flat[chosen]))
    return found, evaluated


def _below(keys, best) -> np.ndarray:
    """Where the lexicographic key ``keys`` (a tuple of arrays or scalars) is below ``best``."""
    first = np.broadcast_to(np.asarray(keys[0]), np.shape(keys[-1]))
    if best is None:
        return np.ones(np.shape(first), dtype=bool)
    below = np.zeros(np.shape(first), dtype=bool)
    equal = np.ones(np.shape(first), dtype=bool)
    for key, limit in zip(keys, best):
        key = np.broadcast_to(np.asarray(key), np.shape(first))
        below |= equal & (key < limit)
        equal &= key == limit
    return below


def _growing(total: int, size: int):
    first = 0
    while first < total:
        yield first, min(total, first + size)
        first += size
        size *= 2


def _result(space: Space, traversal, key, evaluated) -> TraversalResult:
    total, tiles, peak, flat = key
    batch = space.batch(np.array([flat]))
    order = lex_order(batch) if traversal == "lex" else scan_order(batch)
    counted = space.traffic(flat, order, traversal)
    if (counted.total, counted.tiles, counted.peak) != (total, tiles, peak):
        raise RuntimeError(f"internal error: the search predicted {total} entries for "
                           f"combination {flat}, its tables give {counted.total}")
    return TraversalResult(traversal, space.schedule(flat, order, traversal), counted,
                           evaluated)


def checked_buffer(buffer) -> int:
    """``buffer`` as a positive int, or a PolyscanError naming what was given."""
    if isinstance(buffer, bool) or not isinstance(buffer, (int, np.integer)) or buffer < 1:
        raise PolyscanError(f"buffer must be a positive number of entries, got {buffer!r}")
    return int(buffer)


def _checked_traversals(traversals) -> tuple[str, ...]:
    if isinstance(traversals, str):
        traversals = (traversals,)
    traversals = tuple(dict.fromkeys(traversals))
    unknown = [t for t in traversals if t not in SEARCHABLE]
    if unknown or not traversals:
        raise PolyscanError(f"optimize searches the traversals {', '.join(SEARCHABLE)}, got "
                            f"{unknown[0] if unknown else 'none'!r} (compare_orders also "
                            f"covers zorder and hilbert)")
    return traversals
