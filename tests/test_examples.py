"""Every script in examples/ runs to completion, and every file there is one of them or a file
one of them reads: a new example is run here as soon as it is listed below."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FOLDER = Path(__file__).parent.parent / "examples"
# each script with lines its output must contain (what it checks, not only that it printed)
SCRIPTS = {
    "compare_orders.py": [],
    "custom_kernel.py": [],
    "dramsim3_trace.py": [],
    "emit_c.py": ["outputs match the numpy reference: yes", "DMA counts equal ps.traffic: True",
                  "verified: True"],
    "layer_traffic.py": [],
    "optimize_layer.py": [],
    "optimize_onnx.py": [],
}
DATA = {"dilated_depthwise.toml": "custom_kernel.py"}  # data file: the script that reads it
NEEDS_CC = {"emit_c.py"}


def _run(script, **env):
    return subprocess.run([sys.executable, str(FOLDER / script)], capture_output=True,
                          text=True, timeout=300, env={**os.environ, **env})


def test_every_file_in_examples_is_run_or_read_by_a_script_that_is():
    listed = sorted(p.name for p in FOLDER.iterdir() if p.name != "__pycache__")
    assert listed == sorted([*SCRIPTS, *DATA])
    for data, script in DATA.items():
        assert script in SCRIPTS and data in (FOLDER / script).read_text()
    for script in SCRIPTS:  # each says how to run it
        assert re.search(rf"^Run: python examples/{re.escape(script)}\b",
                         (FOLDER / script).read_text(), flags=re.M), script


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_example_runs(script):
    if script in NEEDS_CC and shutil.which(os.environ.get("CC", "cc")) is None:
        pytest.skip("needs a C compiler (cc, or $CC)")
    result = _run(script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    for line in SCRIPTS[script]:
        assert line in result.stdout.splitlines(), (line, result.stdout)


def test_emit_c_without_a_compiler_fails_and_says_so():
    result = _run("emit_c.py", CC="no-such-compiler-polyscan")
    assert result.returncode != 0 and result.stdout == ""
    assert "no C compiler found" in result.stderr and "no-such-compiler-polyscan" in result.stderr
