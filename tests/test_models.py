"""Real exports (tests/models/: torchvision, timm and PP-OCR models, weights absent) import
with the layers and parameters their framework reports (tests/models/manifest.json, counted
from the PyTorch modules that ran), and a selection of them fuses at 64K entries with every
group's traffic equal to its schedule's exact count. The whole suite's plans:
``python benchmarks/networks.py`` (docs/networks.md)."""

import json
from pathlib import Path

import pytest

import polyscan as ps

MODELS = Path(__file__).parent / "models"
MANIFEST = {entry["file"]: entry for entry in json.loads((MODELS / "manifest.json").read_text())}
# input shapes for the models exported with symbolic dims (the sizes their packages use)
SHAPES = {"ocr_det_ppocrv4.onnx": (1, 3, 640, 640), "ocr_cls_ppocr_mobile_v2_0.onnx":
          (1, 3, 48, 192), "ocr_rec_ppocrv4.onnx": (1, 3, 48, 320),
          "torchvision_mobilenet_v2_dynamic.onnx": (1, 3, 224, 224)}
CONVOLUTIONS = ("conv2d", "pointwise", "depthwise", "grouped_conv2d", "conv_transpose")


def load(file: str) -> ps.Network:
    entry = MANIFEST[file]
    shapes = {entry["input"]["name"]: SHAPES[file]} if file in SHAPES else None
    return ps.load_onnx(MODELS / file, input_shapes=shapes)


@pytest.mark.parametrize("file", sorted(MANIFEST))
def test_a_real_export_imports_with_its_framework_figures(file):
    entry = MANIFEST[file]
    net = load(file)
    kinds = [layer.kind for layer in net.layers]
    weights = sum(t.size for t in net.tensors.values() if t.weight)
    if entry["conv_calls"] is None:  # exported by Paddle: the ONNX graph's own counts
        convolutions = entry["onnx_conv_nodes"] + entry["onnx_conv_transpose_nodes"]
        linear = entry["onnx_gemm_nodes"] + entry["onnx_matmul_with_constant_weight"]
        parameters = entry["onnx_conv_linear_weight_params"]
    else:
        convolutions = entry["conv_calls"] + entry["conv_transpose_calls"]
        linear = entry["linear_calls"]
        parameters = entry["conv_linear_weight_params"]
    # a MatMul by constant weights at every position (ConvNeXt's MLP) is a pointwise conv
    assert sum(k in CONVOLUTIONS for k in kinds) + kinds.count("fully_connected") == \
        convolutions + linear
    assert kinds.count("conv_transpose") == (entry["conv_transpose_calls"] or
                                             entry["onnx_conv_transpose_nodes"])
    assert weights == parameters
    assert net.floor() >= weights


def test_symbolic_dims_need_a_shape_and_then_import_like_the_fixed_export():
    with pytest.raises(ps.OnnxImportError, match="symbolic dim 'N'.*--input-shape input="):
        ps.load_onnx(MODELS / "torchvision_mobilenet_v2_dynamic.onnx")
    dynamic = load("torchvision_mobilenet_v2_dynamic.onnx")
    fixed = load("torchvision_mobilenet_v2.onnx")
    assert [(x.kind, dict(x.symbols)) for x in dynamic.layers] == \
        [(x.kind, dict(x.symbols)) for x in fixed.layers]


@pytest.mark.slow
def test_torchvision_mobilenet_v2_plans_exactly_like_the_zoo():
    """The reference network through its real export, names full of dots and slashes."""
    plan = ps.optimize_network(load("torchvision_mobilenet_v2.onnx"), 65536)
    zoo = ps.optimize_network(ps.zoo.mobilenet_v2(), 65536)
    assert (plan.total, plan.floor, len(plan.groups)) == (zoo.total, zoo.floor,
                                                          len(zoo.groups))
    first = "/features/features.1/conv/conv.0/conv.0.0/Conv"  # the name the issue tripped on
    assert len(next(g for g in plan.groups if first in g.layers).layers) > 1


@pytest.mark.slow
@pytest.mark.parametrize("file", ["torchvision_shufflenet_v2_x0_5.onnx",
                                  "torchvision_squeezenet1_1.onnx",
                                  "timm_tf_mobilenetv3_small_100.onnx"])
def test_real_networks_fuse_with_exact_group_counts(file):
    """Concat, Split, channel shuffles, copies and folded pads inside fused groups."""
    net = load(file)
    plan = ps.optimize_network(net, 65536)
    assert any(len(g.layers) > 1 for g in plan.groups)
    assert plan.floor <= plan.total <= ps.optimize_network(net, 65536, fusion=False).total
    for group in plan.groups:
        counted = ps.traffic(group.schedule)
        assert (counted.reads, counted.writes, counted.peak) == \
            (group.traffic.reads, group.traffic.writes, group.traffic.peak)
        assert counted.peak <= 65536
    assert [n for g in plan.groups for n in g.layers] == [x.name for x in net.layers]
