"""The command line: figures equal the API's, bad input gives one line and exit code 2."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

import polyscan as ps
from polyscan.cli import main


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
