"""Orders in which a grid of tiles is walked, as arrays of grid coordinates.

Each function takes the grid shape ``(n_1, ..., n_m)`` over the schedule's ``order`` (outer
dim first) and returns an ``(n_1 * ... * n_m, m)`` integer array: row ``k`` is the grid
coordinate of the ``k``-th tile. They are vectorised: a million tiles take milliseconds.

- ``lex``: nested loops, the last dim innermost.
- ``scan``: the boustrophedon of the seed paper. The sequence over dims (d1..dm) is the
  concatenation over i1 of the sequence over (d2..dm), reversed when i1 is odd. Equivalently
  (a reflected mixed-radix Gray code) dim j runs backwards exactly when the coordinates of the
  dims outside it sum to an odd number; consecutive tiles differ by one step in one dim.
- ``zorder``: Morton order: tiles sorted by the interleaving of their coordinates' bits, the
  outer dim's bit most significant at each level. Jumps whenever a carry crosses a level.
- ``hilbert``: tiles sorted by their index on the m-dimensional Hilbert curve (Skilling's
  construction) over the smallest power-of-two cube holding the grid. On a power-of-two cube
  consecutive tiles are neighbours; on other grids the curve leaves and re-enters the grid, so
  some consecutive tiles are not.
"""

from __future__ import annotations

import math

import numpy as np

NAMED = ("lex", "scan", "zorder", "hilbert")


def tile_sequence(traversal: str, grid: tuple[int, ...]) -> np.ndarray:
    """Grid coordinates of the tiles in the order ``traversal`` visits them."""
    return {"lex": lex, "scan": scan, "zorder": zorder, "hilbert": hilbert}[traversal](grid)


def lex(grid: tuple[int, ...]) -> np.ndarray:
    return np.indices(grid, dtype=np.int64).reshape(len(grid), math.prod(grid)).T


def scan(grid: tuple[int, ...]) -> np.ndarray:
    counters = lex(grid)
    coordinates = np.empty_like(counters)
    outer_sum = np.zeros(len(counters), dtype=np.int64)
    for j, n in enumerate(grid):
        backwards = (outer_sum % 2).astype(bool)
        coordinates[:, j] = np.where(backwards, n - 1 - counters[:, j], counters[:, j])
        outer_sum += coordinates[:, j]
    return coordinates


def zorder(grid: tuple[int, ...]) -> np.ndarray:
    points = lex(grid)
    return points[np.argsort(_interleave(points.T, _bits(grid)), kind="stable")]


def hilbert(grid: tuple[int, ...]) -> np.ndarray:
    points = lex(grid)
    bits = _bits(grid)
    if len(grid) < 2 or bits == 0:
        return points
    return points[np.argsort(_interleave(_hilbert_transpose(points.T, bits), bits),
                             kind="stable")]


def _bits(grid: tuple[int, ...]) -> int:
    return max(int(n - 1).bit_length() for n in grid) if grid else 0


def _interleave(axes: np.ndarray, bits: int) -> np.ndarray:
    """Morton code: bit b of axis i lands at position ``b * m + (m - 1 - i)``."""
    m = len(axes)
    code = np.zeros(axes.shape[1], dtype=np.int64)
    for b in range(bits):
        for i in range(m):
            code |= ((axes[i] >> b) & 1) << (b * m + (m - 1 - i))
    return code


def _hilbert_transpose(axes: np.ndarray, bits: int) -> np.ndarray:
    """Skilling's AxesToTranspose (AIP Conf. Proc. 707, 2004), vectorised over points.

    Interleaving the result's bits gives each point's index along the Hilbert curve.
    """
    x = axes.copy()
    m = len(x)
    q = 1 << (bits - 1)
    while q > 1:  # undo excess work: rotate and reflect the sub-cubes
        p = q - 1
        for i in range(m):
            high = (x[i] & q) != 0
            swap = (x[0] ^ x[i]) & p
            x[0] = np.where(high, x[0] ^ p, x[0] ^ swap)
            if i:
                x[i] = np.where(high, x[i], x[i] ^ swap)
        q >>= 1
    for i in range(1, m):  # Gray encode
        x[i] ^= x[i - 1]
    t = np.zeros_like(x[0])
    q = 1 << (bits - 1)
    while q > 1:
        t = np.where((x[m - 1] & q) != 0, t ^ (q - 1), t)
        q >>= 1
    return x ^ t
