"""Hypothesis strategies: random small layers of every kind and random schedules of them."""

import math

import islpy as isl
from hypothesis import strategies as st

import polyscan as ps
from polyscan.model.traversal import NAMED, lex

KERNELS = [1, 3, 5]
STRIDES = [1, 2]


@st.composite
def _window(draw, kernels=KERNELS, strides=STRIDES, max_size=9):
    """Kernel, stride, padding (t, l, b, r) and an input size that the kernel fits."""
    kh, kw = draw(st.sampled_from(kernels)), draw(st.sampled_from(kernels))
    padding = tuple(draw(st.integers(0, 2)) for _ in range(4))
    height = draw(st.integers(max(1, kh - padding[0] - padding[2]), max_size))
    width = draw(st.integers(max(1, kw - padding[1] - padding[3]), max_size))
    stride = (draw(st.sampled_from(strides)), draw(st.sampled_from(strides)))
    return dict(kernel=(kh, kw), stride=stride, padding=padding), height, width


@st.composite
def conv2d_layers(draw):
    window, height, width = draw(_window(max_size=8))
    return ps.conv2d(draw(st.integers(1, 3)), draw(st.integers(1, 3)), height, width,
                     name="conv", **window)


@st.composite
def depthwise_layers(draw):
    window, height, width = draw(_window())
    return ps.depthwise(draw(st.integers(1, 4)), height, width, name="dw", **window)


@st.composite
def pointwise_layers(draw):
    return ps.pointwise(draw(st.integers(1, 5)), draw(st.integers(1, 5)),
                        draw(st.integers(1, 8)), draw(st.integers(1, 8)), name="pw")


@st.composite
def fully_connected_layers(draw):
    return ps.fully_connected(draw(st.integers(1, 12)), draw(st.integers(1, 12)), name="fc")


@st.composite
def pool_layers(draw):
    window, height, width = draw(_window(kernels=[1, 2, 3, 5], strides=[1, 2, 3]))
    return ps.pool(draw(st.integers(1, 3)), height, width, name="pool", **window)


@st.composite
def grouped_layers(draw):
    window, height, width = draw(_window(max_size=6))
    groups = draw(st.integers(1, 3))
    return ps.grouped_conv2d(groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2)),
                             height, width, groups, name="grouped", **window)


@st.composite
def scale_layers(draw):
    return ps.scale(draw(st.integers(1, 4)), draw(st.integers(1, 6)), draw(st.integers(1, 6)),
                    name="scale")


def _kernel(kind):
    return ps.load_kernel(kind)


@st.composite
def per_position_layers(draw, kind: str, name: str, size: int):
    """A layer of a kernel file over (C, IH, IW) alone: add, multiply, copy, normalization,
    reduce, broadcast."""
    return _kernel(kind).layer(name=name, C=draw(st.integers(1, 4)),
                               IH=draw(st.integers(1, size)), IW=draw(st.integers(1, size)))


@st.composite
def upsample_layers(draw):
    return _kernel("upsample").layer(name="up", C=draw(st.integers(1, 3)),
                                     IH=draw(st.integers(1, 4)), IW=draw(st.integers(1, 4)),
                                     SH=draw(st.integers(1, 3)), SW=draw(st.integers(1, 3)))


@st.composite
def conv_transpose_layers(draw):
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    height, width = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    pads = [draw(st.integers(0, 1)) for _ in range(4)]
    out_h = (height - 1) * sh + kh - pads[0] - pads[2]
    out_w = (width - 1) * sw + kw - pads[1] - pads[3]
    if out_h < 1:
        pads[0] = pads[2] = 0
    if out_w < 1:
        pads[1] = pads[3] = 0
    return _kernel("conv_transpose").layer(
        name="convT", K=draw(st.integers(1, 2)), C=draw(st.integers(1, 2)), IH=height,
        IW=width, KH=kh, KW=kw, SH=sh, SW=sw, PT=pads[0], PL=pads[1], PB=pads[2], PR=pads[3],
        OPH=draw(st.integers(0, sh - 1)), OPW=draw(st.integers(0, sw - 1)))


@st.composite
def pad_layers(draw):
    return _kernel("pad").layer(name="pad", C=draw(st.integers(1, 3)), IH=draw(st.integers(1, 5)),
                                IW=draw(st.integers(1, 5)),
                                **{p: draw(st.integers(0, 2)) for p in ("PT", "PL", "PB", "PR")})


@st.composite
def matmul_layers(draw):
    return _kernel("matmul").layer(name="mm", B=draw(st.integers(1, 2)), M=draw(st.integers(1, 4)),
                                   K=draw(st.integers(1, 4)), N=draw(st.integers(1, 4)))


def _channel_view(draw, channels: int, kind: str):
    """A view of ``channels`` channels inside a larger tensor: a slice at an offset, or every
    ``step``-th channel (a shuffle's half), as (total channels, ISL map on channel index)."""
    if kind == "slice":
        offset, extra = draw(st.integers(0, 3)), draw(st.integers(0, 3))
        return channels + offset + extra, f"c + {offset}"
    step = draw(st.integers(2, 3))
    start = draw(st.integers(0, step - 1))
    return channels * step, f"{step}*c + {start}"


@st.composite
def viewed_layers(draw):
    """A layer of an imported network: it reads its input as a channel slice (or a strided
    half, as after a channel shuffle) of a larger tensor, and writes its output into a slice
    of a larger one (a Concat)."""
    layer = draw(st.one_of(conv2d_layers(), depthwise_layers(), pointwise_layers(),
                           pool_layers()))
    views = {}
    for tensor, kind in (("I", draw(st.sampled_from(["slice", "stride"]))), ("O", "slice")):
        c, h, w = layer.tensors[tensor].shape
        total, channel = _channel_view(draw, c, kind)
        views[tensor] = ((total, h, w), isl.Map(f"{{ [c, h, w] -> [{channel}, h, w] }}"))
    return layer.with_views(views)


LAYERS = {
    "conv2d": conv2d_layers(),
    "depthwise": depthwise_layers(),
    "pointwise": pointwise_layers(),
    "fully_connected": fully_connected_layers(),
    "pool": pool_layers(),
    "grouped_conv2d": grouped_layers(),
    "scale": scale_layers(),
    "add": per_position_layers("add", "add", 6),
    "multiply": per_position_layers("multiply", "mul", 6),
    "copy": per_position_layers("copy", "copy", 6),
    "upsample": upsample_layers(),
    "conv_transpose": conv_transpose_layers(),
    "normalization": per_position_layers("normalization", "norm", 5),
    "pad": pad_layers(),
    "matmul": matmul_layers(),
    "reduce": per_position_layers("reduce", "reduce", 5),
    "broadcast": per_position_layers("broadcast", "bcast", 5),
    "viewed": viewed_layers(),
}


@st.composite
def schedules(draw, layer, traversals=NAMED + ("explicit",)):
    """A random tiling (partial tiles included), order and traversal of ``layer``."""
    tile = {}
    for dim in layer.dims:
        if dim not in layer.whole and draw(st.booleans()):
            tile[dim] = draw(st.integers(1, layer.extents[dim]))
    extra = [d for d in layer.dims if d not in tile and draw(st.booleans())]
    order = tuple(draw(st.permutations(list(tile) + extra)))
    grid = tuple(math.ceil(layer.extents[d] / tile.get(d, layer.extents[d])) for d in order)
    traversal = draw(st.sampled_from(traversals))
    if traversal == "explicit":
        if math.prod(grid) > 60:
            traversal = "lex"
        else:
            cells = [tuple(c) for c in lex(grid).tolist()]
            traversal = draw(st.permutations(cells))
    return ps.Schedule(layer, tile=tile, order=order, traversal=traversal)


# --- fused groups ---------------------------------------------------------------------------

@st.composite
def blocks(draw):
    """expand -> depthwise -> project (an inverted residual block), maybe with a residual
    read from outside, or with a layer before it whose output the residual keeps on chip."""
    c_in = draw(st.integers(1, 3))
    hidden = c_in * draw(st.integers(1, 3))
    kernel = draw(st.sampled_from([1, 3, 5]))
    padding = tuple(draw(st.integers(0, 2)) for _ in range(4))
    height = draw(st.integers(max(1, kernel - padding[0] - padding[2], 2), 7))
    width = draw(st.integers(max(1, kernel - padding[1] - padding[3], 2), 7))
    stride = draw(st.sampled_from([1, 2]))
    dw = ps.depthwise(hidden, height, width, kernel=kernel, stride=stride, padding=padding,
                      name="dw")
    out_h, out_w = dw.extents["y"], dw.extents["x"]
    c_out = draw(st.integers(1, 3))
    expand = ps.pointwise(c_in, hidden, height, width, name="expand")
    project = ps.pointwise(hidden, c_out, out_h, out_w, name="project")
    layers = [expand, dw, project]
    inputs = {"dw.I": "expand", "project.I": "dw"}
    residual = stride == 1 and (out_h, out_w) == (height, width) and draw(st.booleans())
    if residual:
        project = ps.pointwise(hidden, c_in, out_h, out_w, name="project").with_residual()
        layers[-1] = project
        if draw(st.booleans()):  # the residual's producer is in the group: kept on chip
            layers.insert(0, ps.pointwise(draw(st.integers(1, 2)), c_in, height, width,
                                          name="before"))
            inputs.update({"expand.I": "before", "project.R": "before"})
    return layers, inputs


@st.composite
def _reading(draw, channels: int, height: int, width: int, name: str, spatial: bool = True):
    """A random layer reading a (channels, height, width) tensor: a conv of any window
    (1x1 with padding and strides included: producer rows that read only padding), a
    depthwise conv, a pool, an upsampling, a pad, or a pointwise conv."""
    kinds = ["conv2d", "depthwise", "pool", "pointwise"] + (["upsample", "pad"] if spatial else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "pointwise":
        return ps.pointwise(channels, draw(st.integers(1, 3)), height, width, name=name)
    if kind == "upsample":
        return _kernel("upsample").layer(name=name, C=channels, IH=height, IW=width,
                                         SH=draw(st.integers(1, 2)), SW=draw(st.integers(1, 2)))
    if kind == "pad":
        pads = {p: draw(st.integers(0, 1)) for p in ("PT", "PL", "PB", "PR")}
        return _kernel("pad").layer(name=name, C=channels, IH=height, IW=width, **pads)
    kh, kw = draw(st.sampled_from([1, 2, 3])), draw(st.sampled_from([1, 2, 3]))
    padding = [draw(st.integers(0, 1)) for _ in range(4)]
    if height + padding[0] + padding[2] < kh:
        padding[2] = kh - height - padding[0]
    if width + padding[1] + padding[3] < kw:
        padding[3] = kw - width - padding[1]
    window = dict(kernel=(kh, kw), stride=(draw(st.integers(1, 2)), draw(st.integers(1, 2))),
                  padding=tuple(padding))
    if kind == "conv2d":
        return ps.conv2d(channels, draw(st.integers(1, 2)), height, width, name=name, **window)
    if kind == "depthwise":
        return ps.depthwise(channels, height, width, name=name, **window)
    return ps.pool(channels, height, width, name=name, **window)


@st.composite
def chains(draw):
    """Two or three layers of random kinds and windows, each reading the one before."""
    channels, height, width = (draw(st.integers(1, 2)), draw(st.integers(1, 5)),
                               draw(st.integers(1, 5)))
    layers = []
    for i in range(draw(st.integers(2, 3))):
        layer = draw(_reading(channels, height, width, f"L{i}.x", spatial=i < 2))
        layers.append(layer)
        channels, height, width = layer.output.shape
    return layers, None


@st.composite
def concats(draw):
    """Two producers write the channel slices of one tensor (a Concat), shuffled or not, and
    a layer reads the whole of it."""
    height, width = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    c_a, c_b = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    shuffle = draw(st.booleans()) and c_a == c_b
    slots = ("2*c", "2*c + 1") if shuffle else ("c", f"c + {c_a}")
    source = draw(st.integers(1, 2))
    made = []
    for name, channels, slot in (("a", c_a, slots[0]), ("b", c_b, slots[1])):
        layer = ps.pointwise(source, channels, height, width, name=name)
        made.append(layer.with_views({"O": ((c_a + c_b, height, width),
                                            isl.Map(f"{{ [c, h, w] -> [{slot}, h, w] }}"))}))
    consumer = draw(_reading(c_a + c_b, height, width, "cat.reader"))
    return [*made, consumer], {"cat.reader.I": ("a", "b")}


@st.composite
def splits(draw):
    """A producer's output split in two channel halves (a Split), a layer on each half, and
    their outputs concatenated for the last layer (a ShuffleNet unit)."""
    height, width = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    half = draw(st.integers(1, 2))
    producer = ps.pointwise(draw(st.integers(1, 2)), 2 * half, height, width, name="p")
    halves = []
    for name, offset in (("left", 0), ("right", half)):
        kernel = draw(st.sampled_from([1, 3]))  # keeps the size: padding (kernel - 1) / 2
        layer = ps.depthwise(half, height, width, kernel=kernel, padding=kernel // 2, name=name)
        halves.append(layer.with_views({
            "I": ((2 * half, height, width), isl.Map(f"{{ [c, h, w] -> [c + {offset}, h, w] }}")),
            "O": ((2 * half, height, width), isl.Map(f"{{ [c, h, w] -> [c + {offset}, h, w] }}"))}))
    sink = ps.pointwise(2 * half, draw(st.integers(1, 2)), height, width, name="sink")
    return [producer, *halves, sink], {"left.I": "p", "right.I": "p",
                                       "sink.I": ("left", "right")}


def exportable(layers, inputs, name: str) -> bool:
    """Whether the group may write ``name``'s output for readers outside: its later layers
    need all of it (``FusedGroup`` refuses it otherwise)."""
    try:
        ps.FusedGroup(layers, inputs, (name,))
    except ps.FusionError:
        return False
    return True


@st.composite
def fused_schedules(draw, groups=None):
    """A random fused group (``groups``, by default any of: an inverted residual block, a
    chain of random windows, a Concat or a Split inside), random exported layers, tiles
    over any of the sink's dims (reduction dims included), order and traversal."""
    layers, inputs = draw(groups if groups is not None else
                          st.one_of(blocks(), chains(), concats(), splits()))
    exported = tuple(layer.name for layer in layers[:-1]
                     if draw(st.booleans()) and exportable(layers, inputs, layer.name))
    sink = layers[-1]
    tile = {d: draw(st.integers(1, sink.extents[d])) for d in sink.dims
            if d not in sink.whole and draw(st.booleans())}
    order = tuple(draw(st.permutations(list(tile))))
    traversal = draw(st.sampled_from(["lex", "scan"]))
    return ps.FusedSchedule(layers, tile=tile, order=order, traversal=traversal, inputs=inputs,
                            exported=exported)
