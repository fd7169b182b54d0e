"""The command line: figures equal the API's, bad input gives one line and exit code 2."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from onnx_models import save, small_network

import polyscan as ps
from polyscan.cli import main, parse_size


def test_traffic_command_prints_and_writes_the_api_figures(tmp_path, capsys):
    out = tmp_path / "t.json"
    assert main(["traffic", "mobilenet_v2", "--layers", "b2_dw", "--tile", "y=8,c=48",
                 "--order", "c,y", "--traversal", "lex,scan", "--json", str(out)]) == 0
    assert "b2_dw" in capsys.readouterr().out
    data = json.loads(out.read_text())
    layer = ps.zoo.mobilenet_v2().layer("b2_dw")
    for row, traversal in zip(data["schedules"], ("lex", "scan")):
        expected = ps.traffic(ps.Schedule(layer, {"y": 8, "c": 48}, ("c", "y"), traversal))
        assert row["traversal"] == traversal and row["dram_entries"] == expected.total
        assert row["reads"] == expected.reads and row["peak"] == expected.peak


@pytest.mark.parametrize("argv, message", [
    (["traffic", "resnet"], "unknown model 'resnet'"),
    (["traffic", "mobilenet_v2", "--layers", "nope"], "has no layer 'nope'"),
    (["traffic", "mobilenet_v2", "--layers", "b2_dw", "--tile", "q=3"],
     "no selected layer has a dim 'q'"),
    (["traffic", "mobilenet_v2", "--layers", "b2_dw", "--tile", "y=0"], "tile size for 'y'"),
    (["traffic", "mobilenet_v2", "--layers", "b2_dw", "--tile", "y8"], "NAME=INTEGER"),
    (["traffic", "mobilenet_v2", "--layers", "b2_dw", "--traversal", "snake"], "unknown traversal"),
    (["traffic", "mobilenet_v2", "--layers", "b2_dw", "--tile", "y=4,c=8", "--order", "y"],
     "omits tiled dim 'c'"),
    (["traffic", "mobilenet_v2", "--json", "/no/such/folder/x.json"], "no folder"),
])
def test_bad_input_gives_one_line_and_exit_code_2(argv, message, capsys):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert captured.err.startswith("polyscan: error: ") and message in captured.err


def test_the_console_script_is_installed():
    script = Path(sys.executable).parent / "polyscan"  # the environment running the tests
    result = subprocess.run([str(script), "traffic", "mobilenet_v2", "--layers", "fc", "--tile",
                             "k=100"], capture_output=True, text=True, check=True)
    assert "fc" in result.stdout


def test_optimize_command_writes_the_plan(tmp_path, capsys):
    out = tmp_path / "plan.json"
    assert main(["optimize", "mobilenet_v1", "--buffer", "16K", "--no-fusion", "--json",
                 str(out)]) == 0
    printed = capsys.readouterr().out
    data = json.loads(out.read_text())
    plan = ps.optimize_network(ps.zoo.mobilenet_v1(), 16384, fusion=False)
    assert data["totals"]["dram_entries"] == plan.total and data["buffer"] == 16384
    assert f"{plan.total:,}" in printed and "b13_pw" in printed


def test_compare_orders_command(tmp_path, capsys):
    out = tmp_path / "orders.json"
    assert main(["compare-orders", "mobilenet_v2", "--layer", "b2_dw", "--buffer", "2048",
                 "--lex-rows", "2", "--json", str(out)]) == 0
    assert "hilbert" in capsys.readouterr().out
    assert len(json.loads(out.read_text())["rows"]) == 120 + 3


@pytest.mark.parametrize("text, entries", [("64K", 65536), ("65536", 65536), ("1M", 1 << 20),
                                           ("2k", 2048)])
def test_sizes(text, entries):
    assert parse_size(text) == entries


@pytest.mark.parametrize("argv, message", [
    (["optimize", "mobilenet_v2", "--buffer", "0", "--no-fusion"], "positive whole number"),
    (["optimize", "mobilenet_v2", "--buffer", "64Q", "--no-fusion"], "positive whole number"),
    (["optimize", "mobilenet_v2", "--buffer", "1", "--no-fusion"], "is too small for network"),
    (["optimize", "nonet", "--buffer", "64K", "--no-fusion"], "unknown model 'nonet'"),
    (["compare-orders", "mobilenet_v2", "--layer", "zz", "--buffer", "64K"], "no layer 'zz'"),
])
def test_bad_optimize_input(argv, message, capsys, tmp_path):
    out = tmp_path / "x.json"
    assert main(argv + ["--json", str(out)]) == 2
    assert message in capsys.readouterr().err and not out.exists()
    assert list(tmp_path.iterdir()) == []  # no partial or temporary file left behind


def test_optimize_command_keeps_tensors_resident_unless_told_not_to(tmp_path, capsys):
    model = save(small_network(), tmp_path)
    net = ps.load_onnx(model)
    for flags, resident in (([], None), (["--no-resident"], False)):
        out = tmp_path / f"plan{len(flags)}.json"
        assert main(["optimize", str(model), "--buffer", "2K", "--json", str(out), *flags]) == 0
        printed = capsys.readouterr().out
        data = json.loads(out.read_text())
        plan = ps.optimize_network(net, 2048, resident=resident)
        assert data["totals"]["dram_entries"] == plan.total
        assert data["resident"] == list(plan.resident) and data["residency"] == (not flags)
        assert ("tensors resident" in printed) == bool(plan.resident)
    assert data["resident"] == [] and len(plan.resident) == 0
