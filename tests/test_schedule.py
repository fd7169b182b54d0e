"""Schedules that do not fit their layer fail with a message naming the problem."""

import numpy as np
import pytest

import polyscan as ps

LAYER = ps.depthwise(16, 10, 10, name="dw")


@pytest.mark.parametrize("kwargs, message", [
    (dict(tile={"k": 4}), "tile dim 'k' is not a dim of depthwise layer 'dw'"),
    (dict(tile={"y": 0}), r"tile size for 'y' must be an integer in 1..10, got 0"),
    (dict(tile={"y": 11}), r"tile size for 'y' must be an integer in 1..10, got 11"),
    (dict(tile={"y": 2.5}), "tile size for 'y' must be an integer"),
    (dict(tile={"y": 2, "c": 4}, order=("y",)), "omits tiled dim 'c'"),
    (dict(tile={"y": 2}, order=("y", "q")), "order dim 'q' is not a dim"),
    (dict(tile={"y": 2}, order=("y", "y")), "names a dim twice"),
    (dict(tile={"y": 2}, order="y"), "order must be a sequence of dim names"),
    (dict(tile={"y": 5}, traversal="snake"), "unknown traversal 'snake'"),
    (dict(tile={"y": 5}, traversal=[(0,)]), "needs 2 tile coordinates"),
    (dict(tile={"y": 5}, traversal=[(0,), (0,)]), "every tile exactly once"),
    (dict(tile={"y": 5}, traversal=[(0,), (2,)]), r"tile coordinate \(2,\) is outside"),
    (dict(tile={"y": 5}, traversal=[("a",), (1,)]), "list of integer tile coordinates"),
])
def test_bad_schedules_are_rejected(kwargs, message):
    with pytest.raises(ps.ScheduleError, match=message):
        ps.Schedule(LAYER, **kwargs)


def test_defaults_and_normalisation():
    schedule = ps.Schedule(LAYER, tile={"x": 3, "c": np.int64(4), "y": 10})
    assert schedule.tile == {"x": 3, "c": 4}  # a tile as large as the dim is no tiling
    assert schedule.order == ("c", "x")  # tiled dims in the layer's dim order
    assert schedule.grid == (4, 4) and schedule.tiles == 16
    assert schedule.tile_size("y") == 10


def test_explicit_traversal_matches_the_named_one_it_spells():
    lex = ps.Schedule(LAYER, tile={"y": 4, "c": 8}, order=("c", "y"))
    listed = ps.Schedule(LAYER, tile={"y": 4, "c": 8}, order=("c", "y"),
                         traversal=[(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)])
    assert ps.traffic(lex) == ps.traffic(listed)
