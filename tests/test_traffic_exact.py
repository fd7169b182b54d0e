"""ps.traffic against the explicit-set simulator: zero difference in every figure."""

import math

import pytest
from conftest import examples
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import LAYERS, schedules

import polyscan as ps
from polyscan.testing.simulator import Simulated, elements, sequence, simulate


def _simulated(schedule: ps.Schedule) -> Simulated:
    """The simulator's figures, with the tile sequences of named traversals from the
    simulator's own definitions (explicit ones as the schedule lists them)."""
    return simulate(schedule.layer, schedule.tile, schedule.order,
                    sequence(schedule.traversal, schedule.grid))


def assert_same_traffic(schedule: ps.Schedule):
    counted, simulated = ps.traffic(schedule), _simulated(schedule)
    assert not simulated.differences(counted), (schedule, simulated.differences(counted))
    assert simulated.tiles == math.prod(schedule.grid), schedule


WINDOWED = ("conv2d", "depthwise", "pool", "grouped_conv2d", "conv_transpose", "viewed")


@pytest.mark.parametrize("kind", WINDOWED)
@settings(max_examples=examples(300))
@given(data=st.data())
def test_traffic_equals_simulation(kind, data):
    """Kinds with windows, strides, padding (and views): the hard cases, many examples."""
    layer = data.draw(LAYERS[kind])
    assert_same_traffic(data.draw(schedules(layer)))


@pytest.mark.parametrize("kind", sorted(set(LAYERS) - set(WINDOWED)))
@settings(max_examples=examples(100))
@given(data=st.data())
def test_traffic_of_the_other_kinds_equals_simulation(kind, data):
    layer = data.draw(LAYERS[kind])
    assert_same_traffic(data.draw(schedules(layer)))


@pytest.mark.parametrize("kind", sorted(LAYERS))
@settings(max_examples=examples(25))
@given(data=st.data())
def test_untiled_schedule_moves_the_compulsory_traffic(kind, data):
    """Untiled: every accessed (non-padding) input element, all weights, all outputs once."""
    layer = data.draw(LAYERS[kind])
    compulsory = sum(len({e for touched in elements(layer, tensor) for e in touched})
                     for tensor in layer.tensors.values())
    result = ps.traffic(ps.Schedule(layer))
    assert result.total == compulsory
    assert result.peak == compulsory and result.tiles == 1


def test_known_figures_of_a_small_depthwise_layer():
    """Hand-counted: 2 channels of 4x4, 3x3 kernel, pad 1, rows tiled by 2, lex over (y, c).

    Tile (y-tile, c): input rows -1..2 clipped to 0..2 (3 rows x 4 = 12), then 1..4 -> 1..3
    (12); a channel change reloads everything. Tiles: (0,0) 12, (0,1) 12, (1,0) 12, (1,1) 12
    = 48 input reads; weights 9 per channel change = 36; outputs 2x4 per tile = 32.
    """
    layer = ps.depthwise(2, 4, 4, kernel=3, padding=1)
    result = ps.traffic(ps.Schedule(layer, tile={"y": 2, "c": 1}, order=("y", "c")))
    assert result.reads == {"I": 48, "W": 36, "O": 0}
    assert result.writes == {"O": 32}
    assert result.peak == 12 + 9 + 8
    # scan over (y, c) keeps the channel at the turn: (0,0) (0,1) (1,1) (1,0) -> 3 weight
    # loads, and tile (1,1) loads only input row 3 of channel 1 (rows 1, 2 are retained)
    scan = ps.traffic(ps.Schedule(layer, tile={"y": 2, "c": 1}, order=("y", "c"),
                                  traversal="scan"))
    assert scan.reads["W"] == 27 and scan.reads["I"] == 12 + 12 + 4 + 12


@settings(max_examples=examples(20))
@given(data=st.data(), kind=st.sampled_from(WINDOWED))
def test_schedules_sharing_tile_sizes_each_equal_simulation(data, kind):
    """The schedules of one tiling in every order and traversal, counted one after another in
    one process, as a search counts them: each reads its footprints and overlaps from grids
    the others filled (``Component.on_grid``), and each equals its own simulation."""
    layer = data.draw(LAYERS[kind])
    tiling = data.draw(schedules(layer, traversals=("lex",)))
    orders = data.draw(st.lists(st.permutations(tiling.order), min_size=2, max_size=4))
    for order in orders:
        for traversal in ("lex", "scan"):
            assert_same_traffic(ps.Schedule(layer, tile=tiling.tile, order=tuple(order),
                                             traversal=traversal))
