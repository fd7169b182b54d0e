"""Tensors resident across groups (DESIGN 6b): the plan's dynamic program against every
partition with every choice of resident tensors, and whole plans against the explicit-set
simulator on random small networks."""

import functools
import itertools
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx_models import GraphBuilder, save
from test_fusion_plan import tiny_network

import polyscan as ps
from polyscan.errors import ScheduleError
from polyscan.network.graph import NetworkBuilder
from polyscan.network.partition import _Run
from polyscan.network.residency import Holding, Residency
from polyscan.search.bounds import least_peak
from polyscan.search.optimizer import search_nest
from polyscan.testing.simulator import simulate_plan


def concat_network(folder):
    """A stem, two 1x1 branches joined by a Concat, two 1x1 convs: the Concat's tensor is
    written by two layers, so it can only stay resident from a group holding both."""
    g = GraphBuilder(2, 6, 6)
    stem = g.conv("x", 2, 3, name="stem")
    a = g.conv(stem, 3, 2, kernel=1, pad=0, name="a")
    b = g.conv(stem, 3, 2, kernel=1, pad=0, name="b")
    x = g.node("Concat", [a, b], axis=1, name="cat")
    x = g.conv(x, 4, 3, kernel=1, pad=0, name="mix")
    x = g.conv(x, 3, 2, kernel=1, pad=0, name="head")
    return ps.load_onnx(save(g.model(x, [1, 2, 6, 6]), folder))


def exhaustive_best(net, buffer, objective="traffic", accel=None, double_buffer=False):
    """The least cost over every partition into runs and every set of resident tensors,
    each run searched for its optimal schedule with the tensors resident during it."""
    n, searched, best = len(net.layers), {}, None
    for cuts in itertools.product([False, True], repeat=n - 1):
        bounds = [0] + [i + 1 for i, cut in enumerate(cuts) if cut] + [n]
        runs = list(zip(bounds, [b - 1 for b in bounds[1:]]))
        group_of = {net.layers[i].name: g for g, (a, b) in enumerate(runs)
                    for i in range(a, b + 1)}
        spans = {}  # tensor -> groups during which it would be resident
        for tensor in net.tensors.values():
            writers = {group_of[w] for w in tensor.writers}
            readers = [group_of[r.layer] for r in tensor.readers]
            if len(writers) == 1 and tensor.name not in net.outputs and readers and \
                    max(readers) > min(writers):
                spans[tensor.name] = range(min(writers), max(readers) + 1)
        for count in range(len(spans) + 1):
            for chosen in itertools.combinations(spans, count):
                total = 0
                for g, (a, b) in enumerate(runs):
                    alive = frozenset(t for t in chosen if g in spans[t])
                    entries = sum(net.tensors[t].size for t in alive)
                    run = _Run(net, net.layers[a:b + 1])
                    group = None if not run.valid or entries >= buffer else run.search(
                        buffer, ("lex", "scan"), searched, objective,
                        holding=Holding(alive, entries, frozenset()), accel=accel,
                        double_buffer=double_buffer)
                    if group is None:
                        break
                    total += group.measure(objective)
                else:
                    best = total if best is None else min(best, total)
    return best


def check_against_simulator(plan):
    """Every group's figures, resident tensors included, equal the explicit simulation, and
    every tile fits the buffer."""
    for group, simulated in zip(plan.groups, simulate_plan(plan)):
        assert simulated.reads == {str(k): v for k, v in group.traffic.reads.items()}
        assert simulated.writes == {str(k): v for k, v in group.traffic.writes.items()}
        assert (simulated.peak, simulated.tiles) == (group.peak, group.traffic.tiles)
        assert group.peak <= plan.buffer
    assert plan.total == sum(ps.traffic(g.schedule).total for g in plan.groups)


@pytest.mark.parametrize("buffer", [300, 700, 1200, 4000])
def test_the_plan_is_the_best_of_all_partitions_and_resident_sets(buffer):
    net = tiny_network()
    plan = ps.optimize_network(net, buffer)
    assert plan.total == exhaustive_best(net, buffer)
    assert plan.total <= ps.optimize_network(net, buffer, resident=False).total
    check_against_simulator(plan)


def test_a_concat_stays_resident_only_from_a_group_writing_all_of_it(tmp_path):
    net = concat_network(tmp_path)
    for buffer in (150, 400):
        plan = ps.optimize_network(net, buffer)
        assert plan.total == exhaustive_best(net, buffer)
        check_against_simulator(plan)
        for name in plan.resident:
            assert len({g for g, group in enumerate(plan.groups)
                        for w in net.tensors[name].writers if w in group.layers}) == 1


def test_the_energy_plan_is_the_best_of_all_partitions_and_resident_sets():
    net = tiny_network()
    plan = ps.optimize_network(net, 700, objective="energy")
    assert sum(g.measure("energy") for g in plan.groups) == \
        pytest.approx(exhaustive_best(net, 700, "energy"))


@pytest.mark.parametrize("double_buffer", [False, True])
def test_the_latency_plan_is_the_best_of_all_partitions_and_resident_sets(double_buffer):
    """The latency plan's bounds (each run's and the later layers' entries at the burst
    time with their MACs at full use of the array) prune nothing the optimum needs; a 2x2
    array makes compute weigh."""
    net = tiny_network()
    accel = ps.Accelerator(buffer_bytes=700, rows=2, cols=2)
    plan = ps.optimize_network(net, 700, objective="latency", accel=accel,
                               double_buffer=double_buffer)
    assert sum(g.measure("latency") for g in plan.groups) == \
        pytest.approx(exhaustive_best(net, 700, "latency", accel, double_buffer))


def strided_branches(net: NetworkBuilder, producer, name: str):
    """A 1x1 stride-2 conv and a 3x3 stride-2 depthwise both reading ``producer``, added:
    the 1x1 reads a quarter of the tensor, the 3x3 all of it (a ResNet or RegNet
    downsampling block)."""
    channels, height, width = producer.output.shape
    skip = net.add(ps.conv2d(channels, channels, height, width, kernel=1, stride=2,
                             padding=0, name=f"{name}_skip"), producer)
    return net.add(ps.depthwise(channels, height, width, kernel=3, stride=2, padding=1,
                                name=f"{name}_down"), producer, residual=skip)


def test_a_producer_does_not_fuse_with_a_strided_reader_of_part_of_its_output():
    """The stem's output is read in part by the 1x1 (even rows and columns) and whole by
    the 3x3 outside: a group of stem and 1x1 would write a quarter of what the 3x3 reads,
    so it does not fuse; with the 3x3 inside it does."""
    net = NetworkBuilder("branches")
    stem = net.add(ps.pointwise(2, 3, 6, 6, name="stem"))
    strided_branches(net, stem, "b")
    net = net.build()
    assert not _Run(net, net.layers[0:2]).valid
    assert _Run(net, net.layers[0:3]).valid
    check_against_simulator(ps.optimize_network(net, 400))


@st.composite
def small_networks(draw):
    """Chains of pointwise and depthwise layers on small images, each maybe adding the
    output of an earlier layer of its shape as a residual, or strided branches."""
    height, width = draw(st.integers(2, 5)), draw(st.integers(2, 5))
    channels = draw(st.integers(1, 4))
    net, made = NetworkBuilder("random"), []
    for i in range(draw(st.integers(2, 5))):
        if made and draw(st.integers(0, 3)) == 0:
            made.append(strided_branches(net, made[-1], f"s{i}"))
            height, width = made[-1].output.shape[1:]
            continue
        if draw(st.booleans()):
            out = draw(st.integers(1, 4))
            layer = ps.pointwise(channels, out, height, width, name=f"pw{i}")
            channels = out
        else:
            layer = ps.depthwise(channels, height, width, kernel=3, padding=1, name=f"dw{i}")
        same = [x for x in made[:-1] if x.output.shape == (channels, height, width)]
        residual = draw(st.sampled_from([None, *same])) if same else None
        made.append(net.add(layer, made[-1] if made else None, residual=residual))
    return net.build()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(net=small_networks(), room=st.integers(0, 400), fusion=st.booleans())
def test_random_plans_with_resident_tensors_match_the_simulator(net, room, fusion):
    buffer = max(least_peak(layer.nest) for layer in net.layers) + room  # tight to roomy
    plan = ps.optimize_network(net, buffer, fusion=fusion, resident=True)
    check_against_simulator(plan)
    assert plan.total <= ps.optimize_network(net, buffer, fusion=fusion, resident=False).total


def test_resident_tensors_are_reported():
    net = tiny_network()
    plan = ps.optimize_network(net, 700)
    assert "stem.O" in plan.resident  # 256 entries, read by the block and its residual add
    data = json.loads(json.dumps(plan.to_dict()))
    assert data["resident"] == list(plan.resident) and data["residency"] is True
    for row in data["groups"]:
        assert row["resident_entries"] == sum(net.tensors[t].size for t in row["resident"])
        assert row["peak"] <= 700
    assert f"{len(plan.resident)} tensors resident between groups" in plan.summary()
    assert ps.optimize_network(net, 700, resident=False).resident == ()


def test_a_schedule_names_its_resident_operands():
    layer = ps.pointwise(4, 6, 4, 4, name="p")
    schedule = ps.Schedule(layer, tile={"y": 2}, order=("y",), resident=["I"])
    counted = ps.traffic(schedule)
    assert "I" not in counted.reads and counted.reads["W"] == 24
    assert counted.peak == ps.traffic(ps.Schedule(layer, tile={"y": 2}, order=("y",))).peak - 32
    assert schedule.to_dict()["resident"] == ["I"]
    with pytest.raises(ScheduleError, match="cannot stay resident"):
        ps.Schedule(layer, resident=["Z"])
    with pytest.raises(ScheduleError, match="list of operand names"):
        ps.Schedule(layer, resident="I")
    with pytest.raises(ps.PolyscanError, match="resident must be True, False or None"):
        ps.optimize_network(tiny_network(), 700, resident="no")


def test_traffic_ties_go_to_the_schedule_of_least_dram_energy():
    """b1_project at 16K: tiling x or y moves the same entries, but x tiles of a CHW tensor
    scatter every burst; the plan's search keeps the energy-cheaper one."""
    layer = ps.zoo.mobilenet_v2().layer("b1_project")
    make = functools.partial(ps.Schedule, layer)
    dram = ps.DramSettings()
    fewest = search_nest(layer.nest, make, layer.name, 16384)
    tied = search_nest(layer.nest, make, layer.name, 16384, limit=fewest.best.total + 1,
                       ties=True, dram=dram)
    assert tied.best.total == fewest.best.total
    assert dram.cost(tied.schedule).energy_pj < 0.5 * dram.cost(fewest.schedule).energy_pj
    candidates = search_nest(layer.nest, make, layer.name, 16384, objective="energy",
                             dram=dram)
    equal = [r for r in candidates.results.values() if r.total == fewest.best.total]
    assert all(tied.best.dram.energy_pj <= r.dram.energy_pj for r in equal)


def test_a_traffic_plan_keeps_its_traffic_and_saves_energy_on_ties():
    """Each group of the plan moves what its fewest-tiles optimum moves, for no more DRAM
    energy."""
    net, dram = tiny_network(), ps.DramSettings()
    plan = ps.optimize_network(net, 700)
    for group in plan.groups:
        run = _Run(net, [net.layer(name) for name in group.layers])
        fewest = run.search(700, ("lex", "scan"), {}, holding=Holding(
            frozenset(group.resident), group.held, frozenset()))
        assert fewest.total == group.total == ps.traffic(group.schedule).total
        assert dram.cost(group.schedule).energy_pj <= dram.cost(fewest.schedule).energy_pj


def test_a_real_export_holds_its_resident_tensors_as_design_6b_says():
    """SqueezeNet 1.1 (torchvision export; its fire modules' outputs are Concats) at 64K:
    every resident tensor is written whole by one group, read later, moved by no group, and
    held in every group from its writer's to its last reader's, within the buffer."""
    from test_models import MODELS

    net = ps.load_onnx(MODELS / "torchvision_squeezenet1_1.onnx")
    plan = ps.optimize_network(net, 65536)
    assert plan.resident
    place = {name: g for g, group in enumerate(plan.groups) for name in group.layers}
    alive = {g: set() for g in range(len(plan.groups))}
    for name in plan.resident:
        tensor = net.tensors[name]
        writers = {place[w] for w in tensor.writers}
        assert len(writers) == 1 and name not in net.outputs
        last = max(place[r.layer] for r in tensor.readers)
        assert last > min(writers)
        for g in range(min(writers), last + 1):
            alive[g].add(name)
    for g, group in enumerate(plan.groups):
        bound = group.tensor_of(net)
        counted = ps.traffic(group.schedule)
        assert not {bound(k) for k in (*counted.reads, *counted.writes)} & alive[g]
        assert set(group.resident) == alive[g]
        assert group.peak == counted.peak + sum(net.tensors[t].size for t in alive[g]) <= 65536
    assert plan.total == sum(ps.traffic(g.schedule).total for g in plan.groups)
    assert plan.total < ps.optimize_network(net, 65536, resident=False).total


@settings(max_examples=50, deadline=None)
@given(net=small_networks(), buffer=st.integers(1, 400), longest=st.integers(1, 5))
def test_the_states_of_a_cut_hold_every_state_a_group_can_leave_there(net, buffer, longest):
    """The search's backward half walks ``Residency.states`` of every cut; a state a group
    (of at most ``longest`` layers) leaves that is not among them would be lost."""
    residency, n = Residency(net), len(net.layers)
    states = [residency.states(cut, buffer, longest) for cut in range(n + 1)]
    assert all(cut_states[0] == frozenset() for cut_states in states)
    assert states[n] == [frozenset()]  # nothing is read after the last layer
    for first in range(n):
        for last in range(first, min(n, first + longest)):
            for state in states[first]:
                for holding in residency.choices(state, first, last, buffer):
                    assert holding.after in states[last + 1]
                    assert holding.entries < buffer
    assert Residency(net, enabled=False).states(1, buffer, longest) == [frozenset()]
