"""The network optimizer with fusion: optimal group schedules (checked by exhaustive
simulation on a tiny group), the best partition (checked against every partition), and
totals that equal the groups' exact traffic."""

import functools
import itertools
import math

import pytest

import polyscan as ps
from polyscan.model.fusion import FusedGroup, FusedSchedule
from polyscan.network.graph import NetworkBuilder
from polyscan.network.partition import _Run
from polyscan.search.optimizer import search_nest
from polyscan.testing.simulator import lex_sequence, scan_sequence, simulate_fused


def tiny_network():
    """conv -> inverted residual block (with a residual) -> pointwise, on 8x8 images."""
    net = NetworkBuilder("tiny")
    stem = net.add(ps.conv2d(2, 4, 8, 8, kernel=3, stride=1, padding=1, name="stem"))
    expand = net.add(ps.pointwise(4, 8, 8, 8, name="expand"), stem)
    dw = net.add(ps.depthwise(8, 8, 8, kernel=3, padding=1, name="dw"), expand)
    project = net.add(ps.pointwise(8, 4, 8, 8, name="project"), dw, residual=stem)
    net.add(ps.pointwise(4, 6, 8, 8, name="head"), project)
    return net.build()


@pytest.fixture(scope="module")
def net():
    return tiny_network()


def _run_cost(net, first, last, buffer):
    group = _Run(net, net.layers[first:last + 1]).search(buffer, ("lex", "scan"), {})
    return None if group is None else group.total


@pytest.mark.parametrize("buffer", [300, 700, 4000])
def test_the_partition_is_the_best_of_all_partitions(net, buffer):
    plan = ps.optimize_network(net, buffer, fusion=True, resident=False)
    n = len(net.layers)
    best = None
    for cuts in itertools.product([False, True], repeat=n - 1):
        bounds = [0] + [i + 1 for i, cut in enumerate(cuts) if cut] + [n]
        costs = [_run_cost(net, a, b - 1, buffer) for a, b in zip(bounds, bounds[1:])]
        if None not in costs and (best is None or sum(costs) < best):
            best = sum(costs)
    assert plan.total == best
    assert [name for g in plan.groups for name in g.layers] == [x.name for x in net.layers]
    for group in plan.groups:
        counted = ps.traffic(group.schedule)
        assert (counted.reads, counted.writes, counted.peak) == \
            (group.traffic.reads, group.traffic.writes, group.traffic.peak)
        assert counted.peak <= buffer
    assert plan.total == sum(ps.traffic(g.schedule).total for g in plan.groups)
    assert plan.total <= ps.optimize_network(net, buffer, fusion=False).total


def test_a_fused_group_schedule_is_optimal_by_exhaustive_simulation():
    layers = [ps.pointwise(2, 3, 3, 3, name="expand"), ps.depthwise(3, 3, 3, name="dw"),
              ps.pointwise(3, 2, 3, 3, name="project")]
    group = FusedGroup(layers)
    sink = layers[-1]
    buffer = 60
    best = None
    sizes = [sorted({math.ceil(sink.extents[d] / n) for n in range(1, sink.extents[d] + 1)})
             for d in sink.dims]
    for combination in itertools.product(*sizes):
        tile = {d: t for d, t in zip(sink.dims, combination) if t < sink.extents[d]}
        for order in itertools.permutations(tile):
            grid = tuple(math.ceil(sink.extents[d] / tile[d]) for d in order)
            for sequence in (lex_sequence(grid), scan_sequence(grid)):
                result = simulate_fused(layers, group.inputs, (), tile, order, sequence)
                key = (result.total, result.tiles, result.peak)
                if result.peak <= buffer and (best is None or key < best):
                    best = key
    found = search_nest(group.nest, functools.partial(FusedSchedule, group), group.name,
                        buffer).best
    assert (found.total, found.tiles, found.peak) == best


def test_tensors_in_dram(net):
    """Weights and group outputs move; what a fused group keeps on chip, and what stays
    resident between groups, does not."""
    plan = ps.optimize_network(net, 700, fusion=True)
    assert plan.resident  # at 700 entries, the stem's 256-entry output stays
    moving = set(plan.dram_tensors())
    for group in plan.groups:
        assert {f"{name}.W" for name in group.layers} <= moving
        sink = f"{group.layers[-1]}.O"
        assert (sink in moving) == (sink not in plan.resident)
        for name in group.layers[:-1]:
            assert (f"{name}.O" in moving) == (name in group.schedule.group.exported and
                                               f"{name}.O" not in plan.resident)


def test_groups_of_equal_shape_share_tables_under_their_own_names():
    """The second of two equal-shape groups reuses the first's tables, under its own keys."""
    def block(i):
        return FusedGroup([ps.pointwise(4, 8, 6, 6, name=f"e{i}"),
                           ps.depthwise(8, 6, 6, name=f"d{i}"),
                           ps.pointwise(8, 4, 6, 6, name=f"p{i}")])

    first, second = block(1), block(2)
    assert first.nest.shape_key == second.nest.shape_key
    for group in (first, second):
        found = search_nest(group.nest, functools.partial(FusedSchedule, group), group.name,
                            300).best
        counted = ps.traffic(found.schedule)
        assert (counted.reads, counted.writes) == (found.traffic.reads, found.traffic.writes)
        assert all(key.endswith(("1.I", "1.W", "1.O")) == (group is first)
                   for key in counted.reads)


@pytest.mark.parametrize("buffer", [300, 4000])
def test_the_energy_partition_is_the_best_of_all_partitions(net, buffer):
    """The search skips runs (and stops counting candidates) that cannot beat the best
    partition found so far; that must never change the answer."""
    plan = ps.optimize_network(net, buffer, objective="energy", resident=False)
    n = len(net.layers)
    cost = {}
    for first in range(n):
        for last in range(first, n):
            group = _Run(net, net.layers[first:last + 1]).search(buffer, ("lex", "scan"), {},
                                                                 "energy")
            cost[first, last] = None if group is None else group.measure("energy")
    best = None
    for cuts in itertools.product([False, True], repeat=n - 1):
        bounds = [0] + [i + 1 for i, cut in enumerate(cuts) if cut] + [n]
        costs = [cost.get((a, b - 1)) for a, b in zip(bounds, bounds[1:])]
        if None not in costs and (best is None or sum(costs) < best):
            best = sum(costs)
    assert sum(g.measure("energy") for g in plan.groups) == pytest.approx(best)


def test_a_window_read_through_a_flatten_is_not_searched_and_a_view_alone_is():
    """AlexNet's last max pool fused with its first classifier layer reads the pool's input
    through the flatten's divisions, a window per channel position: barvinok takes minutes
    per count, so the group is reported too coupled; the average pool (one element per
    position) with the classifier is searched."""
    from test_models import MODELS

    from polyscan.search.tables import too_coupled

    net = ps.load_onnx(MODELS / "torchvision_alexnet.onnx")
    kinds = [layer.kind for layer in net.layers]
    classifier = kinds.index("fully_connected")
    assert kinds[classifier - 2:classifier] == ["pool", "pool"]  # max pool, average pool
    pooled = _Run(net, net.layers[classifier - 2:classifier + 1])
    assert pooled.valid and "integer division" in too_coupled(pooled.nest)
    viewed = _Run(net, net.layers[classifier - 1:classifier + 1])
    assert viewed.valid and too_coupled(viewed.nest) is None
    assert viewed.search(65536, ("lex", "scan"), {}) is not None
    # the divisions of channel groups (RegNet's grouped 3x3 convs) and of strides are not
    # flattens: those groups count quickly and are searched
    regnet = ps.load_onnx(MODELS / "torchvision_regnet_x_400mf.onnx")
    grouped = next(i for i, layer in enumerate(regnet.layers) if layer.kind == "grouped_conv2d")
    run = _Run(regnet, regnet.layers[grouped - 1:grouped + 2])
    assert run.valid and "integer division" not in (too_coupled(run.nest) or "")


@pytest.mark.slow
def test_a_group_too_large_for_64_bit_counts_is_skipped_not_fatal():
    """Each pointwise layer alone counts in 64 bits, the pair fused does not (the sink's tiles
    times the producer's iterations, recomputed per tile, could pass 2^63; VGG11's last convs
    fused crashed the whole network search): the group is skipped, and the plan is the
    layers alone."""
    from polyscan.search.bounds import least_peak

    builder = NetworkBuilder("wide")
    # 2^32 iterations each; few weights (2^24), so that costing the plan's DRAM stream
    # (16 times more weights at 2^14 channels on 4 x 4) does not take a minute
    wide = builder.add(ps.pointwise(2 ** 12, 2 ** 12, 16, 16, name="wide"))
    builder.add(ps.pointwise(2 ** 12, 2 ** 12, 16, 16, name="wider"), wide)
    net = builder.build()
    fused = _Run(net, net.layers)
    assert fused.valid
    with pytest.raises(ps.CountOverflowError, match="the iterations of wide could reach"):
        least_peak(fused.nest)
    plan = ps.optimize_network(net, 65536)
    assert [g.layers for g in plan.groups] == [("wide",), ("wider",)]
    assert plan.groups_skipped == 1
    alone = [ps.traffic(ps.optimize(layer, 65536)).total for layer in net.layers]
    assert plan.total == sum(alone)
    # the real case: VGG11's conv8 + pool + conv11 + conv13, as exported by torchvision
    from test_models import MODELS

    vgg = ps.load_onnx(MODELS / "torchvision_vgg11.onnx")
    names = [layer.name for layer in vgg.layers]
    first = names.index("/features/features.8/Conv")
    last = names.index("/features/features.13/Conv")
    exported = _Run(vgg, vgg.layers[first:last + 1])
    assert exported.valid
    with pytest.raises(ps.CountOverflowError, match="the iterations of /features/features.8"):
        least_peak(exported.nest)


def test_what_every_tile_holds_whole_bounds_the_least_peak(net):
    """``held_whole`` (operands with only constant components, counted without closed
    forms) and ``central_peak`` (the smallest tile at the centre, counted without
    parameters) never exceed the least peak, so the network search may reject a group on
    them:
    every run of the tiny network and of torchvision's exported MobileNetV2's first blocks,
    where long runs hold their inner layers' weights whole."""
    from test_models import MODELS

    from polyscan.search.bounds import can_fit, central_peak, held_whole, least_peak

    mobilenet = ps.load_onnx(MODELS / "torchvision_mobilenet_v2.onnx")
    runs = [_Run(n, n.layers[first:last + 1]) for n, count in ((net, len(net.layers)),
                                                               (mobilenet, 8))
            for first in range(count) for last in range(first, count)]
    runs = [run for run in runs if run.valid]
    held = [held_whole(run.nest) for run in runs]
    assert sum(h > 0 for h in held) >= 10  # the shortcut has something to say
    exact = 0
    for run, whole in zip(runs, held):
        peak = least_peak(run.nest)
        centre = central_peak(run.nest)
        assert whole <= peak and centre <= peak, run.label
        exact += centre == peak
        assert can_fit(run.nest, peak) and not can_fit(run.nest, peak - 1)
    assert exact >= len(runs) // 2  # the centre is mostly where the least peak is
