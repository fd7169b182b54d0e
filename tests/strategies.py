"""Hypothesis strategies: random small layers of every kind and random schedules of them."""

import math

from hypothesis import strategies as st

import polyscan as ps
from polyscan.traversal import NAMED, lex

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


LAYERS = {
    "conv2d": conv2d_layers(),
    "depthwise": depthwise_layers(),
    "pointwise": pointwise_layers(),
    "fully_connected": fully_connected_layers(),
    "pool": pool_layers(),
    "grouped_conv2d": grouped_layers(),
    "scale": scale_layers(),
}


@st.composite
def schedules(draw, layer, traversals=NAMED + ("explicit",)):
    """A random tiling (partial tiles included), order and traversal of ``layer``."""
    tile = {}
    for dim in layer.dims:
        if draw(st.booleans()):
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
