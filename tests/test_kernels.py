"""Kernel files: the built-ins match DESIGN section 3, new kernels need only a file, and
malformed files or impossible sizes fail with a message that names the problem."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import schedules
from test_traffic_exact import assert_same_traffic

import polyscan as ps
from polyscan.testing.simulator import access_matrix

# DESIGN section 3, written out as numpy: loop point (named dims) -> index of each tensor.
DESIGN_ACCESSES = {
    "conv2d": lambda p, s: {
        "I": [p["c"], s["SH"] * p["y"] + p["r"] - s["PT"], s["SW"] * p["x"] + p["s"] - s["PL"]],
        "W": [p["k"], p["c"], p["r"], p["s"]], "O": [p["k"], p["y"], p["x"]]},
    "depthwise": lambda p, s: {
        "I": [p["c"], s["SH"] * p["y"] + p["r"] - s["PT"], s["SW"] * p["x"] + p["s"] - s["PL"]],
        "W": [p["c"], p["r"], p["s"]], "O": [p["c"], p["y"], p["x"]]},
    "pointwise": lambda p, s: {
        "I": [p["c"], p["y"], p["x"]], "W": [p["k"], p["c"]], "O": [p["k"], p["y"], p["x"]]},
    "fully_connected": lambda p, s: {"I": [p["c"]], "W": [p["k"], p["c"]], "O": [p["k"]]},
    "pool": lambda p, s: {
        "I": [p["c"], s["SH"] * p["y"] + p["r"] - s["PT"], s["SW"] * p["x"] + p["s"] - s["PL"]],
        "O": [p["c"], p["y"], p["x"]]},
}

LAYERS = {
    "conv2d": ps.conv2d(3, 4, 9, 7, kernel=(3, 5), stride=(2, 1), padding=(1, 2, 0, 1)),
    "depthwise": ps.depthwise(5, 8, 6, kernel=3, stride=2, padding=(0, 1, 1, 0)),
    "pointwise": ps.pointwise(3, 5, 4, 6),
    "fully_connected": ps.fully_connected(7, 3),
    "pool": ps.pool(2, 7, 7, kernel=3, stride=2, padding=(1, 1, 0, 0)),
}

DESIGN_DIMS = {
    "conv2d": ("k", "c", "y", "x", "r", "s"), "depthwise": ("c", "y", "x", "r", "s"),
    "pointwise": ("k", "c", "y", "x"), "fully_connected": ("k", "c"),
    "pool": ("c", "y", "x", "r", "s"),
}


def test_builtin_kernels_are_shipped():
    assert set(ps.builtin_kernel_names()) >= set(DESIGN_DIMS)


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_builtin_accesses_follow_the_design_table(kind):
    layer = LAYERS[kind]
    assert layer.kind == kind and layer.dims == DESIGN_DIMS[kind]
    rng = np.random.default_rng(0)
    points = np.stack([rng.integers(0, layer.extents[d], 50) for d in layer.dims])
    named = dict(zip(layer.dims, points))
    expected = DESIGN_ACCESSES[kind](named, layer.symbols)
    assert set(layer.tensors) == set(expected)
    for name, tensor in layer.tensors.items():
        matrix, offset = access_matrix(tensor.access)
        assert np.array_equal((matrix @ points).T + offset, np.stack(expected[name], axis=1))


def test_output_size_follows_the_convolution_formula():
    layer = ps.conv2d(3, 8, 15, 10, kernel=(3, 5), stride=2, padding=(1, 0, 2, 1))
    assert layer.extents["y"] == (15 + 1 + 2 - 3) // 2 + 1
    assert layer.extents["x"] == (10 + 0 + 1 - 5) // 2 + 1
    assert layer.tensors["O"].shape == (8, layer.extents["y"], layer.extents["x"])
    assert layer.macs == 8 * 3 * layer.extents["y"] * layer.extents["x"] * 15


@pytest.mark.parametrize("make, message", [
    (lambda: ps.depthwise(0, 8, 8), "C (channels) must be >= 1, got 0"),
    (lambda: ps.conv2d(3, 8, -4, 8), "IH (input height) must be >= 1, got -4"),
    (lambda: ps.pointwise(3, 8, 8, 0), "IW (width) must be >= 1, got 0"),
    (lambda: ps.conv2d(3, 8, 8, 8, stride=0), "SH (vertical stride) must be >= 1"),
    (lambda: ps.depthwise(4, 8, 8, padding=-1), "PT (padding at the top) must be >= 0"),
    (lambda: ps.depthwise(4, 2, 8, kernel=5, padding=1), "kernel is taller than the padded"),
    (lambda: ps.conv2d(4, 4, 8, 2, kernel=(1, 3), padding=0), "kernel is wider than the padded"),
    (lambda: ps.pool(4, 3, 3, kernel=4, padding=0), "window is taller than the padded input"),
    (lambda: ps.fully_connected(3, 2.5), "K (output features) must be an integer"),
    (lambda: ps.depthwise(4, 8, 8, padding=(1, 1)), "padding must be an int or (top, left"),
])
def test_impossible_sizes_are_rejected(make, message):
    with pytest.raises(ps.LayerShapeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make()


# A dilated depthwise convolution defined only by a kernel file (the example's).
DILATED = (Path(__file__).parent.parent / "examples" / "dilated_depthwise.toml").read_text()


@pytest.fixture(scope="module")
def dilated_kernel(tmp_path_factory):
    path = tmp_path_factory.mktemp("kernels") / "dilated_depthwise.toml"
    path.write_text(DILATED)
    return ps.load_kernel(path)


def test_a_kernel_from_a_file_elsewhere_is_a_layer_like_any_other(dilated_kernel):
    layer = dilated_kernel.layer(name="dil", C=2, IH=6, IW=5, D=2, P=1)
    assert layer.kind == "dilated_depthwise" and layer.extents["y"] == 4
    assert layer.extents["x"] == 3 and layer.dims == ("c", "y", "x", "r", "s")
    with pytest.raises(ps.LayerShapeError, match="dilated kernel is taller"):
        dilated_kernel.layer(C=2, IH=2, IW=9, D=3, P=0)


@settings(max_examples=40)
@given(data=st.data())
def test_a_file_kernel_counts_exactly(dilated_kernel, data):
    size = st.integers(1, 7)
    d, p = data.draw(st.integers(1, 3)), data.draw(st.integers(0, 3))
    height = data.draw(st.integers(max(1, 2 * d - 2 * p + 1), 9))
    width = data.draw(st.integers(max(1, 2 * d - 2 * p + 1), 9))
    layer = dilated_kernel.layer(name="dil", C=data.draw(size), IH=height, IW=width, D=d, P=p)
    assert_same_traffic(data.draw(schedules(layer)))


BROKEN = {
    "not toml": ("kind = ", "is not valid TOML"),
    "no kind": (DILATED.replace('kind = "dilated_depthwise"', ""), "missing kind"),
    "no domain": (DILATED.replace("domain =", "dom ="), "missing loops.domain"),
    "bad isl": (DILATED.replace("0 <= r < 3 and", "0 <= r < and"), "loops.domain is not valid ISL"),
    "unknown symbol": (DILATED.replace("y + D*r", "y + Q*r"), "uses unknown symbol 'Q'"),
    "bad role": (DILATED.replace('role = "weight"', 'role = "bias"'), "role must be one of"),
    "two outputs": (DILATED.replace('role = "weight"', 'role = "output"'), "exactly one tensor"),
    "lower case symbol": (DILATED.replace("D = {", "d = {").replace("D*", "d*")
                          .replace("2*D", "2*d"), "must be written in CAPITALS"),
    "bad expression": (DILATED.replace('"IH + 2*P - 2*D"', '"IH ** 2"'),
                       "only integer"),
    "not a box": (DILATED.replace('0 <= s < 3 }"', '0 <= s <= r }"', 1),
                  "loops.domain must be a rectangular box"),
    "wrong arity": (DILATED.replace("-> W[c, r, s]", "-> W[c, r]"), "must land in W"),
    "wrong tuple": (DILATED.replace("-> O[c, y, x]", "-> Q[c, y, x]"), "must land in O"),
    "not a function": (DILATED.replace("{ S[c, y, x, r, s] -> W[c, r, s] }",
                                       "{ S[c, y, x, r, s] -> W[c, r, t] : 0 <= t < 2 }"),
                       "one element for every iteration"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_malformed_kernel_files_are_rejected(tmp_path, case):
    text, message = BROKEN[case]
    assert text != DILATED or case == "not toml"
    path = tmp_path / "broken.toml"
    path.write_text(text)
    with pytest.raises(ps.KernelFileError, match=message):
        ps.load_kernel(path)


def test_unknown_kernels_and_missing_files_are_named(tmp_path):
    with pytest.raises(ps.KernelFileError, match="no built-in kernel 'winograd'"):
        ps.load_kernel("winograd")
    with pytest.raises(ps.KernelFileError, match="cannot read kernel file"):
        ps.load_kernel(tmp_path / "absent.toml")
