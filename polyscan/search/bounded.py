"""The search under the double-buffered capacity rule (docs/time.md), where what fits
depends on the loop order and the traversal, not only on the tile sizes.

Branch and bound over the whole space of section 4, so the result is exact: the
double-buffered peak is at least the single-tile peak, so only combinations that fit
without double buffering can fit with it; each gets a lower bound of its traffic for each
traversal over all orders (exact for lex, a bound for scan); combinations are taken in
increasing bound, each of their loop orders is counted exactly from the tables, and an
order that could still enter the ``keep`` best is checked for its double-buffered peak.
The search stops when the next bound cannot enter them.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from ..cost.traffic import double_buffered_peak
from .orders import lex_reuse, scan_reuse_bound_where

CHUNK = 1 << 14


@dataclass(frozen=True)
class Found:
    """A double-buffered schedule that fits, with its traffic from the tables."""

    key: tuple  # (traffic, tiles, peak, flat index, order): the search's sort key
    schedule: object
    traffic: object


def double_buffered_search(space, feasible, traversals, buffer: int, keep: int = 1,
                           limit: float | None = None) -> tuple[dict[str, list[Found]], int]:
    """The ``keep`` least-traffic schedules of each traversal whose double-buffered peak
    fits ``buffer`` (fewer, or none, where fewer fit or beat ``limit``), and the least
    double-buffered peak seen (how much a buffer would need, when nothing fits)."""
    flat, tiles, peaks = feasible
    bounds = {t: np.empty(len(flat), dtype=np.int64) for t in traversals}
    for first in range(0, len(flat), CHUNK):
        part = slice(first, first + CHUNK)
        batch = space.batch(flat[part])
        base = space.base(batch)
        for t in traversals:
            if t == "lex":
                bounds[t][part] = base - lex_reuse(batch)
            else:
                reuse, _ = scan_reuse_bound_where(
                    batch, lambda rows, bound: np.ones(len(rows), dtype=bool))
                bounds[t][part] = base - reuse
    found, smallest = {}, None
    for t in traversals:
        found[t], least = _search(space, t, buffer, keep, limit, flat, tiles, peaks, bounds[t])
        if least is not None:
            smallest = least if smallest is None else min(smallest, least)
    return found, smallest


def _search(space, traversal, buffer, keep, limit, flat, tiles, peaks, bounds):
    best: list[Found] = []
    smallest = None
    for i in np.lexsort((flat, peaks, tiles, bounds)).tolist():
        # every order of a combination has its tiles and (single-tile) peak: its keys are
        # at least this one, and the combinations come in increasing such keys
        least = (int(bounds[i]), int(tiles[i]), int(peaks[i]), int(flat[i]))
        if len(best) == keep and least > best[-1].key[:4] or \
                len(best) < keep and limit is not None and bounds[i] >= limit:
            break
        batch = space.batch(np.array([flat[i]]))
        for order in itertools.permutations(batch.dims):
            traffic = space.traffic(int(flat[i]), order, traversal, batch)
            key = (traffic.total, traffic.tiles, traffic.peak, int(flat[i]), order)
            if len(best) == keep and key >= best[-1].key or \
                    len(best) < keep and limit is not None and traffic.total >= limit:
                continue
            schedule = space.schedule(int(flat[i]), order, traversal)
            peak = double_buffered_peak(schedule)
            smallest = peak if smallest is None else min(smallest, peak)
            if peak <= buffer:
                best = sorted(best + [Found(key, schedule, traffic)], key=lambda f: f.key)
                best = best[:keep]
    return best, smallest
