"""Tile orders: every traversal visits every tile once; scan's defining property holds."""

import itertools

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from polyscan.model import traversal
from polyscan.testing.simulator import (
    hilbert_sequence,
    lex_sequence,
    scan_sequence,
    zorder_sequence,
)

grids = st.lists(st.integers(1, 6), min_size=0, max_size=4).map(tuple)


@given(grids)
def test_every_traversal_visits_every_tile_once(grid):
    everything = sorted(lex_sequence(grid))
    for name in traversal.NAMED:
        sequence = traversal.tile_sequence(name, grid)
        assert sequence.shape == (len(everything), len(grid))
        assert sorted(map(tuple, sequence.tolist())) == everything


@given(grids)
def test_every_traversal_follows_its_definition(grid):
    """The vectorised orders against the simulator's own, written from the definitions."""
    assert list(map(tuple, traversal.lex(grid).tolist())) == lex_sequence(grid)
    assert list(map(tuple, traversal.scan(grid).tolist())) == scan_sequence(grid)
    assert list(map(tuple, traversal.zorder(grid).tolist())) == zorder_sequence(grid)
    assert list(map(tuple, traversal.hilbert(grid).tolist())) == hilbert_sequence(grid)


@given(st.integers(2, 3), st.integers(1, 3))
def test_the_simulators_hilbert_curve_moves_to_neighbours(dims, bits):
    sequence = hilbert_sequence((2 ** bits,) * dims)
    assert sorted(sequence) == lex_sequence((2 ** bits,) * dims)
    assert all(sum(abs(a - b) for a, b in zip(p, q)) == 1 for p, q in zip(sequence, sequence[1:]))


@given(grids)
def test_consecutive_scan_tiles_are_grid_neighbours(grid):
    steps = np.abs(np.diff(traversal.scan(grid), axis=0))
    assert np.all(steps.sum(axis=1) == 1)


def test_lex_turns_are_not_neighbours():
    steps = np.abs(np.diff(traversal.lex((2, 3)), axis=0)).sum(axis=1)
    assert steps.tolist() == [1, 1, 3, 1, 1]


@given(st.integers(1, 3), st.integers(1, 4))
def test_hilbert_on_power_of_two_cubes_moves_to_neighbours(dims, bits):
    grid = (2 ** bits,) * dims
    sequence = traversal.hilbert(grid)
    assert np.all(np.abs(np.diff(sequence, axis=0)).sum(axis=1) == 1)
    assert tuple(sequence[0]) == (0,) * dims


def test_zorder_interleaves_bits_outer_dim_first():
    expected = sorted(itertools.product(range(4), range(4)),
                      key=lambda p: sum(((p[0] >> b) & 1) << (2 * b + 1)
                                        | ((p[1] >> b) & 1) << (2 * b) for b in range(2)))
    assert list(map(tuple, traversal.zorder((4, 4)).tolist())) == expected
    assert list(map(tuple, traversal.zorder((2, 2)).tolist())) == [(0, 0), (0, 1), (1, 0), (1, 1)]
