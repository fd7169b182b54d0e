"""Exact DRAM traffic of a schedule (DESIGN sections 4 and 5), from footprint closed forms.

Along the tile sequence t_1..t_n, every operand X enters the buffer
``entries(X) = |F(t_1)| + sum_k |F(t_k+1)| - |F(t_k) ∩ F(t_k+1)|`` times (one element, one
entry). A read-only tensor is read exactly that often. An output leaves the buffer as often
as it enters (every element that enters is written back, at the latest after the last tile),
and an entry is a read-back of a partial sum unless it is the element's first: so
``writes(O) = entries(O)`` and ``reads(O) = entries(O) - |O elements touched|``. In a fused
group, an intermediate moves nothing (it is written once if read outside the group), and the
entries of an inner layer's iterations beyond the ones it needs are its recomputed MACs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import CountOverflowError, ScheduleError
from ..model.nest import ACCUMULATE, EXPORTED, ITERATIONS, READ, Nest
from ..model.schedule import Schedule
from ..polyhedral.closed_form import LIMIT, count_points, distinct_rows
from ..polyhedral.footprint import RESET, Component, nest_footprints, touched_elements


@dataclass(frozen=True)
class Traffic:
    """DRAM traffic in entries (tensor elements), per tensor, with the buffer's peak use."""

    reads: dict[str, int]
    writes: dict[str, int]
    peak: int
    tiles: int
    recomputed: dict[str, int] = field(default_factory=dict)  # fused groups: MACs per layer

    @property
    def total(self) -> int:
        return sum(self.reads.values()) + sum(self.writes.values())

    def to_dict(self) -> dict:
        return {"reads": self.reads, "writes": self.writes, "peak": self.peak,
                "tiles": self.tiles, "dram_entries": self.total,
                **({"recomputed": self.recomputed} if self.recomputed else {})}

    def __str__(self) -> str:
        per_tensor = ", ".join(f"{t}: {self.reads.get(t, 0)}r/{self.writes.get(t, 0)}w"
                               for t in dict.fromkeys([*self.reads, *self.writes]))
        return f"{self.total} entries ({per_tensor}); peak {self.peak}, {self.tiles} tiles"


MAX_TILES = 1 << 26  # counted tile by tile: about 5 GB of arrays at most


def traffic(schedule: Schedule, rows=None) -> Traffic:
    """Reads, writes, peak buffer use and tile count of ``schedule``, exact (``rows``:
    its ``per_tile`` already listed)."""
    nest = schedule.nest
    reads, writes, recomputed = {}, {}, {}
    occupancy = 0
    for key, kind, sizes, overlaps, touched in rows or per_tile(schedule):
        entries = int(sizes[0] + (sizes[1:] - overlaps).sum())
        if nest.operands[key].in_buffer:
            occupancy = occupancy + sizes
        if kind == READ:
            reads[key] = entries
        elif kind == ACCUMULATE:
            reads[key], writes[key] = entries - touched, entries
        elif kind == EXPORTED:
            writes[key] = touched
        elif kind == ITERATIONS:
            recomputed[key.layer] = entries - touched
    return Traffic(reads, writes, int(np.max(occupancy)), schedule.tiles, recomputed)


def double_buffered_peak(schedule: Schedule, rows=None) -> int:
    """The buffer's peak with double buffering (DESIGN 6c, docs/time.md)."""
    return int(np.max(sum(buffer_contents(schedule, True, rows).values())))


def buffer_contents(schedule: Schedule, double_buffer: bool = False, rows=None) -> dict:
    """Entries of each operand in the buffer while each tile computes (``{key: array}``,
    tiles in traversal order; operands the buffer holds, resident ones aside). With double
    buffering they also count what tile k+1 brings in (the new elements of the tensors
    read from DRAM and of the output) and what tile k-1 leaves to be written (the
    output's, and an exported intermediate's, elements it no longer holds)."""
    contents = {}
    for key, kind, sizes, overlaps, _ in rows or per_tile(schedule):
        if not schedule.nest.operands[key].in_buffer:
            continue
        held = sizes.copy()
        if double_buffer and kind in (READ, ACCUMULATE):  # arriving for the next tile
            held[:-1] += sizes[1:] - overlaps
        if double_buffer and kind in (ACCUMULATE, EXPORTED):  # leaving from the previous
            held[1:] += sizes[:-1] - overlaps
        contents[key] = held
    return contents


def per_tile(schedule: Schedule):
    """For every operand of ``schedule``: ``(key, kind, sizes, overlaps, touched)``, where
    ``sizes[k] = |F(t_k)|``, ``overlaps[k] = |F(t_k) ∩ F(t_k+1)|`` (tiles in traversal
    order) and ``touched`` counts the elements any tile touches."""
    nest = schedule.nest
    if schedule.tiles > MAX_TILES:
        raise ScheduleError(f"{schedule.tiles:,} tiles: ps.traffic counts tile by tile, up to "
                            f"{MAX_TILES:,} tiles (ps.optimize's tables count any number)")
    check_magnitude(nest, schedule.tiles)
    sequence = schedule.tile_sequence()
    coordinates = {d: np.zeros(len(sequence), dtype=np.int64) for d in nest.dims}
    coordinates.update((d, sequence[:, j]) for j, d in enumerate(schedule.order))
    tile = {d: schedule.tile_size(d) for d in nest.dims}
    moves = _moves(coordinates, {d: -(-nest.extents[d] // tile[d]) for d in nest.dims})
    for key, footprint in nest_footprints(nest).items():
        sizes = np.ones(len(sequence), dtype=np.int64)
        overlaps = np.ones(len(sequence) - 1, dtype=np.int64)
        touched = 1
        for component in footprint.components:
            at = tuple(coordinates[d] for d in component.dims)
            grid = component.on_grid(tuple(tile[d] for d in component.dims))
            component_sizes = grid[at] if at else np.full(len(sequence), grid[()])
            sizes *= component_sizes
            overlaps *= _overlaps(component, at, tile, moves, component_sizes)
            touched *= int(component.on_grid(component.extents)[(0,) * len(at)])
        yield key, nest.operands[key].kind, sizes, overlaps, touched


def check_magnitude(nest: Nest, tiles: int):
    """Refuse a nest whose sums over ``tiles`` tiles could pass exact int64 arithmetic: every
    count is at most tiles x the largest footprint, times 2 for the output's read-back and
    write. A footprint is at most the product of its components' bounds, at most its whole
    space (a tensor, or a producer's iteration domain: a box, quick to count) and at most
    what the whole nest touches; each closed form's own evaluation is checked when it is
    built."""
    for key, footprint in nest_footprints(nest).items():
        operand = nest.operands[key]
        largest = math.prod(c.size.bound for c in footprint.components)
        if 2 * tiles * largest >= LIMIT:
            largest = min(largest, count_points(operand.space))
        # the count of what is touched only where the bounds do not suffice, and not for a
        # producer's recomputed iterations: nearly all of its domain, behind a projection
        # of the whole group's relation
        if 2 * tiles * largest >= LIMIT and operand.kind != ITERATIONS:
            largest = min(largest, touched_elements(operand))
        if 2 * tiles * largest >= LIMIT:
            what = f"the iterations of {key.layer}" if operand.kind == ITERATIONS else key
            raise CountOverflowError(f"{nest.name}: counts of {what} could reach "
                                     f"{2 * tiles * largest:.3g}, past exact 64-bit arithmetic")


def _moves(coordinates: dict[str, np.ndarray], counts: dict[str, int]):
    """The move of every dim from each tile to the next (a step in tile coordinates, or
    ``RESET``: from its last tile straight back to the first), as the distinct patterns
    (``{dim: move}``) and, per transition, which pattern it makes."""
    dims = list(coordinates)
    steps = [np.diff(coordinates[d]) for d in dims]
    if not dims or len(steps[0]) == 0:
        return [], np.zeros(0, dtype=np.int64)
    resets = [(coordinates[d][1:] == 0) & (step < -1) & (coordinates[d][:-1] == counts[d] - 1)
              for d, step in zip(dims, steps)]
    rows = np.stack([np.where(reset, 0, step) for step, reset in zip(steps, resets)] + resets,
                    axis=1).astype(np.int64)
    distinct, which = distinct_rows(rows)
    return [{d: RESET if row[len(dims) + i] else row[i] for i, d in enumerate(dims)}
            for row in distinct.tolist()], which


def _overlaps(component: Component, at: tuple[np.ndarray, ...], tile, moves,
              sizes: np.ndarray) -> np.ndarray:
    """``|F_c(t_k) ∩ F_c(t_k+1)|`` for each transition, from the component's grid of each
    move pattern it makes (as in the optimizer's tables, a jump from the last tile to the
    first is a ``RESET``)."""
    result = sizes[:-1].copy()  # where the component's dims do not move, F_c stays the same
    if not component.dims or len(result) == 0:
        return result
    patterns, which = moves
    local: dict[tuple, int] = {}
    index = np.array([local.setdefault(tuple(p[d] for d in component.dims), len(local))
                      for p in patterns])[which]
    sizes_of = tuple(tile[d] for d in component.dims)
    for pattern, i in local.items():
        if any(pattern):
            rows = index == i
            result[rows] = component.on_grid(sizes_of, pattern)[tuple(c[:-1][rows] for c in at)]
    return result
