"""Where tensors live in DRAM, and the address runs a box of their elements occupies.

Every DRAM tensor gets a base address (aligned) and a layout: activations (3-D tensors
``(c, h, w)``) are stored ``CHW`` (row-major) or ``HWC``; other tensors row-major. A *box* is
a product of per-dim index sets (``intervals``), which is what a tile's footprint,
or a difference of two footprints, decomposes into. Its runs of contiguous addresses follow
from that structure: the innermost dims whose sets are complete merge into one block, and
each interval of the next dim, for every combination of the outer dims, is one run.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from ...caches import clears
from ...errors import PolyscanError
from .intervals import Intervals, bounds, values

LAYOUTS = ("CHW", "HWC")
# (shape, order) -> box shape -> runs at zero: shared by the placements of equal tensors
# (a stream places its tensors anew; the candidates of a search have the same few shapes)
_RUN_SHAPES: dict[tuple, dict] = {}
clears(_RUN_SHAPES.clear)


@dataclass(frozen=True)
class Placement:
    """One DRAM tensor as seen through one shape (views of a tensor agree element-wise in
    row-major order: a flatten does not move data)."""

    base: int  # bytes
    shape: tuple[int, ...]
    element_bytes: int
    order: tuple[int, ...]  # dims outer to inner in memory

    @functools.cached_property
    def _shapes(self) -> dict:
        """Runs at zero by box shape (``runs``)."""
        return _RUN_SHAPES.setdefault((self.shape, self.order), {})

    @functools.cached_property
    def strides(self) -> np.ndarray:
        """Elements between neighbours along each dim (in ``self.shape``'s dim order)."""
        strides = np.zeros(len(self.shape), dtype=np.int64)
        step = 1
        for dim in reversed(self.order):
            strides[dim] = step
            step *= self.shape[dim]
        return strides

    def runs(self, box: list[Intervals]) -> tuple[np.ndarray, np.ndarray]:
        """(start byte, length in bytes) of the contiguous runs covering ``box``, in address
        order. Boxes of one shape have the same runs, shifted: computed once per shape."""
        sets = [box[d] for d in self.order]
        inner = len(sets)
        while inner > 0 and sets[inner - 1] == ((0, self.shape[self.order[inner - 1]]),):
            inner -= 1  # complete innermost dims form one block
        firsts = [dim_set[0][0] for dim_set in sets[:inner]]
        key = (inner, tuple(tuple((low - first, high - first) for low, high in dim_set)
                            for dim_set, first in zip(sets, firsts)))
        if key not in self._shapes:
            self._shapes[key] = self._runs_at_zero(*key)
        starts, lengths = self._shapes[key]
        shift = sum(f * int(self.strides[d]) for f, d in zip(firsts, self.order))
        return self.base + (starts + shift) * self.element_bytes, lengths * self.element_bytes

    def _runs_at_zero(self, inner: int, sets) -> tuple[np.ndarray, np.ndarray]:
        """Maximal runs, in elements, of a box whose first ``inner`` dims (memory order) start
        at 0 and whose other dims are complete."""
        block = math.prod(self.shape[d] for d in self.order[inner:])
        if inner == 0:
            return np.zeros(1, dtype=np.int64), np.array([block], dtype=np.int64)
        low, high = np.array(sets[inner - 1], dtype=np.int64).T
        strides = self.strides[list(self.order)]
        outer = np.zeros(1, dtype=np.int64)
        for dim_set, stride in zip(sets[:inner - 1], strides[:inner - 1]):
            outer = np.add.outer(outer, values(dim_set) * stride).ravel()
        starts = np.add.outer(outer, low * strides[inner - 1]).ravel()
        ends = starts + np.broadcast_to((high - low) * block, (len(outer), len(low))).ravel()
        joined = starts[1:] == ends[:-1]  # e.g. a row's last column and the next row's first
        starts = starts[np.concatenate([[True], ~joined])]
        return starts, ends[np.concatenate([~joined, [True]])] - starts

    def linear(self, box: list[Intervals]) -> np.ndarray:
        """Element offsets of every element of ``box``, in address order."""
        offsets = np.zeros(1, dtype=np.int64)
        strides = self.strides
        for dim in self.order:
            offsets = np.add.outer(offsets, values(box[dim]) * strides[dim]).ravel()
        return offsets

    def runs_of(self, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Runs covering sorted element offsets (any subset of the tensor)."""
        lows, highs = bounds(offsets)
        return self.base + lows * self.element_bytes, (highs - lows) * self.element_bytes


class Memory:
    """Allocates DRAM tensors one after another, each at an aligned base address."""

    def __init__(self, element_bits: int = 8, layout: str = "CHW", alignment: int = 4096):
        if element_bits not in (8, 16, 32, 64):
            raise PolyscanError(f"element_bits must be 8, 16, 32 or 64, got {element_bits!r}")
        if layout not in LAYOUTS:
            raise PolyscanError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
        if not isinstance(alignment, int) or alignment < 1:
            raise PolyscanError(f"alignment must be a positive number of bytes, got "
                                f"{alignment!r}")
        self.element_bytes = element_bits // 8
        self.layout = layout
        self.alignment = alignment
        self.bases: dict[str, int] = {}
        self.end = 0

    def place(self, tensor: str, shape: tuple[int, ...]) -> Placement:
        """The placement of DRAM tensor ``tensor`` seen with ``shape`` (allocated on first
        sight; later views must have as many elements)."""
        size = math.prod(shape) * self.element_bytes
        if tensor not in self.bases:
            self.bases[tensor] = -(-self.end // self.alignment) * self.alignment
            self.end = self.bases[tensor] + size
        order = (1, 2, 0) if self.layout == "HWC" and len(shape) == 3 else \
            tuple(range(len(shape)))
        return Placement(self.bases[tensor], tuple(shape), self.element_bytes, order)
