"""``ps.conv2d``, ``ps.depthwise``, ... : layers of the built-in kernel files, with the
argument names of the public API (DESIGN section 6) mapped onto the files' shape symbols."""

from __future__ import annotations

from .errors import LayerShapeError
from .kernel import load_kernel
from .layer import Layer


def conv2d(in_channels, out_channels, height, width, kernel=3, stride=1, padding=1,
           dilation=1, name=None) -> Layer:
    """An ordinary convolution ``O[k,y,x] += W[k,c,r,s] * I[c, sy*y+r-pt, sx*x+s-pl]``."""
    return load_kernel("conv2d").layer(
        name, K=out_channels, C=in_channels, IH=height, IW=width,
        **_window(kernel, stride, padding), **_pair("dilation", dilation, "DILH", "DILW"))


def grouped_conv2d(in_channels, out_channels, height, width, groups, kernel=3, stride=1,
                   padding=1, dilation=1, name=None) -> Layer:
    """A convolution in ``groups`` groups, each reading its share of the input channels
    (ONNX Conv with 1 < group < channels)."""
    if groups < 1 or in_channels % groups or out_channels % groups:
        raise LayerShapeError(f"{groups} groups must divide both {in_channels} input and "
                              f"{out_channels} output channels")
    return load_kernel("grouped_conv2d").layer(
        name, G=groups, KG=out_channels // groups, CG=in_channels // groups, IH=height,
        IW=width, **_window(kernel, stride, padding),
        **_pair("dilation", dilation, "DILH", "DILW"))


def depthwise(channels, height, width, kernel=3, stride=1, padding=1, dilation=1,
              name=None) -> Layer:
    """A depthwise convolution ``O[c,y,x] += W[c,r,s] * I[c, sy*y+r-pt, sx*x+s-pl]``."""
    return load_kernel("depthwise").layer(
        name, C=channels, IH=height, IW=width,
        **_window(kernel, stride, padding), **_pair("dilation", dilation, "DILH", "DILW"))


def pointwise(in_channels, out_channels, height, width, name=None) -> Layer:
    """A 1x1 convolution ``O[k,y,x] += W[k,c] * I[c,y,x]``."""
    return load_kernel("pointwise").layer(name, K=out_channels, C=in_channels, IH=height,
                                          IW=width)


def fully_connected(in_features, out_features, name=None) -> Layer:
    """A matrix-vector product ``O[k] += W[k,c] * I[c]``."""
    return load_kernel("fully_connected").layer(name, K=out_features, C=in_features)


def pool(channels, height, width, kernel=2, stride=2, padding=0, name=None) -> Layer:
    """A max/average pool (no weights); ``kernel=(height, width)`` makes a global pool."""
    return load_kernel("pool").layer(name, C=channels, IH=height, IW=width,
                                     **_window(kernel, stride, padding))


def scale(channels, height, width, name=None) -> Layer:
    """A channel scale ``O[c,y,x] = I[c,y,x] * S[c]``: the excitation of squeeze-and-excitation,
    with ``S`` read from the layer that computes it."""
    return load_kernel("scale").layer(name, C=channels, IH=height, IW=width)


def _window(kernel, stride, padding) -> dict[str, int]:
    if isinstance(padding, int):
        padding = (padding,) * 4
    if not isinstance(padding, (tuple, list)) or len(padding) != 4:
        raise LayerShapeError(f"padding must be an int or (top, left, bottom, right), "
                              f"got {padding!r}")
    return {**_pair("kernel", kernel, "KH", "KW"), **_pair("stride", stride, "SH", "SW"),
            **dict(zip(("PT", "PL", "PB", "PR"), padding))}


def _pair(what: str, value, vertical: str, horizontal: str) -> dict[str, int]:
    if isinstance(value, int):
        value = (value, value)
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise LayerShapeError(f"{what} must be an int or (height, width), got {value!r}")
    return {vertical: value[0], horizontal: value[1]}
