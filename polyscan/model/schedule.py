"""A schedule of one layer: tile sizes, the order of the tiled dims, and the traversal.

Semantics (DESIGN section 4): a dim left out of ``tile`` is untiled; the last tile along a
dim may be partial; ``order`` lists the tiled dims outer -> inner; ``traversal`` is
``"lex"``, ``"scan"``, ``"zorder"``, ``"hilbert"`` or an explicit list of tile coordinates
(one tuple per tile, indexed like ``order``, every tile exactly once).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from ..errors import ScheduleError
from .layer import Layer
from .nest import Nest
from .traversal import NAMED, tile_sequence


class Schedule:
    """``Schedule(layer, tile={"y": 8, "k": 32}, order=("k", "y"), traversal="scan")``."""

    def __init__(self, layer: Layer, tile: Mapping[str, int] | None = None,
                 order: Sequence[str] | None = None,
                 traversal: str | Sequence[Sequence[int]] = "lex", resident: Iterable[str] = ()):
        if not isinstance(layer, Layer):
            raise ScheduleError(f"a Schedule is of a Layer (ps.conv2d(...), net.layer(name)), "
                                f"got {layer!r}")
        self.layer = layer
        self.layers = (layer,)  # the layers scheduled, in order (a FusedSchedule has more)
        self._tile_nest(layer.nest, f"{layer.kind} layer {layer.name!r}", tile, order, traversal,
                        resident)

    def _tile_nest(self, nest: Nest, label: str, tile, order, traversal, resident=()):
        """Check and set the tiling of ``nest`` (``label`` names it in error messages), with
        the operands ``resident`` kept in the buffer across groups (DESIGN 6b)."""
        if isinstance(resident, str) or not isinstance(resident, Iterable):
            raise ScheduleError(f"resident must be a list of operand names such as ['I'], got "
                                f"{resident!r}")
        self.nest = nest.with_resident(resident)
        self.tile = _checked_tile(nest, label, tile)
        self.order = _checked_order(nest, label, self.tile, order)
        self.grid = tuple(math.ceil(nest.extents[d] / self.tile_size(d)) for d in self.order)
        self.traversal = _checked_traversal(traversal, self.grid)

    @property
    def resident(self) -> tuple[str, ...]:
        """The operands kept resident in the buffer (no DRAM traffic, no footprint)."""
        return self.nest.resident_keys

    def to_dict(self) -> dict:
        return {"tile": dict(self.tile), "order": list(self.order),
                "traversal": self.traversal if isinstance(self.traversal, str)
                else [list(c) for c in self.traversal],
                **({"resident": [str(k) for k in self.resident]} if self.resident else {})}

    def tile_size(self, dim: str) -> int:
        return self.tile.get(dim, self.nest.extents[dim])

    @property
    def tiles(self) -> int:
        return math.prod(self.grid)

    def tile_sequence(self) -> np.ndarray:
        """``(tiles, len(order))`` grid coordinates in traversal order."""
        if isinstance(self.traversal, str):
            return tile_sequence(self.traversal, self.grid)
        return np.array(self.traversal, dtype=np.int64).reshape(self.tiles, len(self.order))

    def __repr__(self) -> str:
        traversal = self.traversal if isinstance(self.traversal, str) else "explicit"
        resident = f", resident={list(map(str, self.resident))}" if self.resident else ""
        return (f"{type(self).__name__}({self.nest.name!r}, tile={self.tile}, "
                f"order={self.order}, traversal={traversal!r}{resident})")


def _checked_tile(nest: Nest, label: str, tile) -> dict[str, int]:
    """The tile sizes smaller than their dim's extent (the others mean: untiled)."""
    if tile is None:
        return {}
    if not isinstance(tile, Mapping):
        raise ScheduleError(f"tile must be a mapping of dim name to size such as {{'y': 8}}, "
                            f"got {tile!r}")
    _check_names(tile, "tile dim")
    result = {}
    for dim, size in tile.items():
        if dim not in nest.extents:
            raise ScheduleError(f"tile dim {dim!r} is not a dim of {label} "
                                f"(dims: {', '.join(nest.dims)})")
        extent = nest.extents[dim]
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) \
                or not 1 <= size <= extent:
            raise ScheduleError(f"tile size for {dim!r} must be an integer in 1..{extent}, "
                                f"got {size!r}")
        if size < extent and dim in nest.whole:
            raise ScheduleError(f"{label} reads whole vectors along {dim!r}: a tile may not "
                                f"split it")
        if size < extent:
            result[dim] = int(size)
    return result


def _checked_order(nest: Nest, label: str, tile: dict[str, int], order) -> tuple[str, ...]:
    if order is None:
        return tuple(d for d in nest.dims if d in tile)
    if isinstance(order, str) or not isinstance(order, Iterable):
        raise ScheduleError(f"order must be a sequence of dim names, got {order!r}")
    order = tuple(order)
    _check_names(order, "order dim")
    for dim in order:
        if dim not in nest.extents:
            raise ScheduleError(f"order dim {dim!r} is not a dim of {label} "
                                f"(dims: {', '.join(nest.dims)})")
    if len(set(order)) != len(order):
        raise ScheduleError(f"order {order} names a dim twice")
    missing = [d for d in tile if d not in order]
    if missing:
        raise ScheduleError(f"order {order} omits tiled dim {missing[0]!r}")
    return order


def _check_names(names, what: str):
    """Dim names are strings: a number or a list fails here, not as a TypeError later."""
    for name in names:
        if not isinstance(name, str):
            raise ScheduleError(f"{what} {name!r} is not a dim name (a string)")


def _checked_traversal(traversal, grid: tuple[int, ...]):
    if isinstance(traversal, str):
        if traversal not in NAMED:
            raise ScheduleError(f"unknown traversal {traversal!r} (use {', '.join(NAMED)} "
                                f"or a list of tile coordinates)")
        return traversal
    try:  # without a dtype, so that floats (1.5, even 1.0) are refused, not truncated
        points = np.asarray(traversal)
    except (TypeError, ValueError):  # ragged rows
        points = np.asarray(None)
    if points.size and points.dtype.kind not in "iu":
        got = {"f": "floats", "c": "complex numbers", "b": "booleans"}.get(
            points.dtype.kind, "ragged rows or values that are not numbers")
        raise ScheduleError(f"an explicit traversal must be a list of integer tile "
                            f"coordinates, got {got}")
    points = points.astype(np.int64)
    count = math.prod(grid)
    if points.shape != (count, len(grid)) and not (len(grid) == 0 and points.size == count):
        raise ScheduleError(f"an explicit traversal needs {count} tile coordinates of "
                            f"{len(grid)} numbers (grid {grid}), got shape {points.shape}")
    points = points.reshape(count, len(grid))
    inside = np.all((points >= 0) & (points < np.array(grid, dtype=np.int64)), axis=1)
    if not inside.all():
        raise ScheduleError(f"tile coordinate {tuple(points[~inside][0].tolist())} is outside the "
                            f"grid {grid}")
    if len(np.unique(points, axis=0)) != count:
        raise ScheduleError("an explicit traversal must visit every tile exactly once")
    return tuple(map(tuple, points.tolist()))
