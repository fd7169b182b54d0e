"""Fused groups against an explicit-set simulator of fused chains: zero difference in every
figure (reads, writes, peak, tiles, recomputed MACs)."""

import math

import pytest
from conftest import examples
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import blocks, chains, concats, fused_schedules, splits

import polyscan as ps
from polyscan.model.fusion import FusedGroup, FusedSchedule, FusionError
from polyscan.testing.simulator import fused_footprints, sequence, simulate_fused


def assert_same_as_simulated(schedule):
    counted = ps.traffic(schedule)
    simulated = simulate_fused(list(schedule.layers), schedule.group.inputs,
                               schedule.group.exported, schedule.tile, schedule.order,
                               sequence(schedule.traversal, schedule.grid))
    assert not simulated.differences(counted), (schedule, simulated.differences(counted))
    assert simulated.tiles == math.prod(schedule.grid), schedule


@settings(max_examples=examples(300))
@given(fused_schedules())
def test_fused_traffic_equals_simulation(schedule):
    assert_same_as_simulated(schedule)


@settings(max_examples=examples(200))
@given(fused_schedules(chains()))
def test_chains_of_any_windows_equal_simulation(schedule):
    """Producers with strides and padding (1x1 convs with padding too), sinks tiled along
    their kernel dims: the family of the producer rows that read only padding."""
    assert_same_as_simulated(schedule)


@settings(max_examples=examples(100))
@given(fused_schedules(st.one_of(concats(), splits())))
def test_concats_and_splits_inside_a_group_equal_simulation(schedule):
    assert_same_as_simulated(schedule)


@settings(max_examples=examples(100))
@given(st.one_of(blocks(), chains(), concats(), splits()))
def test_a_group_exports_exactly_the_layers_whose_output_it_computes_whole(group):
    """An inner layer may be exported (written for readers outside) if and only if the
    simulated group, untiled, computes every element of its output."""
    layers, inputs = group
    computed = fused_footprints(layers, FusedGroup(layers, inputs).inputs, (), {}, ()).sets
    for layer in layers[:-1]:
        whole = computed[layer.name][()] == set(range(layer.macs))
        try:
            FusedGroup(layers, inputs, (layer.name,))
        except FusionError as error:
            assert not whole and "need only part" in str(error), layer.name
        else:
            assert whole, layer.name


def test_producer_rows_that_read_only_padding():
    """Layer L0's output row 0 reads only padding; a tile of L1's kernel rows that needs
    only that row reads nothing of L0.I (the simulator's figure; 2 before the fix)."""
    l0 = ps.conv2d(1, 1, 2, 2, kernel=1, stride=2, padding=1, name="L0")
    l1 = ps.depthwise(1, 2, 2, kernel=3, stride=2, padding=1, name="L1")
    schedule = FusedSchedule([l0, l1], tile={"r": 1, "s": 1}, order=("r", "s"))
    assert_same_as_simulated(schedule)
    assert ps.traffic(schedule).reads["L0.I"] == 1


def test_untiled_group_moves_only_external_tensors_and_recomputes_nothing():
    expand = ps.pointwise(4, 8, 6, 6, name="expand")
    dw = ps.depthwise(8, 6, 6, name="dw")
    project = ps.pointwise(8, 4, 6, 6, name="project")
    result = ps.traffic(FusedSchedule([expand, dw, project]))
    assert result.reads == {"expand.I": 4 * 36, "expand.W": 32, "dw.W": 72, "project.W": 32,
                            "project.O": 0}
    assert result.writes == {"project.O": 4 * 36}
    assert result.recomputed == {"expand": 0, "dw": 0}
    # on chip at once: every tensor of the three layers
    assert result.peak == 4 * 36 + 32 + 8 * 36 + 72 + 8 * 36 + 32 + 4 * 36


@pytest.mark.parametrize("inputs, exported, message", [
    ({"dw.I": "project", "project.I": "dw"}, (), "must come from an earlier layer"),
    ({"dw.I": "expand", "project.I": "dw", "dw.Q": "expand"}, (),
     "is not an input of a layer of the group"),
    ({"project.I": "dw"}, (), "'expand' feeds no later layer"),
    ({"dw.I": "expand", "project.I": "dw"}, ("project",), "is not an inner layer"),
    ({"dw.I": "expand", "project.O": "dw"}, (), "is an output"),
])
def test_bad_groups_are_rejected(inputs, exported, message):
    layers = [ps.pointwise(4, 8, 6, 6, name="expand"), ps.depthwise(8, 6, 6, name="dw"),
              ps.pointwise(8, 4, 6, 6, name="project")]
    with pytest.raises(FusionError, match=message):
        FusedSchedule(layers, inputs=inputs, exported=exported)


def test_shapes_must_agree():
    with pytest.raises(FusionError, match="produces"):
        FusedSchedule([ps.pointwise(4, 8, 6, 6, name="a"), ps.depthwise(6, 6, 6, name="b")])


@settings(max_examples=examples(30))
@given(st.integers(1, 6), st.integers(1, 4), st.integers(1, 5), st.data())
def test_a_pool_fused_into_a_gemm_through_a_flatten(channels, size, features, data):
    """The pool's (c, 1, 1) output is the gemm's (c,) input, matched in row-major order."""
    pool = ps.pool(channels, size, size, kernel=size, stride=1, name="pool")
    gemm = ps.fully_connected(channels, features, name="fc")
    tile = {d: data.draw(st.integers(1, gemm.extents[d])) for d in gemm.dims
            if data.draw(st.booleans())}
    order = tuple(data.draw(st.permutations(list(tile))))
    traversal = data.draw(st.sampled_from(["lex", "scan"]))
    schedule = FusedSchedule([pool, gemm], tile=tile, order=order, traversal=traversal)
    simulated = simulate_fused([pool, gemm], schedule.group.inputs, (), schedule.tile,
                               schedule.order, sequence(traversal, schedule.grid))
    assert not simulated.differences(ps.traffic(schedule)), schedule
