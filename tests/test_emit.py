"""Emitted C, compiled with warnings as errors and sanitizers and run: outputs equal a numpy
reference (every output element written), DMA counts equal ``ps.traffic`` exactly; with
tensors resident across groups (DESIGN 6b) too."""

import re
import shutil

import islpy as isl
import numpy as np
import pytest
from conftest import examples
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import LAYERS, blocks, concats, fused_schedules, schedules

import polyscan as ps
from polyscan.cli import main
from polyscan.model.nest import IN_DRAM, TensorKey
from polyscan.outputs.emit import c_resident
from polyscan.outputs.emit.harness import build, run, verify
from polyscan.testing.reference import layer_output

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")


def compile_and_check(schedule, directory, sanitize=True):
    """Values equal the numpy reference, DMA counts equal ``ps.traffic`` (which counts
    nothing for a resident operand, so neither may the unit)."""
    result = verify(schedule, directory, sanitize=sanitize)
    assert result.wrong == [], schedule
    assert result.reads == result.expected_reads, schedule
    assert result.writes == result.expected_writes, schedule
    assert not set(schedule.resident) & set(result.reads), schedule


def resident(schedule, keys):
    """``schedule``'s tiling with the operands ``keys`` resident."""
    if isinstance(schedule, ps.FusedSchedule):
        return ps.FusedSchedule(schedule.group, schedule.tile, schedule.order,
                                schedule.traversal, resident=keys)
    return ps.Schedule(schedule.layer, schedule.tile, schedule.order, schedule.traversal,
                       resident=keys)


def whole_tensors(schedule, keys, movable) -> set:
    """``keys`` with every slice of a concatenated tensor inside the group when one of them
    is among them, or none if some slice stays on chip: a plan keeps whole tensors
    resident (the unit refuses part of one)."""
    keys = set(keys)
    group = getattr(schedule, "group", None)
    for producers in (group.inputs.values() if group else ()):
        slices = {TensorKey(p, group.layers[group.position[p]].output.name) for p in producers}
        if len(slices) > 1 and keys & slices:
            keys = keys | slices if slices <= set(movable) else keys - slices
    return keys


@st.composite
def with_resident(draw, schedules):
    """A schedule of ``schedules`` with a random subset of its DRAM operands resident."""
    schedule = draw(schedules)
    movable = [k for k, o in schedule.nest.operands.items() if o.kind in IN_DRAM]
    keys = draw(st.sets(st.sampled_from(movable), min_size=1)) if movable else set()
    return resident(schedule, whole_tensors(schedule, keys, movable))


@settings(max_examples=examples(35))
@given(data=st.data(), kind=st.sampled_from(sorted(LAYERS)))
def test_layers_compute_the_reference_and_move_the_counted_data(data, kind, tmp_path_factory):
    layer = data.draw(LAYERS[kind])
    if data.draw(st.booleans()) and kind in ("pointwise", "depthwise", "conv2d"):
        layer = layer.with_residual()
    schedule = data.draw(schedules(layer))
    compile_and_check(schedule, tmp_path_factory.mktemp("c"))


@settings(max_examples=examples(20))
@given(schedule=fused_schedules())
def test_fused_groups_compute_the_reference_and_move_the_counted_data(schedule,
                                                                      tmp_path_factory):
    compile_and_check(schedule, tmp_path_factory.mktemp("c"))


def test_a_pool_fused_into_a_gemm_through_a_flatten(tmp_path):
    pool = ps.pool(3, 4, 4, kernel=(4, 4), stride=1, padding=0, name="gap")
    fc = ps.fully_connected(3, 5, name="fc")
    schedule = ps.FusedSchedule([pool, fc], tile={"k": 2, "c": 2}, order=("c", "k"),
                                traversal="scan")
    compile_and_check(schedule, tmp_path)


def test_a_plain_optimised_build_of_an_optimal_schedule(tmp_path):
    layer = ps.depthwise(16, 20, 20, kernel=3, stride=2, padding=1, name="dw")
    schedule = ps.optimize(layer, 600)
    compile_and_check(schedule, tmp_path, sanitize=False)


def test_the_unit_is_annotated_and_keeps_data_in_one_buffer():
    schedule = ps.Schedule(ps.depthwise(4, 8, 8, kernel=3, padding=1, name="dw"),
                           {"y": 4, "c": 2}, ("c", "y"), "scan")
    unit = ps.emit_c(schedule)
    counted = ps.traffic(schedule)
    assert "void polyscan_run(int32_t *const *tensors, long long *reads, long long *writes)" \
        in unit
    assert f"I: {counted.reads['I']} reads, 0 writes" in unit
    assert f"O: 0 reads, {counted.writes['O']} writes" in unit
    assert f"the model's peak: {counted.peak}" in unit and "traversal scan" in unit
    assert len(re.findall(r"static int32_t \w+\[", unit)) == 1  # the buffer: the only data
    assert ps.c_tensors(schedule) == [("I", (4, 8, 8)), ("W", (4, 3, 3)), ("O", (4, 8, 8))]


def test_a_layer_without_a_compute_statement_is_refused(tmp_path):
    text = open(ps.load_kernel("pointwise").path).read()
    kernel_file = tmp_path / "mine.toml"
    kernel_file.write_text(text.replace('compute = "O += W * I"\n', ""))
    layer = ps.load_kernel(str(kernel_file)).layer(name="mine", K=2, C=2, IH=2, IW=2)
    with pytest.raises(ps.EmitError, match="compute"):
        ps.emit_c(ps.Schedule(layer))


@pytest.mark.parametrize("text, message", [("O = W * I", "compute must read like"),
                                           ("O += W * Q", "'Q'"), ("I += W * O", "output")])
def test_bad_compute_statements_are_rejected(tmp_path, text, message):
    original = open(ps.load_kernel("pointwise").path).read()
    kernel_file = tmp_path / "bad.toml"
    kernel_file.write_text(original.replace('"O += W * I"', f'"{text}"'))
    with pytest.raises(ps.KernelFileError, match=message):
        ps.load_kernel(str(kernel_file))


def test_cli_emit_c_writes_a_unit_that_compiles(tmp_path, capsys):
    out = tmp_path / "b2_dw.c"
    assert main(["emit-c", "mobilenet_v2", "--layer", "b2_dw", "--buffer", "64K",
                 "--no-fusion", "--out", str(out)]) == 0
    assert "b2_dw" in capsys.readouterr().out
    tensors = ps.c_tensors(ps.optimize(ps.zoo.mobilenet_v2().layer("b2_dw"), 65536))
    build(out.read_text(), tensors, tmp_path)


@pytest.mark.parametrize("argv, message", [
    (["emit-c", "mobilenet_v2", "--layer", "nope", "--buffer", "64K", "--out", "x.c"],
     "has no layer 'nope'"),
    (["emit-c", "mobilenet_v2", "--layer", "b2_dw", "--buffer", "64K", "--out", "no/x.c"],
     "no folder"),
])
def test_cli_emit_c_bad_input(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_the_check_catches_a_unit_that_skips_a_load_or_computes_wrongly(tmp_path):
    schedule = ps.Schedule(ps.pointwise(3, 4, 5, 5, name="pw"), {"c": 2}, ("c",))
    tensors = ps.c_tensors(schedule)
    values = {"I": np.ones((3, 5, 5)), "W": np.ones((4, 3)), "O": np.zeros((4, 5, 5))}
    unit = ps.emit_c(schedule)
    for tampered in (unit.replace("ps_reads[0]++;", ""), unit.replace(") += W_BUF", ") -= W_BUF")):
        after, reads, _ = run(build(tampered, tensors, tmp_path), tensors, values)
        assert reads["I"] != ps.traffic(schedule).reads["I"] or \
            not np.array_equal(after["O"], np.full((4, 5, 5), 3))
    after, reads, _ = run(build(unit, tensors, tmp_path), tensors, values)
    assert reads["I"] == ps.traffic(schedule).reads["I"]
    assert np.array_equal(after["O"], np.full((4, 5, 5), 3))


def test_a_max_reduction_from_a_kernel_file(tmp_path):
    text = open(ps.load_kernel("pool").path).read().replace('kind = "pool"', 'kind = "maxpool"')
    kernel_file = tmp_path / "maxpool.toml"
    kernel_file.write_text(re.sub(r'(?m)^compute = .*$', 'compute = "O max= I"', text))
    layer = ps.load_kernel(str(kernel_file)).layer(name="mp", C=3, IH=7, IW=7, KH=3, KW=3, SH=2,
                                                   SW=2, PT=1, PL=1, PB=1, PR=1)
    schedule = ps.Schedule(layer, {"y": 2, "r": 2}, ("y", "r"), "scan")
    tensors = ps.c_tensors(schedule)
    image = np.random.default_rng(1).integers(-50, 50, (3, 7, 7))
    after, reads, writes = run(build(ps.emit_c(schedule), tensors, tmp_path, sanitize=True),
                               tensors, {"I": image, "O": np.zeros((3, 4, 4))})
    padded = np.pad(image, ((0, 0), (1, 1), (1, 1)), constant_values=np.iinfo(np.int32).min)
    expected = np.array([[[padded[c, 2 * y:2 * y + 3, 2 * x:2 * x + 3].max() for x in range(4)]
                          for y in range(4)] for c in range(3)])
    assert np.array_equal(after["O"], expected)
    counted = ps.traffic(schedule)
    assert (reads["I"], reads["O"], writes["O"]) == \
        (counted.reads["I"], counted.reads["O"], counted.writes["O"])


def test_an_operand_touched_only_in_padding(tmp_path):
    """The one iteration reads I[0, 0, -1]: I's footprint is empty in every tile."""
    layer = ps.depthwise(1, 1, 1, kernel=1, stride=(1, 2), padding=(0, 1, 0, 0), name="dw")
    compile_and_check(ps.Schedule(layer), tmp_path)


# --- tensors resident across groups (DESIGN 6b) ------------------------------------------------

@pytest.mark.parametrize("layer, tile, order", [
    (ps.pointwise(3, 4, 5, 5, name="pw"), {"c": 2, "y": 2}, ("c", "y")),
    (ps.conv2d(2, 3, 7, 6, kernel=3, stride=2, padding=1, name="conv"), {"k": 2, "y": 2},
     ("k", "y")),
])
def test_a_layer_reading_a_resident_input(layer, tile, order, tmp_path):
    schedule = ps.Schedule(layer, tile, order, "scan", resident=["I"])
    compile_and_check(schedule, tmp_path)
    unit = ps.emit_c(schedule)
    assert c_resident(schedule) == [("I", layer.tensors["I"].shape)]
    assert [key for key, _ in ps.c_tensors(schedule)] == ["W", "O"]
    assert "I_load" not in unit and "I_DRAM" not in unit
    assert "#define I_BUF(e0, e1, e2) ps_resident[0][" in unit  # the whole tensor, no window
    assert "resident[0] I (" in unit and "never loads it" in unit


def test_a_layer_keeping_its_output_resident(tmp_path):
    """The reduction dim is tiled: partial sums stay in the resident array between tiles."""
    layer = ps.conv2d(3, 2, 6, 6, kernel=3, padding=1, name="conv")
    schedule = ps.Schedule(layer, {"c": 1, "y": 3}, ("c", "y"), "scan", resident=["O"])
    assert ps.traffic(ps.Schedule(layer, schedule.tile, schedule.order, "scan")).reads["O"] > 0
    compile_and_check(schedule, tmp_path)
    counted = ps.traffic(schedule)
    assert "O" not in counted.reads and "O" not in counted.writes
    unit = ps.emit_c(schedule)
    assert "O_store" not in unit and "O_DRAM" not in unit  # it has no DRAM copy to touch
    assert "int32_t *const *resident)" in unit and "never written to DRAM" in unit


def _block(residual: bool):
    """expand -> depthwise -> project, maybe with a residual read from outside."""
    project = ps.pointwise(6, 2, 5, 5, name="project")
    return [ps.pointwise(2, 6, 5, 5, name="expand"),
            ps.depthwise(6, 5, 5, kernel=3, padding=1, name="dw"),
            project.with_residual() if residual else project]


@pytest.mark.parametrize("residual, keys", [
    (False, [("expand", "I"), ("project", "O")]),
    (True, [("expand", "I"), ("project", "O"), ("project", "R")]),
    (True, [("project", "R"), ("dw", "O")]),  # dw.O exported, kept on chip for a later group
])
def test_a_fused_group_with_resident_tensors(residual, keys, tmp_path):
    keys = [TensorKey(*key) for key in keys]
    schedule = ps.FusedSchedule(_block(residual), tile={"c": 3, "y": 2}, order=("c", "y"),
                                traversal="scan", resident=keys,
                                exported=[k.layer for k in keys if k.layer == "dw"])
    compile_and_check(schedule, tmp_path)
    assert set(schedule.resident) == set(keys) == {key for key, _ in c_resident(schedule)}


def test_a_group_keeps_a_concatenated_tensor_resident_whole_or_not_at_all(tmp_path):
    made = []
    for name, slot in (("a", "c"), ("b", "c + 2")):
        made.append(ps.pointwise(2, 2, 4, 3, name=name).with_views(
            {"O": ((4, 4, 3), isl.Map(f"{{ [c, h, w] -> [{slot}, h, w] }}"))}))
    layers = [*made, ps.depthwise(4, 4, 3, kernel=3, padding=1, name="cat")]

    def group(*keys):
        return ps.FusedSchedule(layers, tile={"y": 2}, order=("y",), traversal="scan",
                                inputs={"cat.I": ("a", "b")}, exported=("a", "b"),
                                resident=[TensorKey(key, "O") for key in keys])

    whole = group("a", "b")
    compile_and_check(whole, tmp_path)
    assert c_resident(whole) == [(TensorKey("a", "O"), (4, 4, 3))]  # one array, both slices
    with pytest.raises(ps.EmitError, match="slices of one tensor"):
        ps.emit_c(group("b"))


def _run_counted(schedule, values, directory):
    """The arrays after a run of ``schedule``'s unit on ``values`` (DRAM tensors and resident
    arrays by key; any other starts as 7s), its DMA counts checked against ``ps.traffic``."""
    tensors, arrays = ps.c_tensors(schedule), c_resident(schedule)
    values = {key: values.get(key, np.full(shape, 7)) for key, shape in tensors + arrays}
    executable = build(ps.emit_c(schedule), tensors, directory, sanitize=True, resident=arrays)
    after, reads, writes = run(executable, tensors, values, arrays)
    counted = ps.traffic(schedule)
    assert reads == {key: counted.reads.get(key, 0) for key, _ in tensors}
    assert writes == {key: counted.writes.get(key, 0) for key, _ in tensors}
    return after


def test_a_resident_tensor_passes_from_one_group_to_the_next(tmp_path):
    """The first unit leaves its output in a resident array, the second reads it there:
    together they compute the chain, and neither moves that tensor."""
    first = ps.Schedule(ps.pointwise(2, 3, 6, 6, name="pw"), {"k": 1, "y": 2}, ("k", "y"),
                        "scan", resident=["O"])
    second = ps.Schedule(ps.depthwise(3, 6, 6, kernel=3, padding=1, name="dw"), {"y": 4},
                         ("y",), "lex", resident=["I"])
    rng = np.random.default_rng(3)
    image, w1, w2 = (rng.integers(-3, 4, shape) for shape in ((2, 6, 6), (3, 2), (3, 3, 3)))
    hidden = _run_counted(first, {"I": image, "W": w1}, tmp_path / "first")["O"]
    assert np.array_equal(hidden, layer_output(first.layer, {"I": image, "W": w1}))
    out = _run_counted(second, {"I": hidden, "W": w2}, tmp_path / "second")["O"]
    assert np.array_equal(out, layer_output(second.layer, {"I": hidden, "W": w2}))


@settings(max_examples=examples(20))
@given(data=st.data(), kind=st.sampled_from(sorted(LAYERS)))
def test_layers_with_resident_operands(data, kind, tmp_path_factory):
    layer = data.draw(LAYERS[kind])
    if data.draw(st.booleans()) and kind in ("pointwise", "depthwise", "conv2d"):
        layer = layer.with_residual()
    compile_and_check(data.draw(with_resident(schedules(layer))), tmp_path_factory.mktemp("c"))


@settings(max_examples=examples(12))
@given(schedule=with_resident(fused_schedules(st.one_of(blocks(), concats()))))
def test_fused_groups_with_resident_operands(schedule, tmp_path_factory):
    compile_and_check(schedule, tmp_path_factory.mktemp("c"))
