"""``ps.compare_orders``: the best schedule of each traversal, side by side.

Rows: lex restricted to each loop order (exact: the chain of that order through the same
per-level tables as the optimizer, over every tile-size combination), scan over all orders
(exact: ``search_layer``), and the research orders zorder and hilbert, which have no closed
program: for them the best of a stated candidate set, every candidate counted exactly.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np

from ..cost.traffic import Traffic, traffic
from ..model.layer import Layer
from ..model.schedule import Schedule
from .bounds import LowerBound, lower_bound
from .optimizer import CHUNK, Space, checked_buffer, search_layer
from .orders import lex_reuse_of_order
from .tables import tables_for

RESEARCH = ("zorder", "hilbert")
CANDIDATE_COMBINATIONS = 8  # tile sizes tried for the research orders
CANDIDATE_ORDERS = 24  # at most this many orders of their tiled dims each


@dataclass
class OrderRow:
    traversal: str
    loop_order: tuple[str, ...] | None  # the order a lex row is restricted to
    schedule: Schedule
    traffic: Traffic
    searched: str  # how the row's schedule was found

    def to_dict(self) -> dict:
        s, t = self.schedule, self.traffic
        per_tensor = {x: t.reads.get(x, 0) + t.writes.get(x, 0)
                      for x in dict.fromkeys([*t.reads, *t.writes])}
        return {"traversal": self.traversal,
                "loop_order": list(self.loop_order) if self.loop_order else None,
                "tile": dict(s.tile), "order": list(s.order), "reads": t.reads,
                "writes": t.writes, "per_tensor": per_tensor, "dram_entries": t.total,
                "peak": t.peak, "tiles": t.tiles, "searched": self.searched}


@dataclass
class OrderComparison:
    layer: str
    buffer: int
    bound: LowerBound
    rows: list[OrderRow]

    def best(self, traversal: str) -> OrderRow:
        return min((r for r in self.rows if r.traversal == traversal),
                   key=lambda r: (r.traffic.total, r.traffic.tiles, r.traffic.peak))

    def to_dict(self) -> dict:
        return {"layer": self.layer, "buffer": self.buffer, "compulsory": self.bound.compulsory,
                "lower_bound": self.bound.value, "rows": [r.to_dict() for r in self.rows]}


def compare_orders(layer: Layer, buffer: int,
                   traversals=("lex", "scan", "zorder", "hilbert")) -> OrderComparison:
    """The best schedule under ``buffer`` for lex (per loop order), scan, zorder, hilbert."""
    buffer = checked_buffer(buffer)
    space = Space(tables_for(layer.nest), functools.partial(Schedule, layer),
                  f"layer {layer.name!r}")
    flat, tiles, peaks = space.feasible(buffer)
    rows = []
    lex_best_per_combo = None
    if "lex" in traversals or any(t in RESEARCH for t in traversals):
        per_order, lex_best_per_combo = _lex_per_order(space, flat, tiles, peaks)
        if "lex" in traversals:
            rows += [OrderRow("lex", order, *_counted(space.schedule(keys[0][3], order, "lex")),
                              "exact")
                     for order, keys in per_order.items()]
    if "scan" in traversals:
        found = search_layer(layer, buffer, ("scan",)).results["scan"]
        rows.append(OrderRow("scan", None, found.schedule, traffic(found.schedule), "exact"))
    for traversal in (t for t in traversals if t in RESEARCH):
        rows.append(_research_row(space, traversal, flat, tiles, peaks, lex_best_per_combo))
    return OrderComparison(layer.name, buffer, lower_bound(layer, buffer), rows)


def _lex_per_order(space: Space, flat, tiles, peaks):
    """Best (total, tiles, peak, flat) key per loop order, and the best lex total of each
    combination evaluated (the others keep -1: the search proved they cannot win)."""
    orders = list(itertools.permutations(space.tables.nest.dims))
    lex_totals = np.full(len(flat), -1, dtype=np.int64)
    where = {int(f): i for i, f in enumerate(flat)}

    def evaluate(part_flat, part_tiles, part_peaks, best):
        found = dict.fromkeys(orders)
        for first in range(0, len(part_flat), CHUNK):
            part = slice(first, first + CHUNK)
            batch = space.batch(part_flat[part])
            base = space.base(batch)
            least = None
            for order in orders:
                totals = base - lex_reuse_of_order(batch, order)
                found[order] = space.merge(found[order] or (), space.least(
                    totals, part_tiles[part], part_peaks[part], part_flat[part]))
                least = totals if least is None else np.minimum(least, totals)
            lex_totals[[where[int(f)] for f in part_flat[part]]] = least
        return found

    per_order = space.ranked_search((flat, tiles, peaks), orders, evaluate)
    return per_order, lex_totals


def _research_row(space: Space, traversal, flat, tiles, peaks, lex_totals) -> OrderRow:
    """The best of the candidate set: the combinations with the least lex traffic, each
    with every order of its tiled dims (at most CANDIDATE_ORDERS), counted exactly."""
    known = lex_totals >= 0
    flat, tiles, peaks, lex_totals = flat[known], tiles[known], peaks[known], lex_totals[known]
    ranking = np.lexsort((flat, peaks, tiles, lex_totals))[:CANDIDATE_COMBINATIONS]
    best = None
    tried = 0
    for index in ranking:
        tiled = tuple(space.schedule(flat[index], space.tables.nest.dims, "lex").tile)
        for order in itertools.islice(itertools.permutations(tiled), CANDIDATE_ORDERS):
            schedule, counted = _counted(space.schedule(flat[index], order, traversal))
            tried += 1
            key = (counted.total, counted.tiles, counted.peak)
            if best is None or key < best[0]:
                best = (key, schedule, counted)
    return OrderRow(traversal, None, best[1], best[2], f"best of {tried} candidates")


def _counted(schedule: Schedule):
    return schedule, traffic(schedule)
