"""Sets of integers as sorted tuples of disjoint half-open intervals ``((low, high), ...)``.

A tile's footprint along one tensor index is one interval or a few (a strided access), so
set algebra on intervals is a handful of integer comparisons, where the same on arrays of
indices costs a numpy call per operation, per tile, per operand.
"""

from __future__ import annotations

import numpy as np

Intervals = tuple[tuple[int, int], ...]


def from_sorted(values: np.ndarray) -> Intervals:
    """The intervals of sorted distinct integers."""
    lows, highs = bounds(values)
    return tuple(zip(lows.tolist(), highs.tolist()))


def bounds(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``from_sorted`` as arrays of lows and highs (for long sets)."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    breaks = np.flatnonzero(np.diff(values) != 1) + 1
    lows = values[np.concatenate([[0], breaks])]
    highs = values[np.concatenate([breaks - 1, [len(values) - 1]])] + 1
    return lows.astype(np.int64), highs.astype(np.int64)


def size(a: Intervals) -> int:
    return sum(high - low for low, high in a)


def values(a: Intervals) -> np.ndarray:
    """The integers of ``a``, sorted."""
    if len(a) == 1:
        return np.arange(*a[0], dtype=np.int64)
    return np.concatenate([np.arange(low, high, dtype=np.int64) for low, high in a]) if a \
        else np.zeros(0, dtype=np.int64)


def intersect(a: Intervals, b: Intervals) -> Intervals:
    if a == b:
        return a
    found = []
    for low, high in a:
        for other_low, other_high in b:
            start, end = max(low, other_low), min(high, other_high)
            if start < end:
                found.append((start, end))
    return tuple(found)


def subtract(a: Intervals, b: Intervals) -> Intervals:
    """``a \\ b``."""
    if a == b:
        return ()
    found = []
    for low, high in a:
        for other_low, other_high in b:
            if other_high <= low or other_low >= high:
                continue
            if other_low > low:
                found.append((low, other_low))
            low = max(low, other_high)
            if low >= high:
                break
        if low < high:
            found.append((low, high))
    return tuple(found)
