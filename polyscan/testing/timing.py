"""Oracles of compute cycles and of the double-buffered peak (DESIGN 6c), from explicit
sets: the simulator's per-tile footprints (``simulator.Footprints``) and every layer's
iterations per tile, listed one by one. They share nothing with the counting path but the
layer's definition."""

from __future__ import annotations

import math

import numpy as np

from ..model.layer import Layer
from .simulator import ACCUMULATE, EXPORTED, ITERATIONS, READ, Footprints


def double_buffered_peak(footprints: Footprints, sequence) -> int:
    """max over tiles k of what the buffer holds while tile k computes: every footprint of
    tile k, the new elements tile k+1 brings of the tensors read from DRAM and of the
    output, and the elements of the output and of exported intermediates that tile k-1
    held and tile k does not."""
    kinds, peak = footprints.kinds, 0
    for k, t in enumerate(sequence):
        held = 0
        for key, per_tile in footprints.sets.items():
            if kinds[key] == ITERATIONS:
                continue
            here = per_tile.get(t, set())
            held += len(here)
            if kinds[key] in (READ, ACCUMULATE) and k + 1 < len(sequence):
                held += len(per_tile.get(sequence[k + 1], set()) - here)
            if kinds[key] in (ACCUMULATE, EXPORTED) and k > 0:
                held += len(per_tile.get(sequence[k - 1], set()) - here)
        peak = max(peak, held)
    return peak


def tile_iterations(sink: Layer, tile: dict[str, int], order, sequence) -> list[set]:
    """Per tile, the sink's iterations (row-major indices over its dims)."""
    points = np.indices([sink.extents[d] for d in sink.dims]).reshape(len(sink.dims), -1).T
    sizes = np.array([tile.get(d, sink.extents[d]) for d in order], dtype=np.int64)
    of = [tuple(r) for r in (points[:, [sink.dims.index(d) for d in order]] // sizes).tolist()]
    per_tile = {}
    for i, t in enumerate(of):
        per_tile.setdefault(t, set()).add(i)
    return [per_tile.get(t, set()) for t in sequence]


def compute_cycles(layers: list[Layer], iterations: dict[str, list[set]],
                   unroll: dict[str, tuple], rows: int, cols: int) -> list[int]:
    """Per tile, the array's cycles: for each layer, the iterations it computes (the
    sink's all; an inner layer's those the previous tile did not hold), grouped by the
    values of every dim but the two unrolled, each group taking ceil(distinct values of the
    row dim / rows) x ceil(distinct values of the column dim / cols) cycles."""
    tiles = len(next(iter(iterations.values())))
    cycles = [0] * tiles
    for j, layer in enumerate(layers):
        a, b = unroll[layer.name]
        extents = [layer.extents[d] for d in layer.dims]
        per_tile = iterations[layer.name]
        for k in range(tiles):
            new = per_tile[k] if j == len(layers) - 1 or k == 0 else \
                per_tile[k] - per_tile[k - 1]
            groups: dict[tuple, tuple[set, set]] = {}
            for i in new:
                point = dict(zip(layer.dims, np.unravel_index(i, extents)))
                q = tuple(int(point[d]) for d in layer.dims if d not in (a, b))
                values = groups.setdefault(q, (set(), set()))
                values[0].add(int(point[a]) if a else 0)
                values[1].add(int(point[b]) if b else 0)
            cycles[k] += sum(math.ceil(len(ra) / (rows if a else 1)) *
                             math.ceil(len(cb) / (cols if b else 1))
                             for ra, cb in groups.values())
    return cycles
