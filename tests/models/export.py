"""Regenerate every ONNX file in this folder, and manifest.json, from scratch.

Run with the scratch venv (never a polyscan dependency; tests must not import this file):

    /work/scratch/torchenv/bin/python tests/models/export.py

CNNs from torchvision and timm are built with random weights (no pretrained download), put in
eval mode and exported at batch 1 by the TorchScript exporter (dynamo=False, opset 17); the OCR
models are the ONNX files shipped inside the rapidocr_onnxruntime wheel. Every initializer of
1 KB or more is then moved to external data and the data file deleted: the graphs, shapes and
small constants stay, the weights are absent on purpose.
"""

import argparse
import collections
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import zipfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is ever downloaded from a hub

import onnx
import timm
import torch
import torchvision
from onnx import external_data_helper, numpy_helper, shape_inference
from torch import nn

HERE = pathlib.Path(__file__).resolve().parent
OPSET = 17
SIZE_THRESHOLD = 1024

# At least one member of every CNN classification family in torchvision.models (no ViT, Swin,
# MaxViT: those are not CNNs).
TORCHVISION = [
    "alexnet", "vgg11", "googlenet", "inception_v3", "resnet18", "resnet50", "resnext50_32x4d",
    "wide_resnet50_2", "densenet121", "squeezenet1_0", "squeezenet1_1", "mobilenet_v2",
    "mobilenet_v3_large", "mobilenet_v3_small", "mnasnet0_5", "mnasnet1_0", "shufflenet_v2_x0_5",
    "shufflenet_v2_x1_0", "efficientnet_b0", "efficientnet_v2_s", "regnet_y_400mf",
    "regnet_x_400mf", "convnext_tiny",
]
TORCHVISION_KWARGS = {
    "googlenet": dict(aux_logits=False, init_weights=False),
    "inception_v3": dict(aux_logits=False, init_weights=False),
}
INPUT_SIZE = {"inception_v3": 299}

# timm mobile families. mobileone_s0 is exported as built (train-time branches, not
# reparameterized); tf_mobilenetv3_small_100 uses TF "same" padding (explicit Pad nodes).
TIMM = [
    "lcnet_100", "ghostnet_100", "mixnet_s", "rexnet_100", "efficientnet_lite0",
    "tf_mobilenetv3_small_100", "mobilenetv4_conv_small", "mobileone_s0",
]

# One export with symbolic batch, height and width, for the error-path tests.
DYNAMIC = {"mobilenet_v2": "torchvision_mobilenet_v2_dynamic.onnx"}

OCR_PACKAGE, OCR_VERSION = "rapidocr_onnxruntime", "1.4.4"
OCR_FILES = {  # file in the wheel's models/ -> (our name, model)
    "ch_PP-OCRv4_det_infer.onnx": ("ocr_det_ppocrv4.onnx", "ch_PP-OCRv4_det_infer"),
    "ch_ppocr_mobile_v2.0_cls_infer.onnx": ("ocr_cls_ppocr_mobile_v2_0.onnx",
                                            "ch_ppocr_mobile_v2.0_cls_infer"),
    "ch_PP-OCRv4_rec_infer.onnx": ("ocr_rec_ppocrv4.onnx", "ch_PP-OCRv4_rec_infer"),
}

VERSIONS = {"torch": torch.__version__, "torchvision": torchvision.__version__,
            "timm": timm.__version__, "onnx": onnx.__version__}


def module_figures(model: nn.Module, x: torch.Tensor) -> dict:
    """Counts from the PyTorch module, over the Conv2d / ConvTranspose2d / Linear modules that a
    forward pass actually called (modules defined but never run are left out)."""
    calls = collections.Counter()
    macs = [0]
    defined = collections.Counter()
    hooks = []

    def hook(module, inputs, output):
        calls[module] += 1
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            macs[0] += output.numel() * (module.in_channels // module.groups) * kh * kw
        elif isinstance(module, nn.ConvTranspose2d):
            kh, kw = module.kernel_size
            macs[0] += inputs[0].numel() * (module.out_channels // module.groups) * kh * kw
        else:
            macs[0] += output.numel() * module.in_features

    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            kind = next(k for k in (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)
                        if isinstance(module, k))
            defined[kind.__name__] += 1
            hooks.append(module.register_forward_hook(hook))
        elif isinstance(module, nn.modules.conv._ConvNd):
            raise RuntimeError(f"unexpected convolution module {type(module).__name__}")
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()

    def called(kind):
        return [m for m in calls if isinstance(m, kind)]

    convs, transposed, linears = called(nn.Conv2d), called(nn.ConvTranspose2d), called(nn.Linear)
    return {
        "conv_layers": len(convs),
        "conv_calls": sum(calls[m] for m in convs),
        "conv_transpose_layers": len(transposed),
        "conv_transpose_calls": sum(calls[m] for m in transposed),
        "linear_layers": len(linears),
        "linear_calls": sum(calls[m] for m in linears),
        "conv_linear_weight_params": sum(m.weight.numel() for m in convs + transposed + linears),
        "total_params": sum(p.numel() for p in model.parameters()),
        "macs": macs[0],
        "modules_defined": dict(defined),
    }


def make_values_distinct(model: nn.Module) -> None:
    """Random init leaves many tensors equal (zero biases, BatchNorm's 0/1 statistics, constant
    layer scales); the exporter then folds BatchNorm into equal Conv biases, deduplicates them and
    writes Identity nodes that a trained model's export does not have. A little noise on every
    parameter and BatchNorm statistic makes the graph look like a trained model's."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.01)
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_var is not None:
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)


def value_info(v) -> dict:
    """Name and shape; a dim that is not a positive number (a dim_param, unset, or -1 as
    ch_ppocr_mobile_v2.0_cls stores its batch) is null, and dims_as_stored then says what it is."""
    dims = v.type.tensor_type.shape.dim
    out = {"name": v.name, "shape": [d.dim_value if d.HasField("dim_value") and d.dim_value > 0
                                     else None for d in dims]}
    if None in out["shape"]:
        out["dims_as_stored"] = [d.dim_value if d.HasField("dim_value") else
                                 d.dim_param if d.HasField("dim_param") else None for d in dims]
    return out


def onnx_figures(model: onnx.ModelProto) -> dict:
    """Counts read from the ONNX graph (dims stay when a tensor's data is external). A weight is
    a Conv / ConvTranspose / Gemm input 1, or either MatMul input, that is an initializer or a
    Constant node's output."""
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    constants = {n.output[0]: a.t for n in graph.node if n.op_type == "Constant"
                 for a in n.attribute if a.name == "value"}
    weights = {**constants, **inits}

    def numel(t):
        n = 1
        for d in t.dims:
            n *= d
        return n

    weight_params = 0
    weighted = collections.Counter()
    for node in graph.node:
        if node.op_type in ("Conv", "ConvTranspose", "Gemm", "MatMul"):
            names = node.input[1:2] if node.op_type != "MatMul" else node.input[:2]
            for name in names:
                if name in weights:
                    weight_params += numel(weights[name])
                    weighted[node.op_type] += 1
    ops = collections.Counter(n.op_type for n in graph.node)
    return {
        "onnx_nodes": len(graph.node),
        "onnx_conv_nodes": ops["Conv"],
        "onnx_conv_transpose_nodes": ops["ConvTranspose"],
        "onnx_gemm_nodes": ops["Gemm"],
        "onnx_matmul_nodes": ops["MatMul"],
        "onnx_matmul_with_constant_weight": weighted["MatMul"],
        "onnx_conv_linear_weight_params": weight_params,
        "onnx_initializer_params": sum(numel(t) for t in graph.initializer),
        "onnx_constant_node_params": sum(numel(t) for t in constants.values()),
        "onnx_external_tensors": sum(1 for t in external_data_helper._get_all_tensors(model)
                                     if t.data_location == onnx.TensorProto.EXTERNAL),
        "onnx_op_types": dict(sorted(ops.items())),
    }


def strip_and_save(model: onnx.ModelProto, path: pathlib.Path) -> onnx.ModelProto:
    """Move every tensor >= 1 KB to external data, save, and delete the data file.

    Tensors are initializers or, in the Paddle exports, Constant nodes' values (hence
    convert_attribute=True). Only raw_data can go external, so a large tensor stored in a typed
    field (float_data, as ch_ppocr_mobile_v2.0_cls has) is first rewritten as raw_data, same
    name, dims, type and values."""
    for tensor in external_data_helper._get_all_tensors(model):
        if not tensor.HasField("raw_data") and tensor.data_location != onnx.TensorProto.EXTERNAL:
            array = numpy_helper.to_array(tensor)
            if array.nbytes >= SIZE_THRESHOLD:
                tensor.CopyFrom(numpy_helper.from_array(array, tensor.name))
    data_name = path.stem + ".data"
    external_data_helper.convert_model_to_external_data(
        model, all_tensors_to_one_file=True, location=data_name, size_threshold=SIZE_THRESHOLD,
        convert_attribute=True)
    onnx.save(model, str(path))
    (path.parent / data_name).unlink(missing_ok=True)
    loaded = onnx.load(str(path), load_external_data=False)
    shape_inference.infer_shapes(loaded, check_type=True, strict_mode=True)
    return loaded


def export_torch(model: nn.Module, size: int, path: pathlib.Path, dynamic: bool) -> onnx.ModelProto:
    x = torch.randn(1, 3, size, size)
    extra = {}
    if dynamic:
        extra["dynamic_axes"] = {"input": {0: "N", 2: "H", 3: "W"}, "output": {0: "N"}}
    with tempfile.TemporaryDirectory() as tmp:
        full = pathlib.Path(tmp) / "full.onnx"
        torch.onnx.export(model, (x,), str(full), dynamo=False, opset_version=OPSET,
                          input_names=["input"], output_names=["output"], **extra)
        model_proto = onnx.load(str(full))
    return strip_and_save(model_proto, path)


def torch_entry(source, name, builder, kwargs, path, dynamic=False):
    torch.manual_seed(0)
    model = builder(name, **kwargs).eval()
    make_values_distinct(model)
    size = INPUT_SIZE.get(name, 224)
    figures = module_figures(model, torch.randn(1, 3, size, size))
    proto = export_torch(model, size, path, dynamic)
    return {
        "file": path.name, "source": source, "model": name,
        "framework_versions": {k: VERSIONS[k] for k in ("torch", "torchvision", "timm")},
        "onnx_version": VERSIONS["onnx"], "opset": OPSET,
        "input": value_info(proto.graph.input[0]),
        "output": value_info(proto.graph.output[0]),
        **figures, **onnx_figures(proto),
    }


def ocr_entries(out_dir: pathlib.Path) -> list:
    entries = []
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp,
                        f"{OCR_PACKAGE}=={OCR_VERSION}"], check=True)
        wheel = next(pathlib.Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as z:
            members = {pathlib.PurePosixPath(n).name: n for n in z.namelist()
                       if n.endswith(".onnx")}
            for original, (filename, model_name) in OCR_FILES.items():
                proto = onnx.load_from_string(z.read(members[original]))
                producer = f"{proto.producer_name} {proto.producer_version}".strip()
                saved = strip_and_save(proto, out_dir / filename)
                entries.append({
                    "file": filename, "source": "ocr", "model": model_name,
                    "framework_versions": {"torch": None, "torchvision": None, "timm": None,
                                           OCR_PACKAGE: OCR_VERSION, "producer": producer},
                    "original_file": members[original],
                    "opset": {o.domain or "ai.onnx": o.version for o in saved.opset_import},
                    "input": value_info(saved.graph.input[0]),
                    "output": value_info(saved.graph.output[0]),
                    "conv_layers": None, "conv_calls": None, "conv_transpose_layers": None,
                    "conv_transpose_calls": None, "linear_layers": None, "linear_calls": None,
                    "conv_linear_weight_params": None, "total_params": None, "macs": None,
                    **onnx_figures(saved),
                })
            unknown = set(members) - set(OCR_FILES)
            if unknown:
                print(f"note: wheel has other ONNX files, not taken: {sorted(unknown)}")
    return entries


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="export only these model names")
    args = parser.parse_args()
    want = (lambda n: n in args.only) if args.only else (lambda n: True)
    torch.set_num_threads(2)

    jobs = [("torchvision", n, torchvision.models.get_model, TORCHVISION_KWARGS.get(n, {}),
             f"torchvision_{n}.onnx", False) for n in TORCHVISION]
    jobs += [("torchvision", n, torchvision.models.get_model, TORCHVISION_KWARGS.get(n, {}),
              f, True) for n, f in DYNAMIC.items()]
    jobs += [("timm", n, lambda n, **kw: timm.create_model(n, pretrained=False, **kw), {},
              f"timm_{n}.onnx", False) for n in TIMM]

    manifest_path = HERE / "manifest.json"
    old = {e["file"]: e for e in json.loads(manifest_path.read_text())} \
        if args.only and manifest_path.exists() else {}
    entries, failures = [], []
    for source, name, builder, kwargs, filename, dynamic in jobs:
        if not want(name):
            if filename in old:
                entries.append(old[filename])
            continue
        print(f"{filename} ...", flush=True)
        try:
            entries.append(torch_entry(source, name, builder, kwargs, HERE / filename, dynamic))
        except Exception as e:  # keep going; report at the end
            failures.append((filename, f"{type(e).__name__}: {e}"))
            (HERE / filename).unlink(missing_ok=True)
    if want("ocr"):
        entries += ocr_entries(HERE)
    else:
        entries += [e for e in old.values() if e["source"] == "ocr"]

    manifest_path.write_text(json.dumps(entries, indent=1) + "\n")
    for filename, why in failures:
        print(f"FAILED {filename}: {why}")
    print(f"{len(entries)} files, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
