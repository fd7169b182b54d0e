"""The partition search met in the middle, its second half walked by a helper
(``network.ahead``): what one search finds or rules out answers later searches of the same
nest exactly as they would; the search met at any cut is the forward shortest path, with
and without resident tensors; a plan is the same with the helper, without it or when it
fails; the helper is gone when the planner is done, however it ended."""

import functools
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import conv2d_layers, depthwise_layers, pointwise_layers
from test_cache import figures, use
from test_models import MODELS
from test_residency import small_networks

import polyscan as ps
from polyscan.cost.dram import DramSettings
from polyscan.model.schedule import Schedule
from polyscan.network import ahead, partition
from polyscan.network.graph import NetworkBuilder
from polyscan.network.residency import Residency
from polyscan.search import optimizer
from polyscan.search.bounds import least_peak
from polyscan.search.optimizer import SEARCHABLE, default_accelerator
from polyscan.sweep.store import DiskStore

SLOW = settings(max_examples=15, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def searched(layer, buffer, objective, limit):
    return optimizer.search_nest(layer.nest, functools.partial(Schedule, layer), layer.name,
                                 buffer, objective=objective, limit=limit)


def outline(search):
    """What a search answered: None, or each traversal's schedule and figures."""
    if search is None:
        return None
    return {t: (r.schedule.tile, r.schedule.order, r.total, r.tiles, r.peak,
                None if r.dram is None else r.dram.energy_pj)
            for t, r in search.results.items()}


@SLOW
@given(layer=st.one_of(conv2d_layers(), depthwise_layers(), pointwise_layers()),
       room=st.integers(0, 2000), objective=st.sampled_from(["traffic", "energy"]),
       scale=st.sampled_from([0.5, 1.0, 1.0001, 3.0]))
def test_an_unbounded_optimum_answers_a_bounded_search_as_that_search_would(
        tmp_path_factory, monkeypatch, layer, room, objective, scale):
    buffer = least_peak(layer.nest) + room
    use(None)
    best = searched(layer, buffer, objective, None).best.figure(objective)
    limit = best * scale  # below, at, just above and well above the optimum
    expected = outline(searched(layer, buffer, objective, limit))
    use(DiskStore(tmp_path_factory.mktemp("cache")))
    try:
        searched(layer, buffer, objective, None)  # the helper's search, kept on disk
        counted = []
        monkeypatch.setattr(optimizer, "_search", lambda *a: counted.append(a))
        assert outline(searched(layer, buffer, objective, limit)) == expected
        assert counted == []  # answered from the unbounded optimum, not searched
    finally:
        monkeypatch.undo()
        use(None)


@SLOW
@given(layer=st.one_of(conv2d_layers(), depthwise_layers(), pointwise_layers()),
       room=st.integers(0, 2000), objective=st.sampled_from(["traffic", "energy"]),
       first=st.sampled_from([0.5, 1.0, 1.0001, 3.0]),
       then=st.sampled_from([None, 0.25, 0.5, 0.9, 1.0, 1.0001, 3.0]))
def test_what_a_bounded_search_finds_or_rules_out_answers_later_searches_as_they_would(
        tmp_path_factory, monkeypatch, layer, room, objective, first, then):
    buffer = least_peak(layer.nest) + room
    use(None)
    best = searched(layer, buffer, objective, None).best.figure(objective)
    later = None if then is None else best * then
    expected = outline(searched(layer, buffer, objective, later))
    use(DiskStore(tmp_path_factory.mktemp("cache")))
    try:
        searched(layer, buffer, objective, best * first)  # found (the optimum) or not
        counted = []
        original = optimizer._search
        monkeypatch.setattr(optimizer, "_search", lambda *a: counted.append(a) or original(*a))
        assert outline(searched(layer, buffer, objective, later)) == expected
        ruled_out = best * first <= best if objective == "traffic" else best * first < best
        answered = not ruled_out or (later is not None and later <= best * first)
        assert (counted == []) == answered  # searched again only where nothing answers
    finally:
        monkeypatch.undo()
        use(None)


@SLOW
@given(net=small_networks(), room=st.integers(0, 300),
       objective=st.sampled_from(["traffic", "energy", "latency"]), resident=st.booleans(),
       data=st.data())
def test_the_search_met_anywhere_in_the_middle_is_the_forward_shortest_path(
        net, room, objective, resident, data):
    buffer = 2 * max(least_peak(layer.nest) for layer in net.layers) + room
    use(None)

    def planned(middle):
        planner = partition._Planner(net, buffer, SEARCHABLE, 8, objective, DramSettings(),
                                     None, default_accelerator(buffer, DramSettings()), False)
        planner.middle = middle
        steps = planner.best(Residency(net, enabled=resident))
        assert [name for step in steps for name in step.group.layers] == \
            [layer.name for layer in net.layers]  # the groups cover the layers, in order
        for before, step in zip([frozenset()] + [s.holding.after for s in steps], steps):
            assert step.before == before  # each group entered with what the last one left
        assert steps[-1].holding.after == frozenset()
        cost = steps[-1].cost
        assert cost == pytest.approx(sum(step.group.measure(objective) for step in steps))
        return cost

    forward = planned(len(net.layers))  # no backward half: the forward shortest path
    assert planned(data.draw(st.integers(0, len(net.layers) - 1))) == \
        pytest.approx(forward, rel=1e-12)


@SLOW
@given(net=small_networks(), room=st.integers(0, 300),
       objective=st.sampled_from(["traffic", "energy"]), fails=st.booleans())
def test_a_plan_is_the_same_with_the_helper_without_it_or_when_it_fails(
        tmp_path_factory, monkeypatch, net, room, objective, fails):
    buffer = 2 * max(least_peak(layer.nest) for layer in net.layers) + room
    use(None)
    fresh = ps.optimize_network(net, buffer, objective=objective)  # no store: no helper
    monkeypatch.delenv("POLYSCAN_AHEAD", raising=False)
    monkeypatch.setattr(ahead, "cores", lambda: 2)
    if fails:  # the helper's half fails in the helper only: the planner walks it itself
        parent, original = os.getpid(), partition._Planner.to_end

        def to_end(planner, residency, middle):
            if os.getpid() != parent:
                raise RuntimeError("the helper fails")
            return original(planner, residency, middle)
        monkeypatch.setattr(partition._Planner, "to_end", to_end)
    use(DiskStore(tmp_path_factory.mktemp("cache")))
    try:
        assert figures(ps.optimize_network(net, buffer, objective=objective)) == \
            figures(fresh)
    finally:
        monkeypatch.undo()
        use(None)


@pytest.fixture
def helpers(tmp_path, monkeypatch):
    """The helpers started while a test runs (their process ids), with a store on."""
    started = []
    original = ahead._stop

    def stop(child):
        started.append(child)
        original(child)
    monkeypatch.setattr(ahead, "_stop", stop)
    monkeypatch.delenv("POLYSCAN_AHEAD", raising=False)
    monkeypatch.setattr(ahead, "cores", lambda: 2)
    use(DiskStore(tmp_path / "cache"))
    yield started
    use(None)


def block() -> ps.Network:
    """An inverted residual block on a 28x28 image: a few runs to search, in seconds."""
    net = NetworkBuilder("block")
    expand = net.add(ps.pointwise(16, 64, 28, 28, name="expand"))
    spread = net.add(ps.depthwise(64, 28, 28, kernel=3, padding=1, name="spread"), expand)
    net.add(ps.pointwise(64, 16, 28, 28, name="project"), spread)
    return net.build()


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_the_helper_is_gone_when_the_plan_is_done(helpers):
    net = block()
    plan = ps.optimize_network(net, 8192)
    assert len(helpers) == 2 and all(map(gone, helpers))  # the search's, the ties'

    use(None)
    assert figures(ps.optimize_network(net, 8192)) == figures(plan)


def test_the_helper_is_gone_when_the_search_fails_midway(helpers):
    class Stop(Exception):
        pass

    def progress(done, total, what):
        raise Stop  # in the forward half, the helper walking the second half
    with pytest.raises(Stop):
        ps.optimize_network(block(), 8192, progress=progress)
    assert len(helpers) == 1 and gone(helpers[0])


def test_no_helper_where_it_cannot_serve_or_is_turned_off(helpers, monkeypatch):
    net = block()
    ps.optimize_network(net, 8192, objective="latency")  # branch and bound: no answer
    ps.optimize_network(net, 8192, double_buffer=True)
    monkeypatch.setenv("POLYSCAN_AHEAD", "off")
    ps.optimize_network(net, 8192)
    monkeypatch.delenv("POLYSCAN_AHEAD")
    use(None)  # no store to leave its work in
    ps.optimize_network(net, 8192)
    assert helpers == []


def test_a_real_export_is_planned_the_same_with_the_helper(tmp_path, monkeypatch):
    net = ps.load_onnx(MODELS / "torchvision_squeezenet1_1.onnx")
    searches = []  # the planner's own (a forked helper counts into its copy)
    original = optimizer._search
    monkeypatch.setattr(optimizer, "_search", lambda *a: searches.append(a) or original(*a))
    monkeypatch.delenv("POLYSCAN_AHEAD", raising=False)
    monkeypatch.setattr(ahead, "cores", lambda: 2)
    use(None)
    fresh = ps.optimize_network(net, 65536)
    alone = len(searches)
    searches.clear()
    use(DiskStore(tmp_path / "cache"))
    try:
        assert figures(ps.optimize_network(net, 65536)) == figures(fresh)
        assert len(searches) < alone  # the helper searched the second half
    finally:
        use(None)
