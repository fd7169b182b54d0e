"""Compute cycles of a schedule's tiles on a ``rows x cols`` MAC array (DESIGN 6c).

Each layer unrolls at most one loop dim along the array's rows and one along its columns;
every other dim runs in time. A tile's cycles, per layer, are the sum over the points ``q``
of its time dims of ``ceil(|A_q| / rows) * ceil(|B_q| / cols)``, where ``A_q`` and ``B_q``
are the values of the two unrolled dims among the iterations the layer computes at ``q``
(a dim not unrolled has one value at a time). For the tiled layer (a layer alone, the
last of a fused group) the tile is a box, so this is the product over dims of
``ceil(tile extent / unrolled size)``. An inner layer of a fused group computes what the
tile needs that the previous tile did not hold (section 5): a box less a box. It computes
every element whole (all its reduction iterations), so when at most one unrolled dim is one
of its output dims, each ``q`` sees a rectangle and the sum has a closed form per tile;
unrolling two output dims of an inner layer (an L-shaped region) is not offered.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from ..errors import AcceleratorError
from ..model.nest import ITERATIONS, Nest, iterations_key
from ..model.schedule import Schedule
from ..polyhedral.footprint import nest_footprints, touched_elements
from .accelerator import Accelerator
from .dram.intervals import from_sorted, intersect, size, values

Unrolling = tuple[str | None, str | None]  # (dim along the rows, dim along the columns)


@dataclass(frozen=True)
class LayerCompute:
    """One layer's part of a schedule's compute."""

    layer: str
    unroll: Unrolling
    macs: int  # iterations computed, recomputed ones included
    cycles: int

    def to_dict(self) -> dict:
        return {"layer": self.layer, "unroll": list(self.unroll), "macs": self.macs,
                "cycles": self.cycles}


@dataclass(frozen=True)
class Compute:
    """Compute cycles of every tile (in traversal order) and of every layer."""

    per_tile: np.ndarray
    layers: tuple[LayerCompute, ...]
    pes: int

    @property
    def cycles(self) -> int:
        return int(self.per_tile.sum())

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def utilisation(self) -> float:
        """MACs per PE-cycle: 1.0 when every PE works every cycle."""
        return self.macs / (self.cycles * self.pes) if self.cycles else 0.0


def compute(schedule: Schedule, accel: Accelerator,
            unroll: dict[str, Unrolling] | None = None) -> Compute:
    """Compute cycles of ``schedule``'s tiles on ``accel``'s array; each layer's unrolling
    is ``unroll[layer name]`` where given, else the allowed one of fewest cycles (ties: the
    accelerator's order of preference)."""
    unroll = unroll or {}
    layers = schedule.layers
    origins, extents = _tile_boxes(schedule)
    per_tile = np.zeros(len(origins[schedule.nest.dims[0]]), dtype=np.int64)
    results = []
    for j, layer in enumerate(layers):
        if j == len(layers) - 1:
            options = _options(layer, accel, None, unroll.get(layer.name))
            cycles = {pair: _box_cycles(pair, extents, accel) for pair in options}
            macs = layer.macs
        else:
            outputs = _output_dims(schedule, layer)
            options = _options(layer, accel, outputs, unroll.get(layer.name))
            needed = _needed(schedule, layer, origins)
            cycles = {pair: _inner_cycles(pair, layer, outputs, needed, accel)
                      for pair in options}
            macs = needed.macs()
        pair = min(options, key=lambda p: (int(cycles[p].sum()), options.index(p)))
        per_tile += cycles[pair]
        results.append(LayerCompute(layer.name, pair, int(macs), int(cycles[pair].sum())))
    return Compute(per_tile, tuple(results), accel.pes)


def least_macs(nest: Nest) -> int:
    """The fewest MACs any schedule of ``nest`` performs: every iteration of the tiled
    layer, and of each inner layer of a fused group those the whole output needs (a tiling
    recomputes some, never skips one; the later layers may not need all of an inner one)."""
    return math.prod(nest.extents.values()) + sum(
        touched_elements(operand) for operand in nest.operands.values()
        if operand.kind == ITERATIONS)


def _tile_boxes(schedule: Schedule):
    """Per dim, the origin and the extent (the last tile may be partial) of every tile."""
    nest = schedule.nest
    sequence = schedule.tile_sequence()
    origins, extents = {}, {}
    for d in nest.dims:
        size_ = schedule.tile_size(d)
        if d in schedule.order:
            origins[d] = sequence[:, schedule.order.index(d)] * size_
        else:
            origins[d] = np.zeros(len(sequence), dtype=np.int64)
        extents[d] = np.minimum(size_, nest.extents[d] - origins[d])
    return origins, extents


def _options(layer, accel: Accelerator, outputs, given: Unrolling | None) -> list[Unrolling]:
    """The unrollings a layer may take, preferred first: a dim per side among those the
    accelerator allows there (or none), never the same dim twice, and at most one of
    an inner layer's ``outputs`` (None: the tiled layer, which may unroll any two)."""
    def allowed(a, b) -> bool:
        return (a is None or a != b) and (outputs is None or a not in outputs or
                                          b not in outputs)
    if given is not None:
        given = tuple(given)
        if len(given) != 2 or any(d is not None and d not in layer.dims for d in given) or \
                given[0] is not None and given[0] == given[1]:
            raise AcceleratorError(f"layer {layer.name!r}: unroll {given!r} must be two "
                                   f"different dims of {', '.join(layer.dims)} (or None)")
        if not allowed(*given):
            raise AcceleratorError(f"layer {layer.name!r}: an inner layer of a fused group "
                                   f"unrolls at most one of its output dims, got {given!r}")
        return [given]
    rows = [d for d in accel.unroll_rows if d in layer.dims] + [None]
    cols = [d for d in accel.unroll_cols if d in layer.dims] + [None]
    return [(a, b) for a, b in itertools.product(rows, cols) if allowed(a, b)]


def _sizes(pair: Unrolling, accel: Accelerator) -> dict[str, int]:
    return {d: n for d, n in zip(pair, (accel.rows, accel.cols)) if d is not None}


def _box_cycles(pair: Unrolling, extents, accel: Accelerator) -> np.ndarray:
    """Per tile, the product over dims of ceil(extent / unrolled size)."""
    unrolled = _sizes(pair, accel)
    cycles = np.ones(len(next(iter(extents.values()))), dtype=np.int64)
    for d, e in extents.items():
        cycles *= -(-e // unrolled.get(d, 1))
    return cycles


def _output_dims(schedule: Schedule, layer) -> tuple[str, ...]:
    """The dims an inner layer's output depends on (the others it reduces over)."""
    footprint = nest_footprints(layer.nest)[layer.output.name]
    return tuple(d for d in layer.dims if any(d in c.dims for c in footprint.components))


@dataclass
class Needed:
    """Per tile, the iterations an inner layer computes for it (section 5): per dim, the
    size of what the tile needs and of its overlap with what the previous tile needed
    (``follows``: that tile needed some). A tile whose needs are no product of per-dim sets
    (the slices of a Split), or which follows one, is given by its new iterations."""

    sizes: np.ndarray  # tiles x dims
    shared: np.ndarray  # tiles x dims
    present: np.ndarray  # the tile needs some (and is not given explicitly)
    follows: np.ndarray
    explicit: dict[int, np.ndarray]  # tile -> sorted row-major indices of its new ones

    def macs(self) -> int:
        """Iterations computed: what each tile needs less what the previous one held."""
        whole = np.prod(self.sizes, axis=1)
        held = np.where(self.follows, np.prod(self.shared, axis=1), 0)
        return int(np.where(self.present, whole - held, 0).sum()) + \
            sum(len(new) for new in self.explicit.values())


def _needed(schedule: Schedule, layer, origins) -> Needed:
    """``Needed`` of an inner layer: from each tile's bounding box at once where every
    tile's needs are a box (the common case), else tile by tile (``_inner_boxes``)."""
    ranges = _ranges(schedule, layer, origins)
    if ranges is None:
        return _from_boxes(_inner_boxes(schedule, layer, origins), layer)
    low, high = ranges
    sizes = high - low
    present = (sizes > 0).all(axis=1)
    follows = np.concatenate([[False], present[:-1]])
    before_low = np.concatenate([low[:1], low[:-1]])
    before_high = np.concatenate([high[:1], high[:-1]])
    shared = np.maximum(np.minimum(high, before_high) - np.maximum(low, before_low), 0)
    shared[~follows] = 0  # nothing held before the first tile, or after one that needs none
    return Needed(sizes, shared, present, follows, {})


def _ranges(schedule: Schedule, layer, origins):
    """Per tile and dim of an inner layer, the low and high (exclusive) of the iterations
    the tile needs (low = high: none), or None where some tile's are not a box. A component
    that has no points leaves the tile none, even one that spans no index (a selection)."""
    nest = schedule.nest
    footprint = nest_footprints(nest)[iterations_key(layer.name)]
    tiles = len(origins[nest.dims[0]])
    low = np.zeros((tiles, len(layer.dims)), dtype=np.int64)
    high = np.tile(np.array([layer.extents[d] for d in layer.dims], dtype=np.int64),
                   (tiles, 1))
    empty = np.zeros(tiles, dtype=bool)
    for component, positions in zip(footprint.components, footprint.positions):
        columns = np.array([origins[d] for d in component.dims] +
                           [np.full(tiles, schedule.tile_size(d)) for d in component.dims],
                           dtype=np.int64).reshape(2 * len(component.dims), tiles).T
        distinct, inverse = np.unique(columns, axis=0, return_inverse=True)
        lows = np.zeros((len(distinct), len(positions)), dtype=np.int64)
        highs = lows.copy()
        none = np.zeros(len(distinct), dtype=bool)
        for i, key in enumerate(distinct.tolist()):
            points = component.points(tuple(key))
            none[i] = not len(points)
            if len(points):
                lows[i], highs[i] = points.min(axis=0), points.max(axis=0) + 1
                if np.prod(highs[i] - lows[i]) != len(points):
                    return None  # a strided or coupled set: not its bounding box
        inverse = inverse.reshape(-1)
        low[:, positions], high[:, positions] = lows[inverse], highs[inverse]
        empty |= none[inverse]
    low[empty] = high[empty] = 0
    return low, high


def _from_boxes(boxes: list, layer) -> Needed:
    """``Needed`` of per-tile boxes (``_inner_boxes``)."""
    tiles, dims = len(boxes), len(layer.dims)
    sizes = np.zeros((tiles, dims), dtype=np.int64)
    shared = sizes.copy()
    present = np.zeros(tiles, dtype=bool)
    explicit = {}
    for k, box in enumerate(boxes):
        before = boxes[k - 1] if k else None
        if box is None:
            continue
        if isinstance(box, np.ndarray) or isinstance(before, np.ndarray):
            explicit[k] = np.setdiff1d(_explicit(box, layer), _explicit(before, layer),
                                       assume_unique=True)
            continue
        present[k] = True
        sizes[k] = [size(s) for s in box]
        if before is not None:
            shared[k] = [size(intersect(a, b)) for a, b in zip(box, before)]
    follows = np.array([k > 0 and boxes[k - 1] is not None for k in range(tiles)])
    return Needed(sizes, shared, present, follows, explicit)


def _inner_boxes(schedule: Schedule, layer, origins) -> list:
    """Per tile, the iterations of an inner layer the tile needs: one interval set per dim
    of the layer (None: none), or, where some component couples dims in no product (the
    slices of a Split), their sorted row-major indices."""
    nest = schedule.nest
    footprint = nest_footprints(nest)[iterations_key(layer.name)]
    parts = list(zip(footprint.components, footprint.positions))
    sizes = {d: schedule.tile_size(d) for d in nest.dims}
    boxes, known = [], {}
    for k in range(len(origins[nest.dims[0]])):
        box = [((0, layer.extents[d]),) for d in layer.dims]
        coupled = []
        for component, positions in parts:
            values = tuple(int(origins[d][k]) for d in component.dims) + \
                tuple(sizes[d] for d in component.dims)
            key = (id(component), values)
            if key not in known:
                known[key] = _component_sets(component.points(values), positions)
            sets = known[key]
            if sets is None:
                box = None
                break
            if isinstance(sets, tuple):  # (positions, points): not a product
                coupled.append(sets)
                continue
            for position, dim_set in sets:
                box[position] = dim_set
        boxes.append(box if box is None or not coupled else _linear(box, layer, coupled))
    return boxes


def _component_sets(points: np.ndarray, positions):
    """A component's points as one interval set per dim it spans (None: empty), or as
    ``(positions, points)`` when they are not the product of those sets."""
    if len(points) == 0:
        return None
    sets = [(p, from_sorted(np.unique(points[:, i]))) for i, p in enumerate(positions)]
    if math.prod(size(s) for _, s in sets) != len(points):
        return tuple(positions), points
    return sets


def _linear(box, layer, coupled=()) -> np.ndarray:
    """Sorted row-major indices of a box (and of coupled components' points, whose dims
    the box leaves whole)."""
    shape = [layer.extents[d] for d in layer.dims]
    strides = np.array([math.prod(shape[i + 1:]) for i in range(len(shape))], dtype=np.int64)
    spanned = {p for positions, _ in coupled for p in positions}
    indices = np.zeros(1, dtype=np.int64)
    for i, dim_set in enumerate(box):
        if i not in spanned:
            indices = np.add.outer(indices, values(dim_set) * strides[i]).ravel()
    for positions, points in coupled:
        indices = np.add.outer(indices, points @ strides[list(positions)]).ravel()
    return np.unique(indices)


def _explicit(region, layer) -> np.ndarray:
    if region is None:
        return np.zeros(0, dtype=np.int64)
    return region if isinstance(region, np.ndarray) else _linear(region, layer)


def _grouped_cycles(indices: np.ndarray, layer, pair: Unrolling, accel: Accelerator) -> int:
    """The rule itself, on listed iterations: per point of the time dims, ceil(distinct row
    dim values / rows) x ceil(distinct column dim values / cols)."""
    if not len(indices):
        return 0
    coordinates = np.unravel_index(indices, [layer.extents[d] for d in layer.dims])
    columns = dict(zip(layer.dims, coordinates))
    time_dims = [columns[d] for d in layer.dims if d not in pair]
    q = np.ravel_multi_index(time_dims, [layer.extents[d] for d in layer.dims
                                         if d not in pair]) if time_dims else \
        np.zeros(len(indices), dtype=np.int64)
    cycles = None
    for d, lanes in zip(pair, (accel.rows, accel.cols)):
        if d is None:
            continue
        distinct = np.unique(np.stack([q, columns[d]]), axis=1)[0]
        counts = np.bincount(np.searchsorted(np.unique(q), distinct))
        passes = -(-counts // lanes)
        cycles = passes if cycles is None else cycles * passes
    return int(cycles.sum()) if cycles is not None else len(np.unique(q))


def _inner_cycles(pair: Unrolling, layer, outputs, needed: Needed,
                  accel: Accelerator) -> np.ndarray:
    """Per tile, an inner layer's cycles for what the tile needs and the previous tile did
    not hold: the reduction dims are whole, so at a point ``q`` of the other output dims the
    new iterations are the unrolled output dim's new values (all of them where the previous
    tile did not reach ``q``) times the whole reduction."""
    unrolled = _sizes(pair, accel)
    index = {d: i for i, d in enumerate(layer.dims)}
    spatial = next((d for d in pair if d in outputs), None)
    reduction = math.prod(-(-layer.extents[d] // unrolled.get(d, 1))
                          for d in layer.dims if d not in outputs)
    others = [index[d] for d in outputs if d != spatial]
    here = np.prod(needed.sizes[:, others], axis=1)
    shared = np.where(needed.follows, np.prod(needed.shared[:, others], axis=1), 0)
    if spatial is None:
        cycles = (here - shared) * reduction
    else:
        a, lanes = index[spatial], unrolled[spatial]
        fresh = needed.sizes[:, a] - needed.shared[:, a]
        cycles = reduction * ((here - shared) * -(-needed.sizes[:, a] // lanes) +
                              shared * -(-fresh // lanes))
    cycles = np.where(needed.present, cycles, 0)
    for k, new in needed.explicit.items():
        cycles[k] = _grouped_cycles(new, layer, pair, accel)
    return cycles
