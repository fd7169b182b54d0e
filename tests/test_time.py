"""Compute cycles, the double-buffered peak and the makespan (DESIGN 6c): by hand on small
cases, and against the explicit-set oracles (``polyscan.testing.timing``) on random layers,
tilings, traversals, arrays and fused groups."""

import itertools
import json
import math

import numpy as np
import pytest
from conftest import examples
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import LAYERS, fused_schedules, schedules

import polyscan as ps
from polyscan.cost.compute import compute, least_macs
from polyscan.cost.timing import Steps
from polyscan.cost.traffic import double_buffered_peak
from polyscan.outputs.timeline import ROLES, occupancy, timeline_events, write_timeline
from polyscan.testing import timing as oracle
from polyscan.testing.simulator import fused_footprints, layer_footprints, sequence


def _array(draw, layer_dims):
    rows, cols = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    return ps.Accelerator(rows=rows, cols=cols, unroll_rows=tuple(layer_dims),
                          unroll_cols=tuple(layer_dims))


def _layer_oracle(schedule, unroll, accel):
    order = schedule.order
    tiles = sequence(schedule.traversal, schedule.grid)
    iterations = {schedule.layer.name: oracle.tile_iterations(schedule.layer, schedule.tile,
                                                              order, tiles)}
    return oracle.compute_cycles([schedule.layer], iterations, unroll, accel.rows,
                                 accel.cols)


def _fused_oracle(schedule, unroll, accel):
    tiles = sequence(schedule.traversal, schedule.grid)
    footprints = fused_footprints(list(schedule.layers), schedule.group.inputs,
                                  schedule.group.exported, schedule.tile, schedule.order, tiles)
    iterations = {layer.name: [footprints.sets[layer.name].get(t, set()) for t in tiles]
                  for layer in schedule.layers[:-1]}
    sink = schedule.layers[-1]
    iterations[sink.name] = oracle.tile_iterations(sink, schedule.tile, schedule.order, tiles)
    macs = sum(len(sets[0]) + sum(len(b - a) for a, b in zip(sets, sets[1:]))
               for name, sets in iterations.items() if name != sink.name) + sink.macs
    return oracle.compute_cycles(list(schedule.layers), iterations, unroll, accel.rows,
                                 accel.cols), macs, footprints, tiles


def test_pointwise_tile_cycles_by_hand():
    """K=40 in tiles of 16 (16, 16, 8) on the 16 rows. C=20 on the 16 columns takes 2
    passes: ceil(16/16) * ceil(20/16) * 14 * 14 = 392 cycles a tile, the partial one too;
    x=14 on them takes one: 1 * 20 * 14 * 1 = 280, which the choice finds."""
    layer = ps.pointwise(20, 40, 14, 14)
    schedule = ps.Schedule(layer, tile={"k": 16}, order=("k",))
    work = compute(schedule, ps.Accelerator(), {layer.name: ("k", "c")})
    assert work.per_tile.tolist() == [392, 392, 392]
    assert work.macs == 40 * 20 * 196
    assert work.utilisation == pytest.approx(40 * 20 * 196 / (1176 * 256))
    chosen = compute(schedule, ps.Accelerator())
    assert chosen.per_tile.tolist() == [280, 280, 280]
    assert chosen.layers[0].unroll == ("k", "x")


def test_inner_layer_computes_only_rows_the_previous_tile_did_not_hold():
    """A 3x3 depthwise after a 1x1 expand, tiled by 2 output rows: the expand computes rows
    0-2 for the first tile, then 2 new rows each (rows 3-4, 5-6, 7), on an array of 4 rows
    (channels, 8 of them: 2 passes) and no column dim: 8 x-positions per row."""
    expand = ps.pointwise(3, 8, 8, 8, name="expand")
    dw = ps.depthwise(8, 8, 8, name="dw")
    schedule = ps.FusedSchedule([expand, dw], tile={"y": 2}, order=("y",))
    accel = ps.Accelerator(rows=4, cols=4, unroll_rows=("k", "c"), unroll_cols=())
    work = compute(schedule, accel, {"expand": ("k", None), "dw": ("c", None)})
    rows_computed = [3, 2, 2, 1]
    per_row = 2 * 8 * 3  # channel passes x positions x input channels
    dw_tile = 2 * 2 * 8 * 9  # channel passes x rows x positions x window
    assert work.per_tile.tolist() == [r * per_row + dw_tile for r in rows_computed]


@settings(max_examples=examples(150), deadline=None)
@given(st.sampled_from(sorted(LAYERS)), st.data())
def test_layer_compute_equals_oracle(kind, data):
    layer = data.draw(LAYERS[kind])
    if layer.macs > 4000:
        return
    schedule = data.draw(schedules(layer, traversals=("lex", "scan", "zorder")))
    accel = _array(data.draw, layer.dims)
    a = data.draw(st.sampled_from(list(layer.dims) + [None]))
    b = data.draw(st.sampled_from([d for d in layer.dims if d != a] + [None]))
    unroll = {layer.name: (a, b)}
    work = compute(schedule, accel, unroll)
    assert work.per_tile.tolist() == _layer_oracle(schedule, unroll, accel)
    assert work.macs == layer.macs


@settings(max_examples=examples(100), deadline=None)
@given(fused_schedules(), st.data())
def test_fused_compute_and_double_buffered_peak_equal_oracle(schedule, data):
    if schedule.tiles > 64 or sum(layer.macs for layer in schedule.layers) > 6000:
        return
    accel = _array(data.draw, ())
    unroll = {}
    for j, layer in enumerate(schedule.layers):
        outputs = [d for d in layer.dims if d not in _reduction(layer)]
        a = data.draw(st.sampled_from(list(layer.dims) + [None]))
        rest = [d for d in layer.dims if d != a and
                (j == len(schedule.layers) - 1 or a not in outputs or d not in outputs)]
        unroll[layer.name] = (a, data.draw(st.sampled_from(rest + [None])))
    work = compute(schedule, accel, unroll)
    expected, macs, footprints, tiles = _fused_oracle(schedule, unroll, accel)
    assert work.per_tile.tolist() == expected
    assert work.macs == macs
    # what the latency bounds count: each inner iteration some tile needs, once
    needed = sum(len(set().union(*footprints.sets[layer.name].values()))
                 for layer in schedule.layers[:-1])
    assert least_macs(schedule.nest) == needed + schedule.layers[-1].macs <= work.macs
    assert double_buffered_peak(schedule) == oracle.double_buffered_peak(footprints, tiles)


@settings(max_examples=examples(150), deadline=None)
@given(st.sampled_from(sorted(LAYERS)), st.data())
def test_layer_double_buffered_peak_equals_oracle(kind, data):
    layer = data.draw(LAYERS[kind])
    schedule = data.draw(schedules(layer))
    footprints = layer_footprints(layer, schedule.tile, schedule.order)
    tiles = sequence(schedule.traversal, schedule.grid)
    assert double_buffered_peak(schedule) == oracle.double_buffered_peak(footprints, tiles)
    assert double_buffered_peak(schedule) >= ps.traffic(schedule).peak


def _reduction(layer):
    from polyscan.polyhedral.footprint import nest_footprints
    footprint = nest_footprints(layer.nest)[layer.output.name]
    return [d for d in layer.dims if not any(d in c.dims for c in footprint.components)]


def test_an_inner_layer_may_not_unroll_two_output_dims():
    expand, dw = ps.pointwise(3, 8, 8, 8, name="expand"), ps.depthwise(8, 8, 8, name="dw")
    schedule = ps.FusedSchedule([expand, dw], tile={"y": 2}, order=("y",))
    with pytest.raises(ps.AcceleratorError, match="at most one of its output dims"):
        compute(schedule, ps.Accelerator(), {"expand": ("k", "y")})


def test_phases_by_hand():
    """Two tiles: reads 5, 3; compute 4, 6; writes after them 2, 7 (steps 1 and 2)."""
    steps = Steps(np.array([4.0, 6.0]), np.array([5.0, 3.0, 0.0]),
                  np.array([0.0, 2.0, 7.0]))
    busy, dma = steps.phases(False)
    assert (busy + dma).sum() == 5 + 4 + 2 + 3 + 6 + 7
    busy, dma = steps.phases(True)
    # phase 0: reads 5 | phase 1: compute 4 beside reads 3 | phase 2: compute 6 beside
    # writes 2 | phase 3: writes 7
    assert np.maximum(busy, dma).tolist() == [5, 4, 6, 7]


def test_makespan_of_a_schedule_by_its_parts():
    """Serial: the DRAM model's time plus the compute time; double-buffered: between the
    longer of the two and the serial time."""
    layer = ps.pointwise(16, 32, 8, 8, name="a")
    schedule = ps.Schedule(layer, tile={"k": 8, "y": 4}, order=("k", "y"), traversal="scan")
    accel = ps.Accelerator()
    serial = ps.timing(schedule, accel)
    dram = accel.dram_settings().cost(schedule)
    assert serial.cycles == pytest.approx(dram.seconds * 1e9 + compute(schedule, accel).cycles,
                                          abs=1)
    overlapped = ps.timing(schedule, accel, double_buffer=True)
    assert max(compute(schedule, accel).cycles, dram.seconds * 1e9) <= overlapped.cycles \
        <= serial.cycles
    assert overlapped.peak == double_buffered_peak(schedule)


def test_timeline_is_a_chrome_trace(tmp_path):
    layer = ps.pointwise(16, 32, 8, 8, name="a")
    schedule = ps.Schedule(layer, tile={"k": 8}, order=("k",))
    time = ps.timing(schedule, "zigzag-like", double_buffer=True)
    path = tmp_path / "trace.json"
    write_timeline(time, path)
    events = json.loads(path.read_text())["traceEvents"]
    spans = [e for e in events if e["ph"] == "X"]
    assert {e["tid"] for e in spans} == {1, 2, 3}
    computes = [e for e in spans if e["tid"] == 2]
    assert len(computes) == schedule.tiles
    end = max(e["ts"] + e["dur"] for e in spans)
    assert end == pytest.approx(time.cycles / 1000, abs=1e-3)
    counters = [e for e in events if e["ph"] == "C"]
    footprints = layer_footprints(layer, schedule.tile, schedule.order)
    assert max(sum(e["args"].values()) for e in counters) == oracle.double_buffered_peak(
        footprints, sequence(schedule.traversal, schedule.grid))  # what tile k+1 brings too
    assert len(timeline_events(time, per="group")) < len(events)


def test_accelerator_files_are_checked(tmp_path):
    assert "zigzag-like" in ps.builtin_accelerators()
    zigzag = ps.load_accelerator("zigzag-like")
    assert (zigzag.rows, zigzag.cols, zigzag.buffer, zigzag.element_bits) == (16, 16, 65536, 8)
    bad = tmp_path / "bad.toml"
    bad.write_text('rows = 16\ncols = "x"\n')
    with pytest.raises(ps.AcceleratorError, match="cols must be a positive integer"):
        ps.load_accelerator(bad)
    bad.write_text('rows = 16\nspeed = 3\n')
    with pytest.raises(ps.AcceleratorError, match="speed is not an accelerator field"):
        ps.load_accelerator(bad)
    bad.write_text('[energy]\nmac = -1\n')
    with pytest.raises(ps.AcceleratorError, match="energy.mac"):
        ps.load_accelerator(bad)
    with pytest.raises(ps.AcceleratorError, match="unknown accelerator"):
        ps.load_accelerator("tpu-v9")
    with pytest.raises(ps.AcceleratorError, match="DRAM preset"):
        ps.Accelerator(dram="ddr9")


def _balanced(extent):
    return sorted({-(-extent // n) for n in range(1, extent + 1)})


@settings(max_examples=examples(8), deadline=None)
@given(st.sampled_from(["pointwise", "depthwise", "conv2d"]).flatmap(lambda k: LAYERS[k]),
       st.integers(8, 200))
def test_double_buffered_search_equals_the_exhaustive_optimum(layer, buffer):
    """Every balanced tiling, every order of its tiled dims, lex and scan: the least traffic
    whose double-buffered peak fits, against what the search returns."""
    if math.prod(len(_balanced(e)) for e in layer.extents.values()) > 60:
        return
    best = {}
    for sizes in itertools.product(*[_balanced(layer.extents[d]) for d in layer.dims]):
        tile = {d: t for d, t in zip(layer.dims, sizes) if t < layer.extents[d]}
        for order in itertools.permutations(tile):
            for traversal in ("lex", "scan"):
                schedule = ps.Schedule(layer, tile=tile, order=order, traversal=traversal)
                if double_buffered_peak(schedule) <= buffer:
                    total = ps.traffic(schedule).total
                    best[traversal] = min(best.get(traversal, total), total)
    try:
        search = ps.search_layer(layer, buffer, double_buffer=True)
    except ps.BufferTooSmallError as error:
        assert not best, (best, layer)
        assert error.smallest > buffer
        return
    assert {t: r.total for t, r in search.results.items()} == best
    assert double_buffered_peak(search.schedule) <= buffer


@settings(max_examples=examples(30), deadline=None)
@given(st.one_of(st.sampled_from(sorted(LAYERS)).flatmap(lambda kind: LAYERS[kind]).flatmap(
    schedules), fused_schedules()), st.data())
def test_the_latency_lower_bound_bounds_every_schedule(schedule, data):
    """What the latency searches prune on (a candidate, a run, the layers after a cut): the
    entries moved at the burst time plus (serial) or beside (double-buffered) the MACs at
    full use of the array never exceed the makespan."""
    from polyscan.search.optimizer import least_cost
    accel = _array(data.draw, schedule.layers[-1].dims)
    macs = least_macs(schedule.nest)  # a strided layer may need part of the one before
    moved = ps.traffic(schedule).total
    for double_buffer in (False, True):
        floor = least_cost("latency", moved, accel.dram_settings(), accel, macs, double_buffer)
        assert floor <= ps.timing(schedule, accel, double_buffer).cycles


def test_the_latency_objective_times_no_worse_than_the_traffic_one():
    layer = ps.zoo.mobilenet_v2().layer("b2_project")
    accel = ps.load_accelerator("zigzag-like")
    by_traffic = ps.optimize(layer, 8192)
    by_latency = ps.optimize(layer, 8192, objective="latency", accel=accel)
    assert ps.timing(by_latency, accel).cycles <= ps.timing(by_traffic, accel).cycles
    overlapped = ps.optimize(layer, 8192, objective="latency", accel=accel, double_buffer=True)
    assert double_buffered_peak(overlapped) <= 8192
    assert ps.timing(overlapped, accel, True).cycles <= ps.timing(overlapped, accel).cycles


def test_a_plan_times_its_groups_one_after_the_other(tmp_path):
    from test_fusion_plan import tiny_network
    net = tiny_network()
    plan = ps.optimize_network(net, 700, accel="zigzag-like", double_buffer=True)
    time = plan.time(ps.load_accelerator("zigzag-like"))
    assert time.double_buffer and time.fits
    assert time.cycles == pytest.approx(sum(g.cycles for g in time.groups), abs=1)
    for group, timed in zip(plan.groups, time.groups):
        assert timed.layers == group.layers
        assert timed.peak == double_buffered_peak(group.schedule) + group.held <= 700
        assert timed.cycles == pytest.approx(
            ps.timing(group.schedule, "zigzag-like", True).cycles, abs=1) or group.held
    held = occupancy(time)  # the buffer's contents over time reach each group's peak
    assert [g.layers for g in held] == [g.layers for g in time.groups]
    for contents, timed in zip(held, time.groups):
        assert max(sum(contents.contents.values())) + contents.held == timed.peak
        assert np.all(np.diff(contents.at) >= 0) and contents.at[-1] <= contents.end
    assert held[-1].end == pytest.approx(time.cycles, abs=1)
    roles = {role for contents in held for role in contents.roles.values()}
    assert {"weights", "outputs", "on-chip intermediates"} <= roles <= set(ROLES)
    data = plan.to_dict()
    assert data["double_buffer"]
    assert all(g["peak_double_buffered"] <= 700 for g in data["groups"])
    assert time.to_dict()["energy_pj"] == pytest.approx(
        sum(time.to_dict()["energy_breakdown"].values()))


def test_timeline_command(tmp_path, capsys):
    from polyscan.cli import main
    out, record = tmp_path / "trace.json", tmp_path / "time.json"
    assert main(["timeline", "mobilenet_v1", "--buffer", "64K", "--no-fusion", "--accel",
                 "zigzag-like", "--out", str(out), "--json",
                 str(record), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "trace events" in printed and "makespan" in printed
    events = json.loads(out.read_text())["traceEvents"]
    assert any(e["ph"] == "X" for e in events) and any(e["ph"] == "C" for e in events)
    assert json.loads(record.read_text())["fits"]
    assert main(["timeline", "mobilenet_v1", "--buffer", "64K", "--accel", "nope", "--out",
                 str(tmp_path / "other.json")]) == 2
    assert "unknown accelerator" in capsys.readouterr().err
    assert not (tmp_path / "other.json").exists()


@pytest.mark.parametrize("file", ["torchvision_shufflenet_v2_x0_5.onnx",
                                  "timm_ghostnet_100.onnx"])
def test_inner_compute_from_bounding_boxes_equals_the_tile_by_tile_count_on_real_exports(file):
    """The compute of an inner fused layer is counted from every tile's bounding box at once
    where each tile's needs are a box (the tile-by-tile count is held to the explicit-set
    oracle above): on every fused pair and triple of real exports (channel splits, strides,
    concats), tiled in rows and channels, both give the same counts, and the groups whose
    needs are no box take the tile-by-tile one."""
    from test_models import load

    from polyscan.cost.compute import _from_boxes, _inner_boxes, _needed, _ranges, _tile_boxes
    from polyscan.network.partition import _Run
    net = load(file)
    fast = 0
    for first in range(len(net.layers) - 1):
        for last in (first + 1, first + 2):
            run = _Run(net, net.layers[first:last + 1])
            if not run.valid or run.too_coupled:
                continue
            dims = run.nest.dims
            tile = {d: max(1, run.nest.extents[d] // 3) for d in dims if d in ("y", "k")}
            schedule = run.make(tile, tuple(tile), "scan")
            origins, _ = _tile_boxes(schedule)
            for layer in schedule.layers[:-1]:
                boxes = _inner_boxes(schedule, layer, origins)
                slow, quick = _from_boxes(boxes, layer), _needed(schedule, layer, origins)
                if _ranges(schedule, layer, origins) is not None:
                    fast += 1
                for name in ("sizes", "shared", "present", "follows"):
                    mask = slow.present if name in ("sizes", "shared") else slice(None)
                    assert np.array_equal(getattr(slow, name)[mask],
                                          getattr(quick, name)[mask]), (file, layer.name, name)
                assert slow.explicit.keys() == quick.explicit.keys()
                assert slow.macs() == quick.macs()
    assert fast  # the bounding-box path was taken
