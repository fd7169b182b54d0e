"""Fused groups against an explicit-set simulator of fused chains: zero difference in every
figure (reads, writes, peak, tiles, recomputed MACs)."""

import math

import pytest
from conftest import examples
from hypothesis import given, settings
from hypothesis import strategies as st

import polyscan as ps
from polyscan.fusion import FusedSchedule, FusionError
from polyscan.testing import lex_sequence, scan_sequence, simulate_fused


@st.composite
def blocks(draw):
    """expand -> depthwise -> project (an inverted residual block), maybe with a residual
    read from outside, or with a layer before it whose output the residual keeps on chip."""
    c_in = draw(st.integers(1, 3))
    hidden = c_in * draw(st.integers(1, 3))
    kernel = draw(st.sampled_from([1, 3, 5]))
    padding = tuple(draw(st.integers(0, 2)) for _ in range(4))
    height = draw(st.integers(max(1, kernel - padding[0] - padding[2], 2), 7))
    width = draw(st.integers(max(1, kernel - padding[1] - padding[3], 2), 7))
    stride = draw(st.sampled_from([1, 2]))
    dw = ps.depthwise(hidden, height, width, kernel=kernel, stride=stride, padding=padding,
                      name="dw")
    out_h, out_w = dw.extents["y"], dw.extents["x"]
    c_out = draw(st.integers(1, 3))
    expand = ps.pointwise(c_in, hidden, height, width, name="expand")
    project = ps.pointwise(hidden, c_out, out_h, out_w, name="project")
    layers = [expand, dw, project]
    inputs = {"dw.I": "expand", "project.I": "dw"}
    residual = stride == 1 and (out_h, out_w) == (height, width) and draw(st.booleans())
    if residual:
        project = ps.pointwise(hidden, c_in, out_h, out_w, name="project").with_residual()
        layers[-1] = project
        if draw(st.booleans()):  # the residual's producer is in the group: kept on chip
            layers.insert(0, ps.pointwise(draw(st.integers(1, 2)), c_in, height, width,
                                          name="before"))
            inputs.update({"expand.I": "before", "project.R": "before"})
    exported = tuple(layer.name for layer in layers[:-1] if draw(st.booleans()))
    return layers, inputs, exported


@st.composite
def fused_schedules(draw):
    layers, inputs, exported = draw(blocks())
    sink = layers[-1]
    tile = {d: draw(st.integers(1, sink.extents[d])) for d in sink.dims if draw(st.booleans())}
    order = tuple(draw(st.permutations(list(tile))))
    traversal = draw(st.sampled_from(["lex", "scan"]))
    return FusedSchedule(layers, tile=tile, order=order, traversal=traversal, inputs=inputs,
                         exported=exported)


@settings(max_examples=examples(300))
@given(fused_schedules())
def test_fused_traffic_equals_simulation(schedule):
    counted = ps.traffic(schedule)
    sequence = (lex_sequence if schedule.traversal == "lex" else scan_sequence)(schedule.grid)
    simulated = simulate_fused(list(schedule.layers), schedule.group.inputs,
                               schedule.group.exported, schedule.tile, schedule.order, sequence)
    assert counted.reads == simulated.reads, schedule
    assert counted.writes == simulated.writes, schedule
    assert counted.peak == simulated.peak, schedule
    assert counted.recomputed == simulated.recomputed, schedule
    assert counted.tiles == simulated.tiles == math.prod(schedule.grid)


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
    sequence = (lex_sequence if traversal == "lex" else scan_sequence)(schedule.grid)
    simulated = simulate_fused([pool, gemm], schedule.group.inputs, (), schedule.tile,
                               schedule.order, sequence)
    assert ps.traffic(schedule) == simulated
