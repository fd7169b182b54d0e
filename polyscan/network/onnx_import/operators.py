"""ONNX operators, one handler each (DESIGN 6a; the table in docs/networks.md).

- Layers: Conv (conv2d / pointwise / depthwise / grouped), ConvTranspose, Gemm and MatMul
  (fully connected, pointwise over positions, or a batched matmul of two computed tensors),
  MaxPool / AveragePool / global pools / ReduceMean and ReduceMax over the spatial axes
  (pool, with ``ceil_mode`` as extra bottom/right padding that reads nothing), Resize
  (nearest, integer factors: upsample), LayerNormalization and Softmax (normalization over
  one axis), Mul by a per-channel vector (scale), Add of two tensors (folded as a residual
  where possible, else an add layer), Mul of two tensors (multiply).
- Data movement without data moved: Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Slice,
  Split, Gather of one index, Concat (the inputs are placed in one network tensor; an input
  that cannot be written in place is copied), a zero Pad (folded into the next conv or pool,
  else a pad layer).
- Element-wise work on one tensor (activations, BatchNormalization, arithmetic with constants
  or with functions of the same tensor): nothing.
"""

from __future__ import annotations

import numpy as np

from ...errors import OnnxImportError
from ...model.constructors import (
    conv2d,
    depthwise,
    fully_connected,
    grouped_conv2d,
    pointwise,
    pool,
)
from ...model.kernel import load_kernel
from ...model.layer import LayerShapeError
from . import views
from .importer import Importer, _attribute
from .views import Value

NCHW = (None, 0, 1, 2)  # value axes (batch, channels, rows, columns) -> kernel dims c, y, x


def _ints(node, key, default):
    return [int(v) for v in _attribute(node, key, default)]


def _axis(axis: int, rank: int, node, name) -> int:
    axis = axis + rank if axis < 0 else axis
    if not 0 <= axis < rank:
        raise OnnxImportError(f"{node.op_type} at node {name!r}: axis {axis} is out of range")
    return axis


def _image(imp: Importer, node, name, x: str) -> Value:
    """The (1, C, H, W) value a conv or pool reads."""
    value = imp.value(x, node, name)
    if len(value.shape) != 4:
        raise OnnxImportError(f"{node.op_type} at node {name!r}: input {x!r} has shape "
                              f"{list(value.shape)}; polyscan models 2-D images (N, C, H, W)")
    return value


def _layer(make, node, name):
    """A kernel's layer, its sizes' errors named after the node."""
    try:
        return make()
    except LayerShapeError as error:
        raise OnnxImportError(f"{node.op_type} at node {name!r}: {error}") from None


def readable(imp: Importer, value: Value, name: str) -> Value:
    """``value`` as a layer other than a conv or pool reads it: a pending zero Pad becomes a
    pad layer here."""
    if value.pad == (0, 0, 0, 0):
        return value
    if value.padded is None:
        _, channels, height, width = value.shape
        top, left, bottom, right = value.pad
        output = value.names[0]  # the Pad's output: the padded tensor
        layer = load_kernel("pad").layer(imp.layer_name(f"{output}/pad"), C=channels,
                                         IH=height, IW=width, PT=top, PL=left, PB=bottom,
                                         PR=right)
        imp.shapes[output] = (1, channels, height + top + bottom, width + left + right)
        unpadded = Value(value.storage, value.view, value.shape)
        imp.add_layer(layer, {"I": (unpadded, NCHW)}, output, NCHW)
        value.padded = imp.values[output]
    return value.padded


def _window_pads(imp, node, name, value: Value, size, kernel, stride, dilation):
    """(top, left, bottom, right): the node's pads (or auto_pad) plus a folded zero Pad."""
    auto = _attribute(node, "auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto in ("NOTSET", "VALID"):
        pads = _ints(node, "pads", [0, 0, 0, 0]) if auto == "NOTSET" else [0] * 4
        if len(pads) != 4:
            raise OnnxImportError(f"{node.op_type} at node {name!r}: pads {pads} are not 2-D")
        pads = (pads[0], pads[1], pads[2], pads[3])
    else:
        begin, end = [], []
        for n, k, s, d in zip(size, kernel, stride, dilation):
            total = max(0, (-(-n // s) - 1) * s + (k - 1) * d + 1 - n)
            small, large = total // 2, total - total // 2
            begin.append(small if auto == "SAME_UPPER" else large)
            end.append(large if auto == "SAME_UPPER" else small)
        pads = (begin[0], begin[1], end[0], end[1])
    if any(p < 0 for p in pads):
        raise OnnxImportError(f"{node.op_type} at node {name!r}: negative pads {pads}")
    return tuple(a + b for a, b in zip(pads, value.pad))


# --- layers ------------------------------------------------------------------------------

def conv(imp: Importer, node, name):
    x = _image(imp, node, name, node.input[0])
    weight = imp.shape(node.input[1])
    if weight is None or not imp.is_constant(node.input[1]) or len(weight) != 4:
        raise OnnxImportError(f"Conv at node {name!r}: its weights must be a constant 4-D "
                              f"tensor (got {weight})")
    _, channels, height, width = x.shape
    out_channels, _, kh, kw = weight
    group = _attribute(node, "group", 1)
    stride = tuple(_ints(node, "strides", [1, 1]))
    dilation = tuple(_ints(node, "dilations", [1, 1]))
    pads = _window_pads(imp, node, name, x, (height, width), (kh, kw), stride, dilation)
    window = dict(kernel=(kh, kw), stride=stride, padding=pads, dilation=dilation)

    def make():
        if group == 1 and (kh, kw) == (1, 1) and stride == (1, 1) and not any(pads):
            return pointwise(channels, out_channels, height, width, name=name)
        if group == 1:
            return conv2d(channels, out_channels, height, width, name=name, **window)
        if group == channels == out_channels:
            return depthwise(channels, height, width, name=name, **window)
        return grouped_conv2d(channels, out_channels, height, width, group, name=name,
                              **window)

    layer = _layer(make, node, name)
    unpadded = Value(x.storage, x.view, x.shape)
    imp.add_layer(layer, {"I": (unpadded, NCHW)}, node.output[0], NCHW)


def conv_transpose(imp: Importer, node, name):
    x = readable(imp, _image(imp, node, name, node.input[0]), name)
    weight = imp.shape(node.input[1])
    if weight is None or not imp.is_constant(node.input[1]) or len(weight) != 4:
        raise OnnxImportError(f"ConvTranspose at node {name!r}: its weights must be a "
                              f"constant 4-D tensor")
    if _attribute(node, "group", 1) != 1:
        raise OnnxImportError(f"ConvTranspose at node {name!r}: groups other than 1 are not "
                              f"modelled")
    _, channels, height, width = x.shape
    _, out_channels, kh, kw = weight
    stride = _ints(node, "strides", [1, 1])
    dilation = _ints(node, "dilations", [1, 1])
    padding = _ints(node, "output_padding", [0, 0])
    out = imp.output_shape(node, name)
    pads = _ints(node, "pads", [0, 0, 0, 0])
    auto = _attribute(node, "auto_pad", b"NOTSET")
    if (auto.decode() if isinstance(auto, bytes) else auto) != "NOTSET" or \
            _attribute(node, "output_shape") is not None:  # pads that make ONNX's shape
        total = [(n - 1) * s + (k - 1) * d + 1 + p - o for n, s, k, d, p, o in
                 zip((height, width), stride, (kh, kw), dilation, padding, out[2:])]
        pads = [total[0] // 2, total[1] // 2, total[0] - total[0] // 2,
                total[1] - total[1] // 2]
    layer = _layer(lambda: load_kernel("conv_transpose").layer(
        name, K=out_channels, C=channels, IH=height, IW=width, KH=kh, KW=kw, SH=stride[0],
        SW=stride[1], DILH=dilation[0], DILW=dilation[1], PT=pads[0], PL=pads[1], PB=pads[2],
        PR=pads[3], OPH=padding[0], OPW=padding[1]), node, name)
    imp.add_layer(layer, {"I": (x, NCHW)}, node.output[0], NCHW)


def gemm(imp: Importer, node, name):
    a, b = node.input[0], node.input[1]
    if _attribute(node, "transA", 0):
        raise OnnxImportError(f"Gemm with transA at node {name!r} is not a batch-1 layer")
    if not imp.is_constant(b):
        raise OnnxImportError(f"Gemm at node {name!r} multiplies two computed tensors "
                              f"(MatMul is supported for that)")
    data = readable(imp, imp.value(a, node, name), name)
    weight = imp.shape(b)
    if len(data.shape) != 2 or weight is None or len(weight) != 2:
        raise OnnxImportError(f"Gemm at node {name!r}: shapes {list(data.shape)} and {weight}")
    out_features = weight[0] if _attribute(node, "transB", 0) else weight[1]
    layer = _layer(lambda: fully_connected(data.shape[1], out_features, name=name), node,
                   name)
    imp.add_layer(layer, {"I": (data, (None, 0))}, node.output[0], (None, 0))


def matmul(imp: Importer, node, name):
    a, b = node.input[0], node.input[1]
    if imp.is_constant(a):
        raise OnnxImportError(f"MatMul at node {name!r}: a constant left operand is not "
                              f"modelled")
    data = readable(imp, imp.value(a, node, name), name)
    rank = len(data.shape)
    imp.batch_one(a, data.shape, f"MatMul node {name!r}")
    if not imp.is_constant(b):
        return _batched_matmul(imp, node, name, data)
    weight = imp.shape(b)
    if weight is None or len(weight) != 2:
        raise OnnxImportError(f"MatMul at node {name!r}: constant operand of shape {weight}")
    features, out_features = weight
    if rank == 2:  # (1, C) @ (C, K)
        layer = _layer(lambda: fully_connected(features, out_features, name=name), node, name)
        imp.add_layer(layer, {"I": (data, (None, 0))}, node.output[0], (None, 0))
        return
    if rank not in (3, 4):
        raise OnnxImportError(f"MatMul at node {name!r}: input of rank {rank}")
    # a linear layer applied at every position of a channels-last tensor: a pointwise conv
    height, width = (1, data.shape[1]) if rank == 3 else data.shape[1:3]
    layout = (None, 2, 0) if rank == 3 else (None, 1, 2, 0)
    layer = _layer(lambda: pointwise(features, out_features, height, width, name=name), node,
                   name)
    imp.add_layer(layer, {"I": (data, layout)}, node.output[0], layout)


def _batched_matmul(imp: Importer, node, name, left: Value):
    right = readable(imp, imp.value(node.input[1], node, name), name)
    if len(left.shape) != len(right.shape) or len(left.shape) not in (3, 4) or \
            left.shape[:-2] != right.shape[:-2] or left.shape[-1] != right.shape[-2]:
        raise OnnxImportError(f"MatMul at node {name!r}: shapes {list(left.shape)} and "
                              f"{list(right.shape)} are not a batched product polyscan models "
                              f"(same leading dims, batch 1)")
    heads = left.shape[1] if len(left.shape) == 4 else 1
    layout = (None, 0, 1, 2) if len(left.shape) == 4 else (None, 1, 2)
    layer = _layer(lambda: load_kernel("matmul").layer(
        name, B=heads, M=left.shape[-2], K=left.shape[-1], N=right.shape[-1]), node, name)
    imp.add_layer(layer, {"I": (left, layout), "J": (right, layout)}, node.output[0], layout)


def pooling(imp: Importer, node, name):
    x = _image(imp, node, name, node.input[0])
    _, channels, height, width = x.shape
    if node.op_type.startswith("Global"):
        x = readable(imp, x, name)
        window = dict(kernel=(height, width), stride=1, padding=0)
    else:
        kernel = tuple(_ints(node, "kernel_shape", []))
        stride = tuple(_ints(node, "strides", [1, 1]))
        if len(kernel) != 2 or any(d != 1 for d in _ints(node, "dilations", [1, 1])):
            raise OnnxImportError(f"{node.op_type} at node {name!r}: only 2-D windows "
                                  f"without dilation are modelled")
        pads = _window_pads(imp, node, name, x, (height, width), kernel, stride, (1, 1))
        if _attribute(node, "ceil_mode", 0):
            pads = _ceil_mode((height, width), kernel, stride, pads)
        window = dict(kernel=kernel, stride=stride, padding=pads)
    layer = _layer(lambda: pool(channels, height, width, name=name, **window), node, name)
    unpadded = Value(x.storage, x.view, x.shape)
    imp.add_layer(layer, {"I": (unpadded, NCHW)}, node.output[0], NCHW)


def _ceil_mode(size, kernel, stride, pads):
    """``ceil_mode``: the output size rounds up (ONNX, PyTorch), except that no window may
    start in the bottom or right padding; modelled as extra bottom and right padding, which
    reads nothing, so that the floor formula gives that size."""
    extra = []
    for n, k, s, begin, end in zip(size, kernel, stride, pads[:2], pads[2:]):
        out = -(-(n + begin + end - k) // s) + 1
        if (out - 1) * s >= n + begin:
            out -= 1
        extra.append(max(end, (out - 1) * s + k - n - begin))
    return pads[0], pads[1], extra[0], extra[1]


def reduce(imp: Importer, node, name):
    """ReduceMean / ReduceMax over the spatial axes of an image: a global pool."""
    x = readable(imp, imp.value(node.input[0], node, name), name)
    axes = _attribute(node, "axes", None)
    if axes is None and len(node.input) > 1 and node.input[1]:
        constant = imp.constant(node.input[1])
        axes = None if constant is None else constant.tolist()
    rank = len(x.shape)
    axes = sorted(_axis(a, rank, node, name) for a in (axes if axes is not None
                                                        else range(rank)))
    if len(axes) == 1 and axes[0] != 0:  # along one axis at every position
        layout, sizes = _along(x.shape, axes[0], node, name)
        layer = _layer(lambda: load_kernel("reduce").layer(name, C=x.shape[axes[0]], IH=sizes[0],
                                                           IW=sizes[1]), node, name)
        kept = layout if _attribute(node, "keepdims", 1) else \
            tuple(d for a, d in enumerate(layout) if a != axes[0])
        imp.add_layer(layer, {"I": (x, layout)}, node.output[0], kept)
        return
    if rank != 4 or axes != [2, 3]:
        raise OnnxImportError(f"{node.op_type} at node {name!r} over axes {axes} of "
                              f"{list(x.shape)}: polyscan models a reduction over the spatial "
                              f"axes (a global pool) or along one axis")
    _, channels, height, width = x.shape
    layer = _layer(lambda: pool(channels, height, width, kernel=(height, width), stride=1,
                                padding=0, name=name), node, name)
    layout = NCHW if _attribute(node, "keepdims", 1) else (None, 0)
    imp.add_layer(layer, {"I": (x, NCHW)}, node.output[0], layout)


def resize(imp: Importer, node, name):
    """Nearest-neighbour Resize (or Upsample) by integer factors on the spatial axes."""
    x = readable(imp, _image(imp, node, name, node.input[0]), name)
    mode = _attribute(node, "mode", b"nearest")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    out = imp.output_shape(node, name, computed=_resized(imp, node, x.shape))
    factors = [o // i if o % i == 0 else None for o, i in zip(out, x.shape)]
    if mode != "nearest" or factors[:2] != [1, 1] or None in factors:
        raise OnnxImportError(f"{node.op_type} at node {name!r} ({mode}, {list(x.shape)} -> "
                              f"{list(out)}): polyscan models nearest-neighbour resizing by "
                              f"integer factors of the spatial axes")
    _, channels, height, width = x.shape
    layer = _layer(lambda: load_kernel("upsample").layer(
        name, C=channels, IH=height, IW=width, SH=factors[2], SW=factors[3]), node, name)
    imp.add_layer(layer, {"I": (x, NCHW)}, node.output[0], NCHW)


def _resized(imp: Importer, node, shape) -> tuple[int, ...] | None:
    """A Resize's output shape from its constant sizes or scales."""
    inputs = list(node.input) + [""] * 4
    sizes = imp.constant(inputs[3]) if inputs[3] else None
    if sizes is not None and sizes.size == len(shape):
        return tuple(int(n) for n in sizes.tolist())
    scales_name = inputs[2] if node.op_type == "Resize" and imp.opset >= 11 else inputs[1]
    scales = imp.constant(scales_name) if scales_name else None
    if scales is None or scales.size != len(shape):
        return None
    return tuple(int(np.floor(n * f)) for n, f in zip(shape, scales.tolist()))


def normalization(imp: Importer, node, name):
    """LayerNormalization / Softmax along one axis: whole vectors along it per position."""
    x = readable(imp, imp.value(node.input[0], node, name), name)
    rank = len(x.shape)
    default = -1 if node.op_type == "LayerNormalization" or imp.opset >= 13 else 1
    axis = _axis(_attribute(node, "axis", default), rank, node, name)
    if axis == 0 or (node.op_type == "LayerNormalization" and axis != rank - 1) or \
            (node.op_type != "LayerNormalization" and imp.opset < 13 and axis != rank - 1):
        raise OnnxImportError(f"{node.op_type} at node {name!r} normalises over axes "
                              f"{list(range(axis, rank))} of {list(x.shape)}: polyscan models "
                              f"a normalisation over one axis that is not the batch")
    layout, sizes = _along(x.shape, axis, node, name)
    layer = _layer(lambda: load_kernel("normalization").layer(
        name, C=x.shape[axis], IH=sizes[0], IW=sizes[1]), node, name)
    imp.add_layer(layer, {"I": (x, layout)}, node.output[0], layout)


def _along(shape, axis: int, node, name) -> tuple[tuple, tuple[int, int]]:
    """How a (c, y, x) kernel working along ``axis`` sits on a value of ``shape``: the axis
    is c, the other non-batch axes (at most two) are y and x; and the sizes of y and x."""
    rank = len(shape)
    others = [a for a in range(1, rank) if a != axis]
    if len(others) > 2:
        raise OnnxImportError(f"{node.op_type} at node {name!r}: a tensor of rank {rank}")
    layout = [None] * rank
    layout[axis] = 0
    for slot, a in zip(range(3 - len(others), 3), others):
        layout[a] = slot
    sizes = [1] * (2 - len(others)) + [shape[a] for a in others]
    return tuple(layout), (sizes[0], sizes[1])


# --- element-wise work ---------------------------------------------------------------------

def elementwise(imp: Importer, node, name):
    """Element-wise work: nothing moves when every computed operand is the same tensor
    (activations, batch norm, ``x * sigmoid(x)``, arithmetic with constants); otherwise a
    per-channel Mul is a scale layer, and a Mul or Add of two tensors of one shape a layer."""
    operands = [x for x in node.input if x and x in imp.values]
    values = [imp.values[x] for x in operands]
    out = imp.output_shape(node, name, computed=_broadcast(imp, node, values))
    if all(imp.same(values[0], v) for v in values[1:]):
        if out != values[0].shape:
            raise OnnxImportError(f"{node.op_type} at node {name!r} broadcasts "
                                  f"{list(values[0].shape)} to {list(out)}")
        for output in node.output:
            imp.keep(output, values[0])
        return
    if len(values) != 2:
        raise OnnxImportError(f"{node.op_type} at node {name!r} combines {len(values)} "
                              f"different computed tensors; polyscan models two")
    a, b = (readable(imp, v, name) for v in values)
    if a.shape == b.shape and node.op_type not in ("Mul", "Add"):
        raise OnnxImportError(f"{node.op_type} at node {name!r} combines 2 different computed "
                              f"tensors of one shape; polyscan models Add and Mul of those "
                              f"(and element-wise work on one)")
    if a.shape != b.shape:
        if _broadcast_axis(a.shape, b.shape) is not None or \
                _broadcast_axis(b.shape, a.shape) is not None:
            return _broadcast_layer(imp, node, name, a, b)
        return _channel_scale(imp, node, name, a, b, out)
    if node.op_type == "Mul":
        layer = _layer(lambda: load_kernel("multiply").layer(name, **_chw(a.shape)), node,
                       name)
        layout = _layout(a.shape)
        imp.add_layer(layer, {"I": (a, layout), "J": (b, layout)}, node.output[0], layout)
        return
    later, other = _later(imp, a, b)
    layer = _layer(lambda: load_kernel("add").layer(name, **_chw(a.shape)), node, name)
    layout = _layout(a.shape)
    imp.add_layer(layer, {"I": (later, layout), "R": (other, layout)}, node.output[0], layout,
                  fold=True)


def _broadcast_axis(full, reduced) -> int | None:
    """The one non-batch axis along which ``reduced`` has a single element where ``full``
    has several, the shapes agreeing elsewhere (a mean over the channels); else None."""
    if len(full) != len(reduced):
        return None
    differ = [a for a, (n, m) in enumerate(zip(full, reduced)) if n != m]
    if len(differ) == 1 and differ[0] != 0 and reduced[differ[0]] == 1 and len(full) <= 4:
        return differ[0]
    return None


def _broadcast_layer(imp: Importer, node, name, a: Value, b: Value):
    """Arithmetic of a tensor with one reduced along an axis (x - mean(x), a division by
    the deviation): a broadcast layer reading both."""
    full, reduced = (a, b) if _broadcast_axis(a.shape, b.shape) is not None else (b, a)
    axis = _broadcast_axis(full.shape, reduced.shape)
    layout, sizes = _along(full.shape, axis, node, name)
    layer = _layer(lambda: load_kernel("broadcast").layer(name, C=full.shape[axis],
                                                          IH=sizes[0], IW=sizes[1]), node, name)
    imp.add_layer(layer, {"I": (full, layout), "J": (reduced, layout)}, node.output[0], layout)


def _channel_scale(imp: Importer, node, name, a: Value, b: Value, out):
    """A Mul of an image by a per-channel vector (squeeze-and-excitation): scale."""
    data, factor = (a, b) if views.size(a.shape) >= views.size(b.shape) else (b, a)
    if node.op_type != "Mul" or len(data.shape) != 4 or data.shape != out or \
            views.size(factor.shape) != data.shape[1] or len(factor.shape) not in (2, 4):
        raise OnnxImportError(f"{node.op_type} at node {name!r} of {list(a.shape)} and "
                              f"{list(b.shape)}: polyscan models a Mul by a per-channel "
                              f"vector, and Add and Mul of tensors of one shape")
    _, channels, height, width = data.shape
    layer = _layer(lambda: load_kernel("scale").layer(name, C=channels, IH=height, IW=width),
                   node, name)
    factor_layout = (None, 0, None, None) if len(factor.shape) == 4 else (None, 0)
    imp.add_layer(layer, {"I": (data, NCHW), "S": (factor, factor_layout)}, node.output[0],
                  NCHW)


def _broadcast(imp: Importer, node, values: list[Value]) -> tuple[int, ...] | None:
    """The shape of an element-wise result, from its operands' (None if one is unknown)."""
    if node.op_type == "BatchNormalization":  # per-channel parameters, not broadcast
        return values[0].shape
    shapes = [v.shape for v in values]
    for x in node.input:
        if x and x not in imp.values:
            constant = imp.constant(x)
            shape = imp.shape(x) if constant is None else constant.shape
            if shape is None:
                return None
            shapes.append(tuple(shape))
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        return None


def _chw(shape) -> dict[str, int]:
    """An element-wise kernel's sizes for a value of ``shape`` (batch first)."""
    sizes = list(shape[1:])
    if len(sizes) > 3:
        raise OnnxImportError(f"element-wise layer on a tensor of rank {len(shape)}")
    sizes = [1] * (3 - len(sizes)) + sizes
    return dict(C=sizes[0], IH=sizes[1], IW=sizes[2])


def _layout(shape) -> tuple:
    rank = len(shape)
    return (None, *range(3 - (rank - 1), 3))


def _later(imp: Importer, a: Value, b: Value) -> tuple[Value, Value]:
    """The operand made last, then the other: the Add folds into the later one's producer."""
    def made(value):
        storage = imp.final_name(value.storage)
        return max((i for i, p in enumerate(imp.pending)
                    if imp.final_name(p.bindings[p.layer.output.name][0]) == storage),
                   default=-1)
    return (b, a) if made(b) >= made(a) else (a, b)


# --- data movement without data moved ------------------------------------------------------

def reshape(imp: Importer, node, name):
    value = readable(imp, imp.value(node.input[0], node, name), name)
    out = imp.output_shape(node, name, computed=_reshaped(imp, node, value.shape))
    if views.size(out) != views.size(value.shape):
        raise OnnxImportError(f"{node.op_type} at node {name!r}: {list(value.shape)} to "
                              f"{list(out)}")
    imp.alias_value(node.output[0], value, views.reshape(out, value.shape), out)


def _reshaped(imp: Importer, node, shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """The output shape of Reshape, Flatten, Squeeze or Unsqueeze, from constants."""
    op, rank = node.op_type, len(shape)
    if op == "Flatten":
        axis = _attribute(node, "axis", 1)
        axis = axis + rank if axis < 0 else axis
        return (int(np.prod(shape[:axis])), int(np.prod(shape[axis:])))
    given = imp.constant(node.input[1]) if len(node.input) > 1 and node.input[1] else None
    if op == "Reshape":
        if given is None:
            return None
        target = [int(n) for n in given.tolist()]
        if not _attribute(node, "allowzero", 0):
            target = [shape[i] if n == 0 else n for i, n in enumerate(target)]
        if -1 in target:
            known = int(np.prod([n for n in target if n != -1]))
            target[target.index(-1)] = int(np.prod(shape)) // max(known, 1)
        return tuple(target)
    axes = _attribute(node, "axes", None)
    axes = [int(a) for a in (axes if axes is not None else
                             (given.tolist() if given is not None else []))]
    if op == "Squeeze":
        drop = {a + rank if a < 0 else a for a in axes} if axes else \
            {i for i, n in enumerate(shape) if n == 1}
        return tuple(n for i, n in enumerate(shape) if i not in drop)
    if not axes:
        return None
    out_rank = rank + len(axes)
    add = {a + out_rank if a < 0 else a for a in axes}
    rest = iter(shape)
    return tuple(1 if i in add else next(rest) for i in range(out_rank))


def transpose(imp: Importer, node, name):
    value = readable(imp, imp.value(node.input[0], node, name), name)
    rank = len(value.shape)
    perm = _ints(node, "perm", list(reversed(range(rank))))
    out = tuple(value.shape[p] for p in perm)
    imp.alias_value(node.output[0], value, views.transpose(out, perm), out)


def slice_(imp: Importer, node, name):
    value = readable(imp, imp.value(node.input[0], node, name), name)
    rank = len(value.shape)
    if imp.opset < 10:
        starts, ends = _ints(node, "starts", []), _ints(node, "ends", [])
        axes, steps = _ints(node, "axes", list(range(len(starts)))), [1] * len(starts)
    else:
        given = [imp.constant(x) if x else None for x in node.input[1:5]]
        if any(x and imp.constant(x) is None for x in node.input[1:5]):
            raise OnnxImportError(f"Slice at node {name!r}: its bounds are not constants "
                                  f"polyscan can evaluate")
        starts, ends = given[0].tolist(), given[1].tolist()
        axes = given[2].tolist() if len(given) > 2 and given[2] is not None \
            else list(range(len(starts)))
        steps = given[3].tolist() if len(given) > 3 and given[3] is not None \
            else [1] * len(starts)
    view, shape = views.identity(value.shape), list(value.shape)
    for start, end, axis, step in zip(starts, ends, axes, steps):
        axis = _axis(axis, rank, node, name)
        begin, _, step = slice(start, end, step).indices(shape[axis])
        shape[axis] = len(range(*slice(start, end, step).indices(shape[axis])))
        view = views.strided(tuple(shape), axis, begin, step).apply_range(view)
    out = imp.output_shape(node, name, computed=tuple(shape))
    imp.alias_value(node.output[0], value, view, out)


def split(imp: Importer, node, name):
    value = readable(imp, imp.value(node.input[0], node, name), name)
    axis = _axis(_attribute(node, "axis", 0), len(value.shape), node, name)
    sizes = _attribute(node, "split", None)
    if sizes is None and len(node.input) > 1 and node.input[1]:
        given = imp.constant(node.input[1])
        sizes = None if given is None else given.tolist()
    if sizes is None:
        parts = len(node.output)
        sizes = [-(-value.shape[axis] // parts)] * (parts - 1)
        sizes.append(value.shape[axis] - sum(sizes))
    offset = 0
    for index, (output, part) in enumerate(zip(node.output, sizes)):
        computed = list(value.shape)
        computed[axis] = int(part)
        out = imp.output_shape(node, name, index, tuple(computed))
        imp.alias_value(output, value, views.strided(out, axis, offset), out)
        offset += out[axis]
    if offset != value.shape[axis]:
        raise OnnxImportError(f"Split at node {name!r}: the outputs do not cover the input")


def gather(imp: Importer, node, name):
    """Gather of one constant index along an axis: a slice that drops the axis."""
    value = readable(imp, imp.value(node.input[0], node, name), name)
    index = imp.constant(node.input[1])
    axis = _axis(_attribute(node, "axis", 0), len(value.shape), node, name)
    if index is None or index.size != 1:
        raise OnnxImportError(f"Gather at node {name!r}: polyscan models the gather of one "
                              f"constant index along a non-batch axis")
    position = int(index.reshape(-1)[0]) % value.shape[axis]
    computed = list(value.shape)
    if index.ndim == 0:
        del computed[axis]
    else:
        computed[axis] = 1
    out = imp.output_shape(node, name, computed=tuple(computed))
    kept = list(value.shape)
    kept[axis] = 1
    view = views.reshape(tuple(kept), out).reverse() if index.ndim == 0 else \
        views.identity(tuple(kept))
    view = view.apply_range(views.strided(tuple(kept), axis, position))
    imp.alias_value(node.output[0], value, view, out)


def pad(imp: Importer, node, name):
    """A constant zero Pad of the spatial axes waits for the conv or pool that reads it."""
    value = imp.value(node.input[0], node, name)
    mode = _attribute(node, "mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if imp.opset < 11:
        pads, fill = _ints(node, "pads", []), _attribute(node, "value", 0.0)
    else:
        pads = imp.constant(node.input[1])
        fill = imp.constant(node.input[2]) if len(node.input) > 2 and node.input[2] else 0.0
        if pads is None or fill is None:
            raise OnnxImportError(f"Pad at node {name!r}: its amounts are not constants "
                                  f"polyscan can evaluate")
        pads = [int(p) for p in pads.tolist()]
        if len(node.input) > 3 and node.input[3]:
            raise OnnxImportError(f"Pad at node {name!r}: the axes input is not modelled")
    rank = len(value.shape)
    if mode != "constant" or float(np.asarray(fill)) != 0.0:
        raise OnnxImportError(f"Pad at node {name!r} ({mode}, value {float(np.asarray(fill))}"
                              f"): polyscan models zero padding")
    if rank != 4 or len(pads) != 8 or any(pads[i] for i in (0, 1, 4, 5)) or \
            any(p < 0 for p in pads):
        raise OnnxImportError(f"Pad at node {name!r} with pads {pads}: polyscan models "
                              f"zero padding of the rows and columns of an image")
    top, left, bottom, right = pads[2], pads[3], pads[6], pads[7]
    total = tuple(a + b for a, b in zip(value.pad, (top, left, bottom, right)))
    imp.values[node.output[0]] = Value(value.storage, value.view, value.shape, total,
                                       [node.output[0]])


def concat(imp: Importer, node, name):
    """The inputs are placed, in order, into one network tensor. An input's network tensor
    moves there whole when the Concat's inputs cover all of it exactly once (its producer
    then writes in place, DESIGN 6a); any other input is copied there by a copy layer."""
    inputs = [(x, readable(imp, imp.value(x, node, name), name)) for x in node.input if x]
    first = inputs[0][1].shape
    axis = _axis(_attribute(node, "axis", 0), len(first), node, name)
    computed = list(first)
    computed[axis] = sum(value.shape[axis] for _, value in inputs)
    out = imp.output_shape(node, name, computed=tuple(computed))
    if axis == 0:
        raise OnnxImportError(f"Concat at node {name!r} concatenates along the batch axis")
    storage = node.output[0]
    imp.storages[storage] = out[1:]
    into = views.placed(out[1:], out, (None, *range(len(out) - 1))).reverse()
    placements, offset = [], 0  # (value, its indices -> the concatenated tensor's)
    for _, value in inputs:
        placements.append((value, views.translation(value.shape, axis, offset)
                           .apply_range(into)))
        offset += value.shape[axis]
    by_tensor: dict[str, list] = {}
    for value, placement in placements:
        source, view = imp.resolve(value.storage, value.view)
        by_tensor.setdefault(source, []).append((value, view.reverse().apply_range(placement)))
    for source, parts in by_tensor.items():
        moved = parts[0][1]
        for _, other in parts[1:]:
            moved = moved.union(other)
        whole = views.identity(imp.storages[source]).domain()
        if source not in imp.unwritten and moved.is_single_valued() and \
                moved.is_injective() and moved.domain().is_equal(whole):
            imp.aliases[source] = (storage, moved)
            continue
        for value, _ in parts:
            _copy(imp, name, value, storage, placements)
    imp.values[storage] = Value(storage, into, out, names=[storage])


def _copy(imp: Importer, name: str, value: Value, storage: str, placements):
    """A copy layer writing ``value`` into its place in the concatenated ``storage``."""
    placement = next(p for v, p in placements if v is value)
    sizes = _chw(value.shape)
    layer = load_kernel("copy").layer(imp.layer_name(f"{name}/copy"), **sizes)
    layout = _layout(value.shape)
    kernel_to_value = views.placed((sizes["C"], sizes["IH"], sizes["IW"]), value.shape, layout)
    imp.write_into(layer, {"I": (value, layout)}, storage, kernel_to_value.apply_range(placement))


def identity(imp: Importer, node, name):
    imp.keep(node.output[0], imp.value(node.input[0], node, name))


ELEMENTWISE = (
    "Relu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Erf", "Gelu", "Softplus",
    "Softsign", "LeakyRelu", "PRelu", "Elu", "Selu", "Celu", "Mish", "Swish", "Exp", "Log",
    "Abs", "Neg", "Sqrt", "Reciprocal", "Floor", "Ceil", "Round", "Sign", "Sin", "Cos",
    "BatchNormalization", "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Mean", "Sum",
    "Where", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Not", "And", "Or",
    "ThresholdedRelu", "Shrink",
)

OPERATORS = {
    "Conv": conv, "ConvTranspose": conv_transpose, "Gemm": gemm, "MatMul": matmul,
    "MaxPool": pooling, "AveragePool": pooling, "GlobalAveragePool": pooling,
    "GlobalMaxPool": pooling, "ReduceMean": reduce, "ReduceMax": reduce, "Resize": resize,
    "Upsample": resize, "LayerNormalization": normalization, "Softmax": normalization,
    "LogSoftmax": normalization, "Reshape": reshape, "Flatten": reshape, "Squeeze": reshape,
    "Unsqueeze": reshape, "Transpose": transpose, "Slice": slice_, "Split": split,
    "Gather": gather, "Pad": pad, "Concat": concat, "Identity": identity,
    "Dropout": identity, "Cast": identity, "CastLike": identity,
    **{op: elementwise for op in ELEMENTWISE},
}
