"""Networks without fusion and residency: one optimal schedule per layer, with the totals
DESIGN 5 names."""

import json

import pytest

import polyscan as ps


@pytest.fixture(scope="module")
def plan():
    return ps.optimize_network(ps.zoo.mobilenet_v1(), 16384, fusion=False, resident=False)


def test_groups_are_the_layers_with_their_optimal_schedules(plan):
    net = ps.zoo.mobilenet_v1()
    assert [g.layers for g in plan.groups] == [(layer.name,) for layer in net.layers]
    for group, layer in zip(plan.groups, net.layers):
        assert group.schedule.layer.shape_key == layer.shape_key
        assert group.total == ps.traffic(group.schedule).total == ps.search_layer(
            layer, 16384).best.total
        assert group.traffic.peak <= 16384


def test_totals(plan):
    net = ps.zoo.mobilenet_v1()
    assert plan.total == sum(ps.traffic(g.schedule).total for g in plan.groups)
    assert plan.compulsory_unfused == sum(ps.traffic(ps.Schedule(layer)).total
                                          for layer in net.layers)
    weights = sum(layer.tensors["W"].size for layer in net.layers if "W" in layer.tensors)
    assert plan.floor == weights + 3 * 224 * 224 + 1000
    assert plan.floor <= plan.compulsory_unfused <= plan.total


def test_json_has_the_design_schema(plan):
    data = json.loads(json.dumps(plan.to_dict()))
    assert {"network", "buffer", "element_bits", "groups", "totals"} <= set(data)
    group = data["groups"][0]
    assert {"layers", "tile", "order", "traversal", "reads", "writes", "peak",
            "dram_entries"} <= set(group)
    assert data["totals"]["dram_entries"] == plan.total
    assert {"compulsory_unfused", "floor", "energy_pj", "cycles"} <= set(data["totals"])


def test_progress_is_silent_when_not_a_terminal(capsys):
    ps.optimize_network(ps.zoo.mobilenet_v1(), 65536, fusion=False)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_compare_orders_rows():
    layer = ps.zoo.mobilenet_v2().layer("b2_dw")
    comparison = ps.compare_orders(layer, 2048)
    lex = [r for r in comparison.rows if r.traversal == "lex"]
    assert len(lex) == 120  # every order of c, y, x, r, s
    best = ps.search_layer(layer, 2048)
    assert comparison.best("lex").traffic.total == best.results["lex"].total
    assert comparison.best("scan").traffic.total == best.results["scan"].total
    for row in comparison.rows:
        assert row.traffic == ps.traffic(row.schedule) and row.traffic.peak <= 2048
        if row.loop_order:  # a lex row keeps the relative order it was restricted to
            assert list(row.schedule.order) == [d for d in row.loop_order
                                                if d in row.schedule.tile]
    assert {r.traversal for r in comparison.rows} == {"lex", "scan", "zorder", "hilbert"}
    data = comparison.to_dict()
    assert len(data["rows"]) == len(comparison.rows) and "b2_dw" in str(comparison)
