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

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import islpy as isl
import numpy as np

from ..errors import PolyscanError
from ..nest import ACCUMULATE, EXPORTED, READ
from ..polyhedral.footprint import TensorFootprint, nest_footprints
from ..schedule import Schedule
from .intervals import Intervals, from_sorted, intersect, subtract
from .memory import Memory, Placement


@dataclass
class Transfer:
    """One batch of runs to (``write``) or from DRAM, for one operand and tile."""

    write: bool
    starts: np.ndarray  # bytes
    lengths: np.ndarray  # bytes
    operand: str


def schedule_transfers(schedule: Schedule, memory: Memory,
                       tensor_of: Callable[[str], str] | None = None) -> Iterator[Transfer]:
    """Transfers of ``schedule`` in order; ``tensor_of(operand key)`` names the DRAM tensor an
    operand is (operands of one tensor share its placement; default: each its own)."""
    nest = schedule.nest
    footprints = nest_footprints(nest)
    sizes = {d: schedule.tile_size(d) for d in nest.dims}
    split = {d for d, n in zip(schedule.order, schedule.grid) if n > 1}
    operands = [_OperandStream(key, operand.kind, footprints[key],
                               memory.place((tensor_of or str)(key), _shape(operand.space)),
                               sizes, split)
                for key, operand in nest.operands.items()
                if operand.kind in (READ, ACCUMULATE, EXPORTED)]
    origin = dict.fromkeys(nest.dims, 0)
    steps = [sizes[d] for d in schedule.order]
    for coordinates in schedule.tile_sequence().tolist():
        origin.update(zip(schedule.order, [c * step for c, step in zip(coordinates, steps)]))
        for operand in operands:
            yield from operand.leave(operand.box(origin))
        for operand in operands:
            yield from operand.enter()
    for operand in operands:
        yield from operand.leave(None)


def batches(transfers: Iterable[Transfer], runs: int) -> Iterator[list[Transfer]]:
    """Consecutive transfers, about ``runs`` runs together (for numpy passes over many)."""
    batch, count = [], 0
    for transfer in transfers:
        batch.append(transfer)
        count += len(transfer.starts)
        if count >= runs:
            yield batch
            batch, count = [], 0
    if batch:
        yield batch


class _OperandStream:
    def __init__(self, key: str, kind: str, footprint: TensorFootprint, placement: Placement,
                 sizes: dict[str, int], split: set[str]):
        self.key, self.kind, self.placement = key, kind, placement
        for positions in footprint.positions:
            if len(positions) > 1:
                raise PolyscanError(f"the DRAM model needs footprints that are products of "
                                    f"per-index sets; {key} couples indices {positions}")
        # each component with the tensor index it spans (None: an activity component)
        self.parts = [(component, positions[0] if positions else None)
                      for component, positions in zip(footprint.components,
                                                      footprint.positions)]
        self.sizes = [tuple(sizes[d] for d in component.dims)
                      for component in footprint.components]
        self.current = None  # the box of the tile being entered
        self.previous = None
        self.dims = sorted({d for component, _ in self.parts for d in component.dims})
        # An output whose footprint depends on every dim cut into several tiles meets each
        # element in one tile only: no partial sums come back, nothing to track.
        self.reads_back = kind == ACCUMULATE and bool(split - set(self.dims))
        self.touched = np.zeros(int(np.prod(placement.shape)), dtype=bool) \
            if kind == EXPORTED or self.reads_back else None
        self.boxes: dict[tuple, list[Intervals] | None] = {}  # by the origins of self.dims
        self.pending: list[np.ndarray] = []  # exported elements first computed last tile
        self.sets: dict[tuple, Intervals] = {}  # (component, tile) -> its index set

    def box(self, origin: dict[str, int]) -> list[Intervals] | None:
        """The tile's footprint (None: empty) from its origin."""
        key = tuple(origin[d] for d in self.dims)
        if key not in self.boxes:
            self.boxes[key] = self._box(origin)
        return self.boxes[key]

    def _box(self, origin: dict[str, int]) -> list[Intervals] | None:
        box = [None] * len(self.placement.shape)
        for i, (component, position) in enumerate(self.parts):
            key = (i, *[origin[d] for d in component.dims])
            dim_set = self.sets.get(key)
            if dim_set is None:
                points = component.points(key[1:] + self.sizes[i])
                dim_set = self.sets[key] = from_sorted(points[:, 0]) if position is not None \
                    else ((0, 1),) * (len(points) > 0)
            if not dim_set:
                return None
            if position is not None:
                box[position] = dim_set
        return box

    def leave(self, box) -> Iterator[Transfer]:
        """Writes before the tile whose footprint is ``box`` (None: after the last tile)."""
        self.previous, self.current = self.current, box
        if self.kind == ACCUMULATE:
            for part in difference(self.previous, box):
                yield Transfer(True, *self.placement.runs(part), self.key)
        elif self.kind == EXPORTED and self.pending:
            yield Transfer(True, *self.placement.runs_of(np.sort(np.concatenate(
                self.pending))), self.key)
            self.pending = []

    def enter(self) -> Iterator[Transfer]:
        """Reads of the tile whose footprint was given to the last ``leave``."""
        if self.kind == ACCUMULATE and not self.reads_back:
            return
        for part in difference(self.current, self.previous):
            if self.kind == READ:
                yield Transfer(False, *self.placement.runs(part), self.key)
                continue
            offsets = self.placement.linear(part)
            seen = self.touched[offsets]
            self.touched[offsets] = True
            if self.kind == ACCUMULATE and seen.any():
                yield Transfer(False, *self.placement.runs_of(offsets[seen]), self.key)
            elif self.kind == EXPORTED and not seen.all():
                self.pending.append(offsets[~seen])


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


def _shape(space: isl.Set) -> tuple[int, ...]:
    return tuple(space.dim_max_val(i).to_python() + 1 for i in range(space.dim(isl.dim_type.set)))
