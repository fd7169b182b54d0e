"""ONNX import: every operator kind, residual folding, absent external data, shape
inference, symbolic dims, operators refused with a line naming them, and MobileNetV2 the way
torchvision exports it. (What each imported layer reads and writes is checked against ONNX's
own evaluator in test_onnx_views.py; real exports in test_models.py.)"""

import pytest
from onnx import TensorProto, helper
from onnx_models import GraphBuilder, save, torchvision_mobilenet_v2

import polyscan as ps
from polyscan.cli import main
from polyscan.network.onnx_import import OnnxImportError


def _save(model, tmp_path, name="m.onnx", external=False):
    return save(model, tmp_path, name, external)


def _layers(net):
    return [(layer.kind, dict(layer.symbols), sorted(layer.tensors)) for layer in net.layers]


def test_every_operator_kind(tmp_path):
    g = GraphBuilder(8, 16, 16)
    x = g.clip(g.conv("x", 8, 16, kernel=3, stride=2, pad=1, name="conv"))
    x = g.node("BatchNormalization", [x, g._weight("s", [16]), g._weight("b", [16]),
                                      g._weight("m", [16]), g._weight("v", [16])])
    x = g.node("Relu", [g.conv(x, 16, 16, kernel=3, group=16, name="dw")])
    x = g.conv(x, 16, 24, kernel=1, pad=0, name="pw")
    x = g.conv(x, 24, 24, kernel=3, group=4, name="grouped")
    x = g.node("MaxPool", [x], name="maxpool", kernel_shape=[2, 2], strides=[2, 2])
    x = g.node("AveragePool", [x], name="avgpool", kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    x = g.node("GlobalAveragePool", [x], name="gap")
    x = g.node("Flatten", [x], axis=1)
    x = g.gemm(x, 24, 10, name="fc")
    net = ps.load_onnx(_save(g.model(x, [1, 10]), tmp_path))
    assert [(layer.name, layer.kind) for layer in net.layers] == [
        ("conv", "conv2d"), ("dw", "depthwise"), ("pw", "pointwise"),
        ("grouped", "grouped_conv2d"), ("maxpool", "pool"), ("avgpool", "pool"),
        ("gap", "pool"), ("fc", "fully_connected")]
    conv, _, _, grouped, maxpool, avgpool, gap, fc = net.layers
    assert conv.extents["y"] == 8 and conv.symbols["SH"] == 2 and conv.symbols["PT"] == 1
    assert grouped.symbols["G"] == 4 and grouped.symbols["CG"] == 6
    assert maxpool.extents["y"] == 4 and avgpool.extents["y"] == 4
    assert gap.symbols["KH"] == 4 and fc.symbols == {"K": 10, "C": 24}
    assert all(net.graph.has_edge(a.name, b.name) for a, b in zip(net.layers, net.layers[1:]))


def test_matmul_auto_pad_and_missing_value_info(tmp_path):
    g = GraphBuilder(4, 9, 9)
    weight = g._weight("w", [6, 4, 3, 3])
    x = g.node("Conv", ["x", weight], name="same", kernel_shape=[3, 3], strides=[2, 2],
               auto_pad="SAME_UPPER")
    x = g.node("GlobalAveragePool", [x], name="gap")
    x = g.node("Reshape", [x, g.constant("shape", [1, -1])], name="reshape")
    x = g.node("MatMul", [x, g._weight("m", [6, 3])], name="mm")
    model = g.model(x, [1, 3])
    assert not model.graph.value_info  # shapes come from ONNX shape inference
    net = ps.load_onnx(_save(model, tmp_path))
    same, gap, mm = net.layers
    assert same.extents["y"] == 5 and (same.symbols["PT"], same.symbols["PB"]) == (1, 1)
    assert mm.kind == "fully_connected" and mm.symbols == {"K": 3, "C": 6}


def test_residual_add_is_folded_into_the_later_producer(tmp_path):
    g = GraphBuilder(8, 6, 6)
    a = g.conv("x", 8, 8, kernel=1, pad=0, name="a")
    b = g.conv(g.conv(a, 8, 8, group=8, name="dw"), 8, 8, kernel=1, pad=0, name="b")
    x = g.node("Add", [a, b], name="add")
    x = g.conv(x, 8, 4, kernel=1, pad=0, name="c")
    net = ps.load_onnx(_save(g.model(x, [1, 4, 6, 6]), tmp_path))
    assert [layer.name for layer in net.layers] == ["a", "dw", "b", "c"]
    assert "R" in net.layer("b").tensors and net.graph.edges["a", "b"]["tensors"] == ("R",)
    assert net.graph.edges["b", "c"]["tensors"] == ("I",)  # c reads the sum, made by b


def test_squeeze_excitation_mul_is_a_scale_layer(tmp_path):
    g = GraphBuilder(8, 5, 5)
    x = g.conv("x", 8, 8, group=8, name="dw")
    s = g.node("GlobalAveragePool", [x], name="se_pool")
    s = g.node("Sigmoid", [g.conv(s, 8, 8, kernel=1, pad=0, name="se_fc")])
    x = g.node("Mul", [x, s], name="scale")
    net = ps.load_onnx(_save(g.model(x, [1, 8, 5, 5]), tmp_path))
    scale = net.layer("scale")
    assert scale.kind == "scale" and net.graph.edges["se_fc", "scale"]["tensors"] == ("S",)
    assert net.graph.edges["dw", "scale"]["tensors"] == ("I",)


def test_weights_whose_external_data_is_absent(tmp_path):
    path = _save(torchvision_mobilenet_v2(), tmp_path, external=True)
    assert not (tmp_path / "weights.bin").exists()
    assert len(ps.load_onnx(path).layers) == 54


def test_torchvision_mobilenet_v2_matches_the_zoo(tmp_path):
    net = ps.load_onnx(_save(torchvision_mobilenet_v2(), tmp_path))
    zoo = ps.zoo.mobilenet_v2()
    assert _layers(net) == _layers(zoo)
    assert net.layers[0].name == "/features/features.0/features.0.0/Conv"
    residuals = [layer.name for layer in net.layers if "R" in layer.tensors]
    assert len(residuals) == 10
    plan = ps.optimize_network(net, 65536, fusion=False)
    assert plan.total == ps.optimize_network(zoo, 65536, fusion=False).total
    assert plan.floor == ps.optimize_network(zoo, 65536, fusion=False).floor


def test_cli_takes_an_onnx_file(tmp_path, capsys):
    path = _save(torchvision_mobilenet_v2(), tmp_path)
    assert main(["optimize", str(path), "--buffer", "64K", "--no-fusion", "--quiet"]) == 0
    out = capsys.readouterr().out
    # the built-in network of the same shapes, through the API: the same plan, whose total
    # is its groups' exact traffic and, without fusion at 64K, every layer's compulsory one
    zoo = ps.optimize_network(ps.zoo.mobilenet_v2(), 65536, fusion=False)
    assert zoo.total == sum(ps.traffic(g.schedule).total for g in zoo.groups)
    assert len(zoo.groups) == 54 and zoo.total >= zoo.compulsory_unfused >= zoo.floor
    assert f": {zoo.total:,} DRAM entries at a 65,536-entry buffer (54 groups); " \
        f"compulsory without fusion {zoo.compulsory_unfused:,} " in out
    assert f"floor {zoo.floor:,} (x{zoo.total / zoo.floor:.3f})" in out


def test_unknown_operator_names_op_and_node(tmp_path):
    g = GraphBuilder(4, 4, 4)
    x = g.conv("x", 4, 4, name="conv")
    x = g.node("LpNormalization", [x], name="the/lp.norm", axis=1)
    x = g.conv(x, 4, 2, kernel=1, pad=0, name="after")
    path = _save(g.model(x, [1, 2, 4, 4]), tmp_path)
    with pytest.raises(OnnxImportError, match="unsupported operator LpNormalization at node "
                                              "'the/lp.norm'"):
        ps.load_onnx(path)
    net = ps.load_onnx(path, unknown="boundary")  # cut there: two unconnected layers
    assert [layer.name for layer in net.layers] == ["conv", "after"]
    assert not net.graph.has_edge("conv", "after")
    assert net.tensor_of("conv", "O").name in net.outputs  # read by the cut: delivered
    assert net.tensor_of("after", "I").writers == ()  # made by the cut: an input


def _refused(tmp_path, build, message):
    g = GraphBuilder(4, 6, 6)
    out = build(g)
    with pytest.raises(OnnxImportError, match=message):
        ps.load_onnx(_save(g.model(out), tmp_path))


@pytest.mark.parametrize("build, message", [
    (lambda g: g.node("Pad", ["x", g.constant("p", [0, 0, 1, 1, 0, 0, 1, 1])], mode="reflect",
                      name="reflect"), r"Pad at node 'reflect' \(reflect"),
    (lambda g: g.node("Pad", ["x", g.constant("p", [0, 1, 0, 0, 0, 1, 0, 0])], name="chan"),
     "zero padding of the rows and columns"),
    (lambda g: g.node("Resize", ["x", "", g.constant_float("s", [1, 1, 1.5, 1.5])],
                      mode="nearest", name="frac"), "integer factors"),
    (lambda g: g.node("Resize", ["x", "", g.constant_float("s", [1, 1, 2, 2])],
                      mode="linear", name="lin"), r"\(linear"),
    (lambda g: g.node("Sub", ["x", g.conv("x", 4, 4, kernel=1, pad=0, name="c")], name="sub"),
     "Sub at node 'sub' combines 2 different computed tensors"),
    (lambda g: g.node("ReduceMean", ["x"], axes=[1, 2], name="mean"), "over axes \\[1, 2\\]"),
    (lambda g: g.node("Concat", ["x", "x"], axis=0, name="batch"),
     "Concat at node 'batch' concatenates along the batch axis"),
    (lambda g: g.node("InstanceNormalization", ["x", g._weight("s", [4]),
                                                g._weight("b", [4])], name="inorm"),
     "unsupported operator InstanceNormalization at node 'inorm'"),
])
def test_operators_polyscan_cannot_model_are_named(tmp_path, build, message):
    _refused(tmp_path, build, message)


def test_a_matmul_of_two_computed_tensors_is_a_batched_matmul(tmp_path):
    """Attention's Q K^T, with the softmax over the last axis."""
    g = GraphBuilder(1, 6, 8, shape=[1, 2, 6, 8])
    q = g.node("Transpose", ["x"], perm=[0, 1, 3, 2])
    scores = g.node("MatMul", ["x", q], name="qk")
    attn = g.node("Softmax", [scores], axis=-1, name="softmax")
    out = g.node("MatMul", [attn, "x"], name="av")
    net = ps.load_onnx(_save(g.model(out), tmp_path))
    assert [(layer.name, layer.kind) for layer in net.layers] == [
        ("qk", "matmul"), ("softmax", "normalization"), ("av", "matmul")]
    assert net.layer("qk").symbols == {"B": 2, "M": 6, "K": 8, "N": 6}
    assert net.tensor_of("qk", "I").name == net.tensor_of("qk", "J").name == "x"


def test_symbolic_dims_are_named_and_can_be_set(tmp_path):
    g = GraphBuilder(3, 8, 8)
    g.inputs = [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, "H", 8])]
    x = g.conv("image", 3, 4, name="conv")
    path = _save(g.model(g.node("GlobalAveragePool", [x], name="gap")), tmp_path)
    with pytest.raises(OnnxImportError, match="input 'image' has a symbolic dim 'N' "
                                              r"\(axis 0 of \[N, 3, H, 8\]\).*"
                                              "--input-shape image=1x3x224x8"):
        ps.load_onnx(path)
    net = ps.load_onnx(path, input_shapes={"image": (1, 3, 10, 8)})
    assert net.layer("conv").symbols["IH"] == 10
    with pytest.raises(OnnxImportError, match="batch 1"):
        ps.load_onnx(path, input_shapes={"image": (2, 3, 10, 8)})
    with pytest.raises(OnnxImportError, match="not an input of the model"):
        ps.load_onnx(path, input_shapes={"picture": (1, 3, 10, 8)})
    with pytest.raises(OnnxImportError, match="fixed shape"):
        ps.load_onnx(path, input_shapes={"image": (1, 3, 10, 9)})
    with pytest.raises(OnnxImportError, match="rank 4"):
        ps.load_onnx(path, input_shapes={"image": (1, 3, 10)})


def test_a_fixed_batch_above_one_is_refused(tmp_path):
    g = GraphBuilder(3, 8, 8, shape=[4, 3, 8, 8])
    path = _save(g.model(g.conv("x", 3, 4, name="conv")), tmp_path)
    with pytest.raises(OnnxImportError, match=r"'x' has shape \[4, 3, 8, 8\]; polyscan models "
                                              "batch 1"):
        ps.load_onnx(path)


def test_element_wise_epilogues_move_nothing(tmp_path):
    """SiLU, hard-swish, GELU (erf form), batch norm, constant arithmetic: no layers."""
    g = GraphBuilder(4, 5, 5)
    x = g.conv("x", 4, 4, name="conv")
    x = g.node("Mul", [x, g.node("Sigmoid", [x])])                       # SiLU
    relu6 = g.node("Clip", [g.node("Add", [x, g._weight("three", [])]),
                            g._weight("lo", []), g._weight("hi", [])])
    x = g.node("Div", [g.node("Mul", [x, relu6]), g._weight("six", [])])   # hard-swish
    erf = g.node("Erf", [g.node("Div", [x, g._weight("sqrt2", [])])])
    x = g.node("Mul", [g.node("Mul", [x, g._weight("half", [])]),
                       g.node("Add", [erf, g._weight("one", [])])])       # GELU
    x = g.node("BatchNormalization", [x, *(g._weight(n, [4]) for n in "smbv")])
    x = g.node("Pow", [x, g._weight("two", [])])
    x = g.conv(x, 4, 2, kernel=1, pad=0, name="after")
    net = ps.load_onnx(_save(g.model(x), tmp_path))
    assert [layer.name for layer in net.layers] == ["conv", "after"]
    assert net.graph.edges["conv", "after"]["tensors"] == ("I",)


@pytest.mark.parametrize("content, message", [
    (b"not a model", "is not an ONNX model"),
])
def test_bad_files(tmp_path, content, message):
    path = tmp_path / "bad.onnx"
    path.write_bytes(content)
    with pytest.raises(OnnxImportError, match=message):
        ps.load_onnx(path)
    with pytest.raises(OnnxImportError, match="no such file"):
        ps.load_onnx(tmp_path / "absent.onnx")
