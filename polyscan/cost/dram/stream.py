"""The DRAM transfers of a schedule or plan, in execution order, as address runs.

For each tile in traversal order: first the writes the previous tile leaves (output elements
leaving the buffer, section 4; intermediates read outside their group, written once when
first computed), then the reads the tile needs (new footprint of read-only tensors; output
elements seen before, read back as partial sums). Footprints come from the polyhedral
components: each component's elements for a tile (an interval or a few per dim, from ISL)
make the footprint a box, and differences of boxes are boxes; runs follow from the layout
(``memory.Placement``). Only the output's read-backs and once-written intermediates need to
know which elements were touched before, which a mask over the tensor records.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import islpy as isl
import numpy as np

from ...caches import clears
from ...model.nest import ACCUMULATE, EXPORTED, READ
from ...model.schedule import Schedule
from ...polyhedral.footprint import Component, TensorFootprint, nest_footprints
from .intervals import Intervals, from_sorted, intersect, subtract
from .memory import Memory, Placement

# what the candidates a search costs share (one nest, mostly the same tiles):
_SETS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # component -> tile -> set
_BOXES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # footprint -> boxes
_READS_BACK: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # output -> split -> bool
clears(_SETS.clear)
clears(_BOXES.clear)
clears(_READS_BACK.clear)


@dataclass
class Transfer:
    """One batch of runs to (``write``) or from DRAM, for one operand and tile."""

    write: bool
    starts: np.ndarray  # bytes
    lengths: np.ndarray  # bytes
    operand: str
    # ``schedule_transfers``'s step: k for the writes before the k-th tile (from 0) and its
    # reads, the number of tiles for the writes after the last (None: not from a schedule)
    step: int | None = None


def schedule_transfers(schedule: Schedule, memory: Memory,
                       tensor_of: Callable[[str], str] | None = None) -> Iterator[Transfer]:
    """Transfers of ``schedule`` in order, each tagged with its tile ``step``;
    ``tensor_of(operand key)`` names the DRAM tensor an operand is (operands of one tensor
    share its placement; default: each its own)."""
    nest = schedule.nest
    footprints = nest_footprints(nest)
    sizes = {d: schedule.tile_size(d) for d in nest.dims}
    split = frozenset(d for d, n in zip(schedule.order, schedule.grid) if n > 1)
    operands = [_OperandStream(key, operand.kind, footprints[key],
                               memory.place((tensor_of or str)(key), operand.shape),
                               sizes, operand.kind == ACCUMULATE and
                               _partial_sums(nest, operand, footprints[key], split))
                for key, operand in nest.operands.items()
                if operand.kind in (READ, ACCUMULATE, EXPORTED)]
    origin = dict.fromkeys(nest.dims, 0)
    steps = [sizes[d] for d in schedule.order]
    sequence = schedule.tile_sequence().tolist()
    for k, coordinates in enumerate(sequence):
        origin.update(zip(schedule.order, [c * step for c, step in zip(coordinates, steps)]))
        for operand in operands:
            yield from _at(k, operand.leave(operand.box(origin)))
        for operand in operands:
            yield from _at(k, operand.enter())
    for operand in operands:
        yield from _at(len(sequence), operand.leave(None))


def _at(step: int, transfers: Iterable[Transfer]) -> Iterator[Transfer]:
    for transfer in transfers:
        transfer.step = step
        yield transfer


def batches(transfers: Iterable[Transfer], runs: int, first: int | None = None
            ) -> Iterator[list[Transfer]]:
    """Consecutive transfers, about ``runs`` runs together (for numpy passes over many);
    from ``first`` runs doubling up to ``runs`` where given (a count that may stop early
    checks soon, and rarely once it goes on)."""
    batch, count, size = [], 0, min(first or runs, runs)
    for transfer in transfers:
        batch.append(transfer)
        count += len(transfer.starts)
        if count >= size:
            yield batch
            batch, count, size = [], 0, min(2 * size, runs)
    if batch:
        yield batch


class _OperandStream:
    def __init__(self, key: str, kind: str, footprint: TensorFootprint, placement: Placement,
                 sizes: dict[str, int], reads_back: bool):
        self.key, self.kind, self.placement = key, kind, placement
        # each component with the tensor indices it spans (none: an activity component)
        self.parts = list(zip(footprint.components, footprint.positions))
        # a component spanning several indices (a flattened tensor read by a fully connected
        # layer) is no box: such footprints are kept as sorted element offsets instead
        self.coupled = any(len(positions) > 1 for positions in footprint.positions)
        self.sizes = [tuple(sizes[d] for d in component.dims)
                      for component in footprint.components]
        self.current = None  # the box of the tile being entered
        self.previous = None
        self.dims = sorted({d for component, _ in self.parts for d in component.dims})
        self.reads_back = reads_back
        self.touched = np.zeros(int(np.prod(placement.shape)), dtype=bool) \
            if kind == EXPORTED or self.reads_back else None
        # by the origins of self.dims; shared by the streams of one footprint, tile size and
        # layout (a coupled footprint's offsets depend on the tensor's shape and order)
        self.boxes: dict[tuple, list[Intervals] | None] = _BOXES.setdefault(
            footprint, {}).setdefault((tuple(self.sizes), placement.shape, placement.order), {})
        self.pending: list[np.ndarray] = []  # exported elements first computed last tile

    def box(self, origin: dict[str, int]) -> list[Intervals] | None:
        """The tile's footprint (None: empty) from its origin."""
        key = tuple(origin[d] for d in self.dims)
        if key not in self.boxes:
            self.boxes[key] = self._box(origin)
        return self.boxes[key]

    def _box(self, origin: dict[str, int]):
        if self.coupled:
            return self._offsets(origin)
        box = [None] * len(self.placement.shape)
        for i, (component, positions) in enumerate(self.parts):
            dim_set = _index_set(component, tuple(origin[d] for d in component.dims) +
                                 self.sizes[i], bool(positions))
            if not dim_set:
                return None
            if positions:
                box[positions[0]] = dim_set
        return box

    def _offsets(self, origin: dict[str, int]) -> np.ndarray | None:
        """The footprint's sorted element offsets: every combination of the components'
        points, each point setting the indices its component spans."""
        offsets = np.zeros(1, dtype=np.int64)
        strides = self.placement.strides
        for i, (component, positions) in enumerate(self.parts):
            points = component.points(tuple(origin[d] for d in component.dims) + self.sizes[i])
            if len(points) == 0:
                return None
            if positions:
                offsets = np.add.outer(offsets, points @ strides[list(positions)]).ravel()
        return np.unique(offsets)

    def _difference(self, a, b) -> list:
        if not self.coupled:
            return difference(a, b)
        if a is None:
            return []
        rest = a if b is None else np.setdiff1d(a, b, assume_unique=True)
        return [rest] if len(rest) else []

    def _runs(self, part):
        return self.placement.runs_of(part) if self.coupled else self.placement.runs(part)

    def leave(self, box) -> Iterator[Transfer]:
        """Writes before the tile whose footprint is ``box`` (None: after the last tile)."""
        self.previous, self.current = self.current, box
        if self.kind == ACCUMULATE:
            for part in self._difference(self.previous, box):
                yield Transfer(True, *self._runs(part), self.key)
        elif self.kind == EXPORTED and self.pending:
            yield Transfer(True, *self.placement.runs_of(np.sort(np.concatenate(
                self.pending))), self.key)
            self.pending = []

    def enter(self) -> Iterator[Transfer]:
        """Reads of the tile whose footprint was given to the last ``leave``."""
        if self.kind == ACCUMULATE and not self.reads_back:
            return
        for part in self._difference(self.current, self.previous):
            if self.kind == READ:
                yield Transfer(False, *self._runs(part), self.key)
                continue
            offsets = part if self.coupled else self.placement.linear(part)
            seen = self.touched[offsets]
            self.touched[offsets] = True
            if self.kind == ACCUMULATE and seen.any():
                yield Transfer(False, *self.placement.runs_of(offsets[seen]), self.key)
            elif self.kind == EXPORTED and not seen.all():
                self.pending.append(offsets[~seen])


def _index_set(component: Component, tile: tuple[int, ...], spans: bool) -> Intervals:
    """A component's elements for one tile (origins, then sizes), as the intervals of the
    tensor index it ``spans`` (else one point or none: an activity component)."""
    sets = _SETS.setdefault(component, {})
    if tile not in sets:
        points = component.points(tile)
        sets[tile] = from_sorted(points[:, 0]) if spans else ((0, 1),) * (len(points) > 0)
    return sets[tile]


def _partial_sums(nest, operand, footprint: TensorFootprint, split: frozenset[str]) -> bool:
    """Whether an output element can enter the buffer again after leaving it (a partial sum
    read back), so that the stream must track which elements it has seen. Not when every
    dim cut into several tiles is one the output depends on and each element comes from one
    combination of those dims (a convolution's output; not a transposed convolution's,
    where input rows and kernel rows overlap): then each element is in one tile only.
    Counted once per output and set of split dims (every candidate of a search asks)."""
    if not split:
        return False
    known = _READS_BACK.setdefault(operand, {})
    if split not in known:
        known[split] = _reads_back(nest, operand, footprint, split)
    return known[split]


def _reads_back(nest, operand, footprint: TensorFootprint, split: frozenset[str]) -> bool:
    dims = {d for component in footprint.components for d in component.dims}
    if split - dims:
        return True
    relation = operand.relation.intersect_range(operand.space)
    for i in reversed(range(len(nest.dims))):
        if nest.dims[i] not in dims:
            relation = relation.project_out(isl.dim_type.in_, i, 1)
    return not relation.is_injective()


def difference(a, b) -> list[list[Intervals]]:
    """``a \\ b`` for boxes (None: empty) as disjoint boxes: for each dim k, the elements of
    ``a`` that agree with ``b`` on the dims before k and leave it at dim k."""
    if a is None or a == b:
        return []
    if b is None:
        return [a]
    parts, common = [], []
    for k in range(len(a)):
        rest = subtract(a[k], b[k])
        if rest:
            parts.append(common + [rest] + a[k + 1:])
        shared = intersect(a[k], b[k])
        if not shared:
            break
        common = common + [shared]
    return parts
