"""Bad input, odd output targets and interrupts: a clear error (one line and exit code 2 on the
command line, a PolyscanError subclass from the API), never a traceback, a partial file, a
replaced symlink or special file, or an overwritten input."""

import argparse
import gzip
import inspect
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx_models import GraphBuilder

import polyscan as ps
from polyscan.cli import main, support
from polyscan.cli.parser import build_parser
from polyscan.errors import OutputError
from polyscan.files import check_distinct, written_text

POLYSCAN = Path(sys.executable).parent / "polyscan"
_PRESET = (Path(ps.__file__).parent / "cost" / "dram" / "preset_files" /
           "ddr3-1600.toml").read_text()


def _model(folder: Path, name: str = "m.onnx", layer: str = "conv") -> Path:
    """A one-layer ONNX model in ``folder``."""
    g = GraphBuilder(4, 8, 8)
    path = folder / name
    onnx.save(g.model(g.conv("x", 4, 8, name=layer), [1, 8, 8, 8]), str(path))
    return path


def _fails(argv, capsys, message: str) -> None:
    """``argv`` ends with one ``polyscan: error:`` line holding ``message``, exit code 2."""
    assert main([str(a) for a in argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith("polyscan: error: ") and message in captured.err, captured.err


@pytest.fixture
def no_work(monkeypatch):
    """Reading the model fails the test: a refusal must come before any work."""
    def network(*_):
        raise AssertionError("the run started before the refusal")
    monkeypatch.setattr(support, "network", network)


# -- 1. an output never overwrites an input or another output ------------------------------

@pytest.mark.parametrize("command", [
    ["optimize", "{model}", "--buffer", "64K", "--json", "{model}"],
    ["trace", "{model}", "--buffer", "64K", "--out", "{model}"],
    ["emit-c", "{model}", "--layer", "conv", "--buffer", "64K", "--out", "{model}"],
    ["report", "{model}", "--buffer", "64K", "--out", "{model}"],
    ["traffic", "{model}", "--json", "{symlink}"],
    ["traffic", "{model}", "--json", "{hardlink}"],
    ["compare-orders", "{model}", "--layer", "conv", "--buffer", "1K", "--json", "{model}"],
])
def test_an_output_naming_the_model_is_refused(command, tmp_path, capsys, no_work):
    model = _model(tmp_path)
    before = model.read_bytes()
    (tmp_path / "symlink.json").symlink_to(model)
    os.link(model, tmp_path / "hardlink.json")
    _fails([a.format(model=model, symlink=tmp_path / "symlink.json",
                     hardlink=tmp_path / "hardlink.json") for a in command],
           capsys, "it is also the input")
    assert model.read_bytes() == before


@pytest.mark.parametrize("command, message", [
    (["trace", "mobilenet_v2", "--buffer", "64K", "--out", "{a}", "--json", "{a}"],
     "also another output"),
    (["report", "mobilenet_v2", "--buffer", "64K", "--out", "{a}", "--json", "{link}"],
     "also another output"),
    (["emit-c", "mobilenet_v2", "--layer", "fc", "--buffer", "64K", "--out", "{a}", "--json",
      "{a}"], "also another output"),
    (["sweep", "mobilenet_v2", "--buffers", "1K", "--plot", "{png}", "--json", "{png}"],
     "also another output"),
    (["optimize", "mobilenet_v2", "--buffer", "64K", "--dram", "{preset}", "--json",
      "{preset}"], "also the input"),
    (["report", "mobilenet_v2", "--buffer", "64K", "--out", "{svg}", "--plots", "{folder}"],
     "could overwrite"),
])
def test_the_files_of_one_run_are_distinct(command, message, tmp_path, capsys, no_work):
    preset = tmp_path / "mine.toml"
    preset.write_text(_PRESET)
    (tmp_path / "link").symlink_to(tmp_path / "a")
    _fails([a.format(a=tmp_path / "a", link=tmp_path / "link", png=tmp_path / "c.png",
                     svg=tmp_path / "traffic.svg", preset=preset, folder=tmp_path)
            for a in command], capsys, message)
    assert preset.read_text() == _PRESET and not (tmp_path / "a").exists()


def test_devices_may_be_named_twice():
    check_distinct([], ["/dev/null", "/dev/null"])  # nothing is overwritten there
    with pytest.raises(OutputError, match="another output"):
        check_distinct([], ["x.json", "./x.json"])


# -- 2. symlinks and special files are written through; modes as open() gives -------------

def test_a_symlinked_output_is_written_through(tmp_path, capsys):
    target, link = tmp_path / "real.json", tmp_path / "link.json"
    target.write_text("old")
    link.symlink_to(target)
    assert main(["traffic", "mobilenet_v2", "--layers", "fc", "--quiet", "--json",
                 str(link)]) == 0
    assert link.is_symlink() and json.loads(target.read_text())["network"] == "mobilenet_v2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.json", "real.json"]


def test_a_fifo_output_is_written_through_not_replaced(tmp_path, capsys):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # so the writer's open() returns
    try:
        assert main(["traffic", "mobilenet_v2", "--layers", "fc", "--quiet", "--json",
                     str(fifo)]) == 0
        received = os.read(reader, 1 << 20)  # a few kB: all in the pipe's buffer
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert json.loads(received)["network"] == "mobilenet_v2"


def test_a_pipe_is_written_through(tmp_path):
    (tmp_path / "stdout").symlink_to("/dev/stdout")  # so that nothing can replace /dev/stdout
    result = subprocess.run([str(POLYSCAN), "traffic", "mobilenet_v2", "--layers", "fc",
                             "--quiet", "--json", str(tmp_path / "stdout")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    document, end = json.JSONDecoder().raw_decode(result.stdout)
    assert document["network"] == "mobilenet_v2"
    assert result.stdout[end:].startswith("\nmobilenet_v2: 2 schedules")
    assert (tmp_path / "stdout").is_symlink()


def test_outputs_get_the_mode_a_plain_open_gives(tmp_path, capsys):
    existing = tmp_path / "existing.json"
    existing.write_text("old")
    existing.chmod(0o604)
    old = os.umask(0o027)
    try:
        for path in (tmp_path / "new.json", existing):
            assert main(["traffic", "mobilenet_v2", "--layers", "fc", "--quiet", "--json",
                         str(path)]) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o640  # 0666 & ~umask
    assert stat.S_IMODE(existing.stat().st_mode) == 0o604  # kept, as writing in place keeps it


def test_the_trace_writer_follows_the_same_rules(tmp_path):
    schedule = ps.Schedule(ps.pointwise(4, 4, 8, 8), {"y": 4}, ("y",))
    target, link = tmp_path / "real.trc.gz", tmp_path / "trace.trc.gz"
    link.symlink_to(target)
    old = os.umask(0o022)
    try:
        written = ps.write_trace(schedule, link)
    finally:
        os.umask(old)
    raw = target.read_bytes()
    assert link.is_symlink() and stat.S_IMODE(target.stat().st_mode) == 0o644
    assert gzip.decompress(raw).decode().count("\n") == written.requests
    assert raw[10:raw.index(b"\0", 10)] == b"trace.trc"  # gzip's name field: not a temporary
    assert sorted(p.name for p in tmp_path.iterdir()) == ["real.trc.gz", "trace.trc.gz"]


def test_the_api_refuses_a_folder_as_a_trace_file(tmp_path):
    schedule = ps.Schedule(ps.pointwise(4, 4, 8, 8), {"y": 4}, ("y",))
    with pytest.raises(OutputError, match="it is a folder"):
        ps.write_trace(schedule, tmp_path)
    assert list(tmp_path.parent.glob(".*.part*")) == []


@pytest.mark.parametrize("stop", [KeyboardInterrupt, RuntimeError])
def test_an_interrupted_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, stop):
    path = tmp_path / "out.txt"
    path.write_text("old")
    with pytest.raises(stop):
        with written_text(path) as stream:
            stream.write("new")
            raise stop
    assert path.read_text() == "old" and list(tmp_path.iterdir()) == [path]


def test_figures_that_are_not_numbers_are_never_written(tmp_path):
    with pytest.raises(OutputError, match="not a finite number"):
        support.write_output(str(tmp_path / "x.json"), {"energy_pj": float("nan")})
    assert list(tmp_path.iterdir()) == []


# -- 3. every target is checked before the run ---------------------------------------------

@pytest.mark.parametrize("command", [
    ["optimize", "mobilenet_v2", "--buffer", "64K", "--json", "{folder}"],
    ["trace", "mobilenet_v2", "--buffer", "64K", "--out", "{folder}"],
    ["emit-c", "mobilenet_v2", "--layer", "fc", "--buffer", "64K", "--out", "{folder}"],
    ["report", "mobilenet_v2", "--buffer", "64K", "--out", "{folder}"],
    ["sweep", "mobilenet_v2", "--buffers", "1K", "--plot", "{folder}"],
])
def test_a_folder_as_output_fails_before_the_run(command, tmp_path, capsys, no_work):
    _fails([a.format(folder=tmp_path) for a in command], capsys, "it is a folder")


@pytest.mark.parametrize("extra, message", [
    (["--plots", "{plots}"], "not writable"),
    (["--plots", "{missing}"], "no such folder"),
    (["--plots", "{plots}", "--json", "{missing}/r.json"], "no folder"),
])
def test_report_checks_every_target_before_any_work(extra, message, tmp_path, capsys,
                                                    monkeypatch, no_work):
    plots = tmp_path / "plots"
    plots.mkdir()
    access = os.access  # root may write anywhere: make the folder unwritable by decree
    monkeypatch.setattr(os, "access", lambda path, mode, **options: Path(path) != plots and
                        access(path, mode, **options))
    _fails(["report", "mobilenet_v2", "--buffer", "64K", "--out", tmp_path / "r.html",
            *[a.format(plots=plots, missing=tmp_path / "missing") for a in extra]],
           capsys, message)
    assert list(tmp_path.iterdir()) == [plots] and list(plots.iterdir()) == []


# -- 4. Ctrl-C -----------------------------------------------------------------------------

# ``python -m polyscan.cli``, but saying when the imports are done (3 s of them here), so
# that the signal reaches the run itself; Ctrl-C handled as in a terminal even where the
# tests run in the background (whose children inherit an ignored SIGINT)
STARTED = "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); " \
          "from polyscan.cli import main; print('started', flush=True); " \
          "sys.exit(main(sys.argv[1:]))"


def test_ctrl_c_gives_one_line_exit_code_130_and_no_file(tmp_path):
    process = subprocess.Popen([sys.executable, "-c", STARTED, "optimize", "mobilenet_v2",
                                "--buffer", "64K", "--json", "out.json"], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "started\n"
    time.sleep(2)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate()
    assert process.returncode == 130, err
    assert err == "polyscan: interrupted\n" and out == ""
    assert list(tmp_path.iterdir()) == []  # neither out.json nor a temporary file


# -- 5. DRAM presets and kernel files ------------------------------------------------------

def _set(key: str, value: str, text: str = _PRESET) -> str:
    assert re.search(rf"(?m)^{key} = ", text), key
    return re.sub(rf"(?m)^{key} = .*$", f"{key} = {value}", text)


def _without(header: str) -> str:
    """The preset without the section ``header`` (up to the next header)."""
    return re.sub(rf"(?ms)^{re.escape(header)}.*?(?=^\[|\Z)", "", _PRESET)


@pytest.mark.parametrize("text, field", [
    (_set("tCK", "nan"), "tCK"),
    (_set("tCK", "inf"), "tCK"),
    (_set("tCK", "-inf"), "tCK"),
    (_set("tCK", "0"), "tCK"),
    (_set("tCK", "true"), "tCK"),
    (_set("VDD", "nan"), "power[0].VDD"),
    (_set("IDD5", "inf"), "power[0].IDD5"),
    (_set("tREFI", "inf"), "timing.tREFI"),
    (_set("rows", "0"), "rows"),
    (_set("rows", "1.5"), "rows"),
    (_set("burst_length", "1"), "burst_length"),
    ("timing = 5\n" + _without("[timing]"), "timing must be a table"),
    (_PRESET.replace("[timing]", "[[timing]]"), "timing must be a table"),
    ("power = 5\n" + _without("[[power]]"), "power needs at least one"),
    (_PRESET.replace("[[power]]", "power = [1]\n[ignored]"), "power"),
    (_set("tCK", "{ ns = 1.25 }"), "tCK"),
    (_set("rows", "[16384]"), "rows"),
    (_set("CL", "{ cycles = 11 }"), "timing.CL"),
    (_set("VDD", "[1.5]"), "power[0].VDD"),
    (_set("name", "5"), "name must be a string"),
    (_set("CL", "11\ntWR = 12"), "timing.tWR is not a preset field"),
    (_set("tCK", "1.25\ntck = 1.25"), "tck is not a preset field"),
    (_PRESET.replace("[timing]", "[timing.CL]"), "timing.CL"),
])
def test_every_wrong_shape_of_preset_is_a_preset_error(tmp_path, text, field):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ps.PresetError, match=re.escape(field)):
        ps.load_preset(str(path))


def test_binary_preset_and_kernel_files_are_named(tmp_path, capsys):
    path = tmp_path / "binary.toml"
    path.write_bytes(bytes(range(256)))
    with pytest.raises(ps.PresetError, match="not a text file"):
        ps.load_preset(str(path))
    with pytest.raises(ps.KernelFileError, match="not a text file"):
        ps.load_kernel(str(path))
    _fails(["optimize", "mobilenet_v2", "--buffer", "64K", "--dram", path], capsys,
           "not a text file")


# -- 6. API arguments of the wrong kind ----------------------------------------------------

VALID = {ps.conv2d: (4, 4, 8, 8), ps.grouped_conv2d: (4, 4, 8, 8, 2), ps.depthwise: (4, 8, 8),
         ps.pointwise: (4, 4, 8, 8), ps.fully_connected: (4, 4), ps.pool: (4, 8, 8),
         ps.scale: (4, 8, 8)}
SIZES = [(f, name) for f in VALID for name in inspect.signature(f).parameters if name != "name"]


@pytest.mark.parametrize("constructor, argument", SIZES,
                         ids=[f"{f.__name__}.{a}" for f, a in SIZES])
@pytest.mark.parametrize("value", [None, 4.0, 2.5, "4", True, 10 ** 30, (2, None)])
def test_constructor_sizes_must_be_integers(constructor, argument, value):
    """The kernel file names the shape symbol (``K (output features)``) where a value reaches
    it as given; the constructor names the argument where it computes with it first."""
    arguments = inspect.signature(constructor).bind(*VALID[constructor]).arguments
    with pytest.raises(ps.LayerShapeError):
        constructor(**{**arguments, argument: value})


def test_constructors_take_numpy_integers_and_refuse_odd_names_and_sizes():
    layer = ps.conv2d(np.int64(4), np.int32(4), 8, 8, kernel=(np.int64(3), 3))
    assert layer.extents == ps.conv2d(4, 4, 8, 8).extents
    with pytest.raises(ps.LayerShapeError, match="name must be a string"):
        ps.pointwise(4, 4, 8, 8, name=5)
    with pytest.raises(ps.LayerShapeError, match="64-bit"):  # W alone: 2**64 entries
        ps.fully_connected(2 ** 32, 2 ** 32)


@pytest.mark.parametrize("call", [lambda s: ps.dram_cost(s),
                                  lambda s: ps.write_trace(s, "unused.trc")])
def test_dram_figures_of_something_not_a_schedule_are_a_polyscan_error(call):
    with pytest.raises(ps.PolyscanError, match="takes a Schedule, FusedSchedule or Plan"):
        call(ps.pointwise(2, 2, 2, 2))


def test_counts_past_64_bits_are_refused_and_large_real_layers_are_not():
    """The search's sums over the finest tiling are bounded by what a footprint can hold (at
    most the elements the nest touches): AlexNet's and VGG's classifiers (9216 x 4096) are
    searched and reach their compulsory traffic; a layer whose sums could wrap is refused."""
    with pytest.raises(ps.CountOverflowError, match="past exact 64-bit arithmetic"):
        ps.optimize(ps.fully_connected(2 ** 25, 2 ** 25), 65536)
    layer = ps.fully_connected(9216, 4096)
    assert ps.traffic(ps.optimize(layer, 65536)).total == 9216 * 4096 + 9216 + 4096


@pytest.mark.parametrize("options, message", [
    ({"tile": "y=2"}, "tile must be a mapping"),
    ({"tile": [("y", 2)]}, "tile must be a mapping"),
    ({"tile": {1: 2}}, "tile dim 1 is not a dim name"),
    ({"tile": {("y",): 2}}, "is not a dim name"),
    ({"tile": {"y": 2}, "order": 5}, "order must be a sequence"),
    ({"tile": {"y": 2}, "order": [["y"]]}, "order dim ['y'] is not a dim name"),
    ({"tile": {"y": 2}, "order": ("y", 1)}, "order dim 1 is not a dim name"),
    ({"tile": {"y": 4}, "order": ("y",), "traversal": [(0.0,), (1.0,)]}, "got floats"),
    ({"tile": {"y": 4}, "order": ("y",), "traversal": [(0,), (1.5,)]}, "got floats"),
    ({"tile": {"y": 4}, "order": ("y",), "traversal": [(True,), (False,)]}, "got booleans"),
    ({"tile": {"y": 4}, "order": ("y",), "traversal": [(0,), (10 ** 30,)]}, "not numbers"),
    ({"tile": {"y": 4}, "order": ("y",), "traversal": [(0,), (1, 0)]}, "ragged"),
    ({"tile": {"y": 4}, "order": ("y",), "traversal": None}, "integer tile coordinates"),
])
def test_schedule_arguments_of_the_wrong_kind(options, message):
    with pytest.raises(ps.ScheduleError, match=re.escape(message)):
        ps.Schedule(ps.pointwise(4, 4, 8, 8), **options)


def test_a_schedule_is_of_a_layer():
    with pytest.raises(ps.ScheduleError, match="of a Layer"):
        ps.Schedule("pointwise")


@pytest.mark.parametrize("points", [np.array([[1], [0]]), np.array([[1], [0]], np.uint8),
                                    [(np.int16(1),), (np.int16(0),)]])
def test_numpy_integer_traversals_are_fine(points):
    layer = ps.pointwise(4, 4, 8, 8)
    schedule = ps.Schedule(layer, {"y": 4}, ("y",), points)
    assert schedule.traversal == ((1,), (0,))
    assert ps.traffic(schedule).total == ps.traffic(ps.Schedule(layer, {"y": 4}, ("y",))).total


# -- 7. --input-shape and --unknown --------------------------------------------------------

@pytest.mark.parametrize("text, shapes", [
    ("data=1x3x224x224", [("data", (1, 3, 224, 224))]),
    ("a=1x8,b=1x4", [("a", (1, 8)), ("b", (1, 4))]),
    ("x.1=1x2,", [("x.1", (1, 2))]),
    ("in=put=1x2", [("in=put", (1, 2))]),  # a name ends at the "=" before the dims
    ("a,b=1x2", [("a,b", (1, 2))]),
    ("/in/ü=1x2", [("/in/ü", (1, 2))]),
])
def test_input_shapes_parse(text, shapes):
    assert support.input_shapes(text) == shapes


@pytest.mark.parametrize("texts, message", [
    (["data"], "NAME=DIMS"), (["data="], "NAME=DIMS"), (["=1x3"], "NAME=DIMS"),
    (["data=1x3xax4"], "NAME=DIMS"), (["data=1x-3"], "NAME=DIMS"),
    (["data=1x3,mask"], "NAME=DIMS"), (["data=1.5x3"], "NAME=DIMS"),
    (["data=1x0x3"], "every dim must be positive"), (["data=1x3,data=1x3"], "twice"),
    (["data=1x99999999999999999999"], "within 64 bits"),
    (["data=1x3", "data=1x3"], "twice"),
])
def test_a_malformed_input_shape_is_a_usage_error(texts, message, capsys, no_work):
    options = [item for text in texts for item in ("--input-shape", text)]
    _fails(["optimize", "m.onnx", "--buffer", "64K", *options], capsys, message)


def _commands() -> set[str]:
    return set(next(a for a in build_parser()._actions
                    if isinstance(a, argparse._SubParsersAction)).choices)


MODEL_COMMANDS = {
    "optimize": ["--buffer", "64K"], "report": ["--buffer", "64K", "--out", "{tmp}/r.html"],
    "sweep": ["--buffers", "1K"], "trace": ["--buffer", "64K", "--out", "{tmp}/t.trc"],
    "emit-c": ["--layer", "conv", "--buffer", "64K", "--out", "{tmp}/u.c"],
    "compare-orders": ["--layer", "conv", "--buffer", "1K"], "traffic": [],
    "timeline": ["--buffer", "64K", "--out", "{tmp}/p.json"],
}


def test_every_command_reads_a_model():
    assert set(MODEL_COMMANDS) == _commands() - {"plot", "cache"}  # a results table; none


@pytest.mark.parametrize("command", sorted(MODEL_COMMANDS))
def test_onnx_options_reach_load_onnx_in_every_command(command, tmp_path, capsys, monkeypatch):
    calls = []

    def load_onnx(path, **options):
        calls.append((path, options))
        raise ps.OnnxImportError("loaded")
    monkeypatch.setattr(support, "load_onnx", load_onnx)
    _fails([command, "m.onnx", *[a.format(tmp=tmp_path) for a in MODEL_COMMANDS[command]],
            "--input-shape", "data=1x3x8x8,mask=1x1", "--input-shape", "ids=1x7",
            "--unknown", "boundary"], capsys, "loaded")
    assert calls == [("m.onnx", {"input_shapes": {"data": (1, 3, 8, 8), "mask": (1, 1),
                                                  "ids": (1, 7)}, "unknown": "boundary"})]


def test_input_shape_sets_symbolic_dims(tmp_path, capsys):
    model = onnx.load(str(_model(tmp_path)))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "height", "width"
    onnx.save(model, str(tmp_path / "symbolic.onnx"))
    argv = ["traffic", str(tmp_path / "symbolic.onnx"), "--quiet"]
    _fails(argv, capsys, "height")
    assert main([*argv, "--input-shape", "x=1x4x8x8"]) == 0
    assert "2 schedules" in capsys.readouterr().out  # lex and scan


@pytest.mark.parametrize("option", [["--input-shape", "data=1x3x8x8"], ["--unknown", "boundary"]])
def test_onnx_options_with_a_builtin_network_are_usage_errors(option, capsys):
    _fails(["traffic", "mobilenet_v2", *option], capsys, "applies to .onnx models only")


# -- 8. odd sizes, odd names, odd streams ---------------------------------------------------

@pytest.mark.parametrize("size", ["0x10", "1e6", "-5", "1.5K", "64KB", "", "0K",
                                  "99999999999999999999G"])
def test_odd_buffer_sizes_are_usage_errors(size, capsys, no_work):
    _fails(["optimize", "mobilenet_v2", "--buffer", size], capsys, "buffer size")


@pytest.mark.parametrize("argv, message", [
    (["traffic", "mobilenet_v2", "--layers", "fc", "--tile", "k=²"], "NAME=INTEGER"),
    (["traffic", "mobilenet_v2", "--layers", "fc", "--tile", "k=3,k=4"], "gives 'k' twice"),
    (["compare-orders", "mobilenet_v2", "--layer", "fc", "--buffer", "1K", "--lex-rows", "-3"],
     "--lex-rows"),
    (["traffic", "mobilenet_v2", "--json", ""], "empty"),
])
def test_odd_options_are_usage_errors(argv, message, capsys):
    _fails(argv, capsys, message)


@pytest.mark.parametrize("quiet", [[], ["--quiet"]])  # rich's table, or print() alone
def test_a_closed_stdout_ends_quietly(quiet):
    process = subprocess.Popen([str(POLYSCAN), "traffic", "mobilenet_v2", "--layers", "fc",
                                *quiet], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # as `| head` does, long before anything is printed
    err = process.stderr.read()
    assert process.wait() == 1 and err == b""  # exit code 1 as rich gives, no traceback


def test_files_are_utf8_whatever_the_locale(tmp_path):
    model = _model(tmp_path, layer="cönv/ü")
    env = {**os.environ, "LC_ALL": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"}
    result = subprocess.run([str(POLYSCAN), "report", str(model), "--buffer", "4K", "--out",
                             str(tmp_path / "r.html"), "--quiet"], capture_output=True, env=env)
    assert result.returncode == 0, result.stderr
    assert "cönv/ü" in (tmp_path / "r.html").read_text(encoding="utf-8")
