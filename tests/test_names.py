"""Layer names are the exporter's and may hold any character: nothing parses them. A network
whose node names are full of dots, slashes, colons and unicode (including one named like
another layer's tensor key) gives the same figures as the same network with plain names, at
every level: traffic keys, plans, JSON, C, traces, the report."""

import json
import shutil

import onnx
import pytest
from onnx_models import GraphBuilder, save

import polyscan as ps
from polyscan.cli import main
from polyscan.model.nest import TensorKey
from polyscan.outputs.emit.harness import verify

NASTY = {
    "stem": "/features/features.0/features.0.0/Conv",
    "expand": "/blk.1/conv:0/conv.0.0/Conv",
    "dw": "stem.I",           # reads like the traffic key of layer "stem", tensor "I"
    "project": "ünï.cödé/proj*/.O",
    "head": "head..W.",
    "fc": "/classifier/classifier.1/Gemm",
}


def _network(names) -> onnx.ModelProto:
    g = GraphBuilder(3, 16, 16)
    stem = g.conv("x", 3, 8, stride=2, name=names["stem"])
    x = g.conv(stem, 8, 16, kernel=1, pad=0, name=names["expand"])
    x = g.conv(x, 16, 16, group=16, name=names["dw"])
    x = g.conv(x, 16, 8, kernel=1, pad=0, name=names["project"])
    x = g.node("Add", [stem, x], name="add.R")
    x = g.conv(x, 8, 32, kernel=1, pad=0, name=names["head"])
    x = g.node("GlobalAveragePool", [x], name="gap")
    x = g.node("Flatten", [x], name="flatten")
    return g.model(g.gemm(x, 32, 10, name=names["fc"]), [1, 10])


@pytest.fixture(scope="module")
def nets(tmp_path_factory):
    folder = tmp_path_factory.mktemp("names")
    plain = {k: k for k in NASTY}
    return {kind: ps.load_onnx(save(_network(names), folder, f"{kind}.onnx"))
            for kind, names in (("plain", plain), ("nasty", NASTY))}


@pytest.fixture(scope="module")
def plans(nets):
    return {kind: ps.optimize_network(net, 2048) for kind, net in nets.items()}


def _renamed(key, back):
    """A traffic key of the nasty network with the plain layer names."""
    if isinstance(key, TensorKey):
        return TensorKey(back.get(key.layer, key.layer), key.tensor)
    return key


def test_plans_are_the_same_whatever_the_names(plans):
    plain, nasty = plans["plain"], plans["nasty"]
    back = {v: k for k, v in NASTY.items()}
    assert nasty.total == plain.total and nasty.floor == plain.floor
    assert any(len(g.layers) > 1 for g in nasty.groups)  # something fused
    for a, b in zip(plain.groups, nasty.groups):
        assert [back.get(n, n) for n in b.layers] == list(a.layers)
        assert {_renamed(k, back): v for k, v in b.traffic.reads.items()} == a.traffic.reads
        assert {_renamed(k, back): v for k, v in b.traffic.writes.items()} == a.traffic.writes
        for key in b.traffic.reads:
            if isinstance(key, TensorKey):
                assert key.layer in b.layers and str(key) == f"{key.layer}.{key.tensor}"
    assert nasty.dram_cost().energy_pj == pytest.approx(plain.dram_cost().energy_pj)


def test_keys_are_unambiguous_even_when_a_name_reads_like_a_key():
    """Layer "stem.I" and tensor "I" of layer "stem" print alike up to the tensor part."""
    a, b = TensorKey("stem", "I"), TensorKey("stem.I", "I")
    assert str(a) == "stem.I" and str(b) == "stem.I.I" and a != b
    assert TensorKey("stem.I", "") != a  # a layer's iterations: "stem.I."
    assert a == "stem.I" and {a: 1}["stem.I"] == 1  # looked up by its printed string


def test_fused_traffic_keys_name_layer_and_tensor(nets):
    net = nets["nasty"]
    dw, project = net.layer(NASTY["dw"]), net.layer(NASTY["project"])
    schedule = ps.FusedSchedule([dw, project], tile={"y": 2}, order=("y",))
    counted = ps.traffic(schedule)
    assert {(k.layer, k.tensor) for k in counted.reads} == {
        (NASTY["dw"], "I"), (NASTY["dw"], "W"), (NASTY["project"], "W"),
        (NASTY["project"], "R"), (NASTY["project"], "O")}
    assert counted.recomputed == {NASTY["dw"]: counted.recomputed[NASTY["dw"]]}
    # given by their printed strings, the inputs of a group resolve without parsing
    same = ps.FusedSchedule([dw, project], tile={"y": 2}, order=("y",),
                            inputs={f"{NASTY['project']}.I": NASTY["dw"]})
    assert ps.traffic(same) == counted


def test_json_names_every_group_and_tensor(plans):
    data = json.loads(json.dumps(plans["nasty"].to_dict()))
    assert data["layers"][0] == NASTY["stem"]
    fused = next(g for g in data["groups"] if NASTY["project"] in g["layers"])
    assert len(fused["layers"]) > 1 and f"{NASTY['project']}.W" in fused["reads"]
    for group in data["groups"]:
        for key in group["reads"]:  # "<layer>.<tensor>": the tensor after the last dot
            layer, _, tensor = key.rpartition(".")
            assert tensor.isidentifier()
            assert len(group["layers"]) == 1 or layer in group["layers"]


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")
def test_c_of_a_group_with_such_names_compiles_and_moves_the_counted_data(plans, tmp_path):
    group = next(g for g in plans["nasty"].groups if len(g.layers) > 1)
    result = verify(group.schedule, tmp_path, sanitize=True)
    assert result.ok, result.wrong
    unit = ps.emit_c(group.schedule)
    # named in the header, where no name may end the comment
    assert all(f"layer {name.replace('*/', '* /')} (" in unit for name in group.layers)
    assert "/proj*/" not in unit


def test_traces_and_report_of_such_names(nets, tmp_path, capsys):
    model = save(_network(NASTY), tmp_path, "nasty.onnx")
    trace = tmp_path / "t.trc"
    report = tmp_path / "r.html"
    assert main(["trace", str(model), "--buffer", "2K", "--out", str(trace), "--quiet"]) == 0
    assert trace.read_text().count("\n") > 0
    assert main(["report", str(model), "--buffer", "2K", "--out", str(report), "--quiet"]) == 0
    html = report.read_text()
    assert "ünï.cödé/proj*/.O" in html and "<script" not in html.split("</head>")[-1]
    capsys.readouterr()
