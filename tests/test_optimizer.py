"""The per-layer optimizer is optimal in the whole space: checked against an exhaustive
search in which every schedule is simulated explicitly."""

import functools
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import examples
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import LAYERS

import polyscan as ps
from polyscan.search.optimizer import Space, search_layer
from polyscan.search.tables import tables_for
from polyscan.testing.simulator import exhaustive_optimum, sequence, simulate

SMALL = {
    "pointwise": ps.pointwise(3, 2, 3, 2, name="pw"),
    "fully_connected": ps.fully_connected(5, 4, name="fc"),
    "depthwise": ps.depthwise(2, 4, 3, kernel=3, padding=1, name="dw"),
    "conv2d": ps.conv2d(2, 2, 3, 3, kernel=3, stride=2, padding=1, name="conv"),
    "pool": ps.pool(2, 5, 5, kernel=3, stride=2, padding=(1, 0, 1, 1), name="pool"),
}


def _check_against_exhaustive(layer, buffer):
    found = search_layer(layer, buffer)
    combined = None
    for traversal in ("lex", "scan"):
        key, _ = exhaustive_optimum(layer, buffer, (traversal,))
        result = found.results[traversal]
        assert (result.total, result.tiles, result.peak) == key, traversal
        schedule = result.schedule
        assert schedule.traversal == traversal
        counted = ps.traffic(schedule)
        assert (counted.total, counted.tiles, counted.peak) == key
        assert result.traffic == counted  # the search's own per-tensor figures
        combined = key if combined is None else min(combined, key)
    best = found.best
    assert (best.total, best.tiles, best.peak) == combined
    assert ps.optimize(layer, buffer).traversal == best.traversal


@pytest.mark.parametrize("kind", sorted(SMALL))
@pytest.mark.parametrize("share", [1, 2, 4])
def test_optimizer_matches_exhaustive_simulation(kind, share):
    layer = SMALL[kind]
    full = ps.traffic(ps.Schedule(layer)).peak
    _check_against_exhaustive(layer, max(full // share, _smallest(layer)))


def _smallest(layer):
    """The least buffer any schedule fits (1 for a layer that only reads padding)."""
    try:
        ps.optimize(layer, 1)
    except ps.BufferTooSmallError as error:
        return error.smallest
    return 1


@st.composite
def tiny_layers(draw):
    kind = draw(st.sampled_from(["pointwise", "depthwise", "pool", "fully_connected"]))
    if kind == "pointwise":
        return ps.pointwise(draw(st.integers(1, 3)), draw(st.integers(1, 3)),
                            draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    if kind == "fully_connected":
        return ps.fully_connected(draw(st.integers(1, 6)), draw(st.integers(1, 6)))
    kernel = draw(st.sampled_from([1, 3]))
    padding = tuple(draw(st.integers(0, 1)) for _ in range(4))
    height = draw(st.integers(max(1, kernel - padding[0] - padding[2]), 4))
    width = draw(st.integers(max(1, kernel - padding[1] - padding[3]), 3))
    stride = draw(st.sampled_from([1, 2]))
    make = ps.depthwise if kind == "depthwise" else ps.pool
    return make(draw(st.integers(1, 2)), height, width, kernel=kernel, stride=stride,
                padding=padding)


@settings(max_examples=examples(20))
@given(tiny_layers(), st.floats(0, 1))
def test_optimizer_matches_exhaustive_simulation_on_random_layers(layer, share):
    smallest, full = _smallest(layer), ps.traffic(ps.Schedule(layer)).peak
    _check_against_exhaustive(layer, smallest + int(share * (full - smallest)))


def test_too_small_a_buffer_names_the_smallest_that_works():
    layer = SMALL["depthwise"]
    smallest = _smallest(layer)
    assert smallest > 1
    key, (tile, order, traversal) = exhaustive_optimum(layer, smallest)
    assert key[2] == smallest  # nothing smaller fits: the least peak of the whole space
    with pytest.raises(ps.BufferTooSmallError, match=f"needs {smallest:,} entries"):
        ps.optimize(layer, smallest - 1)
    schedule = ps.optimize(layer, smallest)
    simulated = simulate(layer, schedule.tile, schedule.order,
                         sequence(schedule.traversal, schedule.grid))
    assert not simulated.differences(ps.traffic(schedule)) and simulated.peak <= smallest


@pytest.mark.parametrize("buffer, traversals, message", [
    (0, ("lex",), "buffer must be a positive number"),
    ("64K", ("lex",), "buffer must be a positive number"),
    (100, ("zorder",), "optimize searches the traversals lex, scan"),
    (100, (), "optimize searches the traversals"),
])
def test_bad_arguments_are_rejected(buffer, traversals, message):
    with pytest.raises(ps.PolyscanError, match=message):
        ps.optimize(SMALL["pointwise"], buffer, traversals)


@pytest.mark.parametrize("kind", sorted(LAYERS))
@settings(max_examples=examples(40))
@given(data=st.data())
def test_table_traffic_of_any_balanced_lex_or_scan_schedule(kind, data):
    """The search's closed sums over tile positions give ps.traffic's figures, per tensor."""
    layer = data.draw(LAYERS[kind])
    tile = {d: -(-layer.extents[d] // data.draw(st.integers(1, layer.extents[d])))
            for d in layer.dims if d not in layer.whole and data.draw(st.booleans())}
    order = tuple(data.draw(st.permutations(layer.dims)))
    traversal = data.draw(st.sampled_from(["lex", "scan"]))
    space = Space(tables_for(layer.nest), functools.partial(ps.Schedule, layer), layer.name)
    sizes = [[tile.get(d, layer.extents[d]) for d in c.dims] for c in space.tables.clusters]
    flat = np.ravel_multi_index(
        [[tuple(row) for row in c.tiles.tolist()].index(tuple(size))
         for c, size in zip(space.tables.clusters, sizes)], space.shape)
    schedule = space.schedule(int(flat), order, traversal)
    assert space.traffic(int(flat), order, traversal) == ps.traffic(schedule)


def test_the_chosen_schedule_does_not_depend_on_the_hash_seed():
    """Ties between loop orders are broken by the nest's dim order, not by set iteration."""
    code = ("import polyscan as ps; "
            "print(ps.optimize(ps.pointwise(144, 24, 56, 56), 65536))")
    seen = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}, check=True).stdout
            for seed in ("1", "2", "3")}
    assert len(seen) == 1


def test_a_search_split_over_two_processes_finds_the_same_schedules(monkeypatch):
    """Large batches are evaluated half in a forked child: the halves' best keys merged are
    the batch's, so every traversal's best is the one found in one process."""
    layer = ps.conv2d(6, 8, 14, 14, kernel=3, padding=1, name="conv")
    monkeypatch.setattr("polyscan.search.parallel.MIN_COMBINATIONS", 10 ** 12)
    alone = ps.search_layer(layer, 600)
    monkeypatch.setattr("polyscan.search.parallel.MIN_COMBINATIONS", 2)
    split = ps.search_layer(layer, 600)
    for traversal in ("lex", "scan"):
        a, b = alone.results[traversal], split.results[traversal]
        assert (a.total, a.tiles, a.peak, a.schedule.tile, a.schedule.order) == \
            (b.total, b.tiles, b.peak, b.schedule.tile, b.schedule.order)


def _pruned_totals_keep_the_optimum(nest, buffer):
    """Each traversal's totals function, given an incumbent just above the optimum (the
    most it can prune while keeping it), still finds the optimum: the least (total, tiles,
    peak, flat) key over every feasible combination evaluated by the whole exact program."""
    from polyscan.search.optimizer import _lex_totals, _scan_totals
    from polyscan.search.orders import lex_reuse, scan_reuse

    space = Space(tables_for(nest), None, "nest")
    flat, tiles, peaks = space.feasible(buffer)
    batch = space.batch(flat)
    for totals, reuse in ((_lex_totals, lex_reuse), (_scan_totals, scan_reuse)):
        optimum = space.least(space.base(batch) - reuse(batch), tiles, peaks, flat)[0]
        above = optimum[:3] + (optimum[3] + 1,)
        found, _ = totals(space, flat, tiles, peaks, (above,))
        assert found[:1] == (optimum,), totals.__name__


def _partial_bounds_hold(nest):
    """At every size of the lex program and of the scan bound's program, the partial bound
    ``max_S best[S] + entries(S)`` is at least the program's final value, on every
    combination (what ``program_where`` prunes on)."""
    from polyscan.search.orders import SubsetProgram, _lex_level, _scan_bound_level

    space = Space(tables_for(nest), None, "nest")
    batch = space.batch(np.arange(space.tables.combos))
    for level, ends in ((_lex_level, False), (_scan_bound_level, True)):
        program, bounds = SubsetProgram(batch, level), []
        while not program.done:
            bounds.append(program.bound(lambda part, inner, ends=ends: part.entries(inner, ends)))
            program.extend()
        for size, bound in enumerate(bounds):
            assert (bound >= program.result()).all(), (level.__name__, size)


@settings(max_examples=examples(40), deadline=None)
@given(st.sampled_from(sorted(LAYERS)), st.data())
def test_the_partial_bounds_of_the_programs_hold_on_every_combination(kind, data):
    _partial_bounds_hold(data.draw(LAYERS[kind]).nest)


def test_the_partial_bounds_hold_on_a_fused_group():
    from test_fusion_plan import tiny_network

    from polyscan.network.partition import _Run

    net = tiny_network()
    _partial_bounds_hold(_Run(net, net.layers[1:4]).nest)


@settings(max_examples=examples(40), deadline=None)
@given(st.sampled_from(sorted(LAYERS)), st.data(), st.floats(0, 1))
def test_pruning_between_sizes_of_the_programs_keeps_the_optimum(kind, data, share):
    """The search drops combinations between sizes of its programs on a partial bound
    (``orders.program_where``) and then on the scan bound: neither drops the optimum."""
    layer = data.draw(LAYERS[kind])
    smallest, full = _smallest(layer), ps.traffic(ps.Schedule(layer)).peak
    _pruned_totals_keep_the_optimum(layer.nest, smallest + int(share * (full - smallest)))


@pytest.mark.parametrize("buffer", [150, 400, 1500])
def test_pruning_keeps_the_optimum_of_a_fused_group(buffer):
    """As above, on a fused group of the tiny network (six dims, thousands of combinations)."""
    from test_fusion_plan import tiny_network

    from polyscan.network.partition import _Run

    net = tiny_network()
    _pruned_totals_keep_the_optimum(_Run(net, net.layers[1:4]).nest, buffer)


@pytest.mark.parametrize("kind", sorted(SMALL))
def test_a_traffic_limit_prunes_but_never_changes_what_is_found(kind):
    """``search_nest(limit=L)`` with the traffic objective (the partition's limit): None
    when no schedule moves less than L; otherwise every traversal's own optimum, equal to
    the unbounded search's, the losing traversal's too."""
    from polyscan.search.optimizer import search_nest

    layer = SMALL[kind]
    buffer = _smallest(layer) * 2
    make = functools.partial(ps.Schedule, layer)
    free = search_nest(layer.nest, make, kind, buffer)
    best = free.best.total
    assert search_nest(layer.nest, make, kind, buffer, limit=best) is None
    for limit in (best + 1, best * 2):
        bounded = search_nest(layer.nest, make, kind, buffer, limit=limit)
        assert _found(bounded) == _found(free)


# layers and buffers at which the entries ceiling of an energy limit at the optimum lies
# within 1.3 to 2 x the traffic of the least-traffic candidates (on the small layers it lies
# far above them all)
CEILED = {"depthwise": (ps.depthwise(8, 12, 12, kernel=3, padding=1, name="dw"), 256),
          "conv2d": (ps.conv2d(4, 8, 10, 10, kernel=3, padding=1, name="conv"), 1024)}


@pytest.mark.parametrize("objective", ["energy", "latency"])
@pytest.mark.parametrize("kind", sorted(SMALL) + [f"{k}, larger" for k in sorted(CEILED)])
def test_an_energy_or_latency_limit_prunes_but_never_changes_what_is_found(kind, objective):
    """The same for energy and latency, whose limit also prunes the traffic search at the
    fewest entries that cannot beat it: None below the least cost; at it, between the
    traversals' optima and above both, every traversal's own optimum as unbounded."""
    from polyscan.search.optimizer import search_nest

    layer, buffer = CEILED[kind.split(",")[0]] if "larger" in kind else \
        (SMALL[kind], _smallest(SMALL[kind]) * 2)
    make = functools.partial(ps.Schedule, layer)
    free = search_nest(layer.nest, make, kind, buffer, objective=objective)
    figures = sorted(r.figure(objective) for r in free.results.values())
    assert search_nest(layer.nest, make, kind, buffer, objective=objective,
                       limit=math.nextafter(figures[0], 0)) is None
    for limit in (figures[0], (figures[0] + figures[-1]) / 2, figures[-1] * 2):
        bounded = search_nest(layer.nest, make, kind, buffer, objective=objective,
                              limit=limit)
        assert _found(bounded, objective) == _found(free, objective)


@pytest.mark.parametrize("objective", ["energy", "latency"])
@pytest.mark.parametrize("limit", [0.0, 1.0, 1e5, 3.7e7, 1e12])
def test_the_entries_ceiling_is_the_first_count_above_the_limit(objective, limit):
    """``_entries_ceiling``: one entry fewer costs at most the limit at its cheapest, the
    ceiling itself more (so the searches it prunes could not have won); 0 where moving
    nothing already costs more (a latency limit below the MACs' cycles)."""
    from polyscan.cost.dram import DramSettings
    from polyscan.search.optimizer import (
        _entries_ceiling,
        default_accelerator,
        least_cost,
        least_macs,
    )

    nest, dram = SMALL["conv2d"].nest, DramSettings()
    accel = default_accelerator(4096, dram)
    macs = least_macs(nest) if objective == "latency" else 0
    ceiling = _entries_ceiling(objective, limit, dram, accel, nest, False)
    assert least_cost(objective, ceiling, dram, accel, macs) > limit
    assert ceiling == 0 or least_cost(objective, ceiling - 1, dram, accel, macs) <= limit
    assert _entries_ceiling(objective, None, dram, accel, nest, False) is None


def _found(search, objective="traffic"):
    return {t: (r.total, r.tiles, r.peak, r.schedule.tile, r.schedule.order,
                r.figure(objective)) for t, r in search.results.items()}
