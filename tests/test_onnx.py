"""ONNX import: every operator kind, residual folding, absent external data, shape
inference, and MobileNetV2 the way torchvision exports it."""

import onnx
import pytest
from onnx_models import GraphBuilder, torchvision_mobilenet_v2

import polyscan as ps
from polyscan.cli import main
from polyscan.onnx_import import OnnxImportError


def _save(model, tmp_path, name="m.onnx", external=False):
    path = tmp_path / name
    if external:  # weights in a side file, then removed: only shapes are needed
        onnx.save_model(model, str(path), save_as_external_data=True,
                        all_tensors_to_one_file=True, location="weights.bin",
                        size_threshold=0)
        (tmp_path / "weights.bin").unlink()
    else:
        onnx.save_model(model, str(path))
    return path


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
    assert "R" in net.layer("b").tensors and net.graph.edges["a", "b"]["tensor"] == "R"
    assert net.graph.edges["b", "c"]["tensor"] == "I"  # c reads the sum, made by b


def test_squeeze_excitation_mul_is_a_scale_layer(tmp_path):
    g = GraphBuilder(8, 5, 5)
    x = g.conv("x", 8, 8, group=8, name="dw")
    s = g.node("GlobalAveragePool", [x], name="se_pool")
    s = g.node("Sigmoid", [g.conv(s, 8, 8, kernel=1, pad=0, name="se_fc")])
    x = g.node("Mul", [x, s], name="scale")
    net = ps.load_onnx(_save(g.model(x, [1, 8, 5, 5]), tmp_path))
    scale = net.layer("scale")
    assert scale.kind == "scale" and net.graph.edges["se_fc", "scale"]["tensor"] == "S"
    assert net.graph.edges["dw", "scale"]["tensor"] == "I"


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
    assert "17,196,456 DRAM entries" in capsys.readouterr().out


def test_unknown_operator_names_op_and_node(tmp_path):
    g = GraphBuilder(4, 4, 4)
    x = g.conv("x", 4, 4, name="conv")
    x = g.node("Softmax", [x], name="the_softmax")
    x = g.conv(x, 4, 2, kernel=1, pad=0, name="after")
    path = _save(g.model(x, [1, 2, 4, 4]), tmp_path)
    with pytest.raises(OnnxImportError, match="unsupported operator Softmax at node "
                                              "'the_softmax'"):
        ps.load_onnx(path)
    net = ps.load_onnx(path, unknown="boundary")  # cut there: two unconnected layers
    assert [layer.name for layer in net.layers] == ["conv", "after"]
    assert not net.graph.has_edge("conv", "after")


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
