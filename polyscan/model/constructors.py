"""``ps.conv2d``, ``ps.depthwise``, ... : layers of the built-in kernel files, with the
argument names of the public API (DESIGN section 6) mapped onto the files' shape symbols."""

from __future__ import annotations

import functools
import inspect

import numpy as np

from ..errors import LayerShapeError
from .kernel import load_kernel
from .layer import Layer

WINDOW = ("kernel", "stride", "padding", "dilation")  # an int or a tuple of ints
LIMIT = 2 ** 63  # ISL and numpy take sizes as 64-bit integers
MACS = 2 ** 60  # every traffic count (a few tensors, each <= the iterations) fits in int64


def _checked_arguments(*computed: str):
    """Check every constructor's arguments here, once. The kernel file checks each shape
    symbol's kind and names it (``K (output features) must be an integer``); before it sees
    them, numpy integers become ints, a size beyond 64 bits and a name that is not a string
    are refused, and so is a non-integer in an argument the constructor ``computed`` with
    itself. A layer too large for 64-bit counts is refused, not silently wrapped."""
    def decorate(constructor):
        signature = inspect.signature(constructor)
        kind = constructor.__name__

        @functools.wraps(constructor)
        def checked(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            for argument, value in bound.arguments.items():
                if argument != "name":
                    bound.arguments[argument] = _integers(kind, argument, value,
                                                          argument in computed)
                elif value is not None and not isinstance(value, str):
                    raise LayerShapeError(f"{kind}: name must be a string, got {value!r}")
            layer = constructor(*bound.args, **bound.kwargs)
            if layer.macs >= MACS:
                raise LayerShapeError(f"{kind}: {layer.macs:,} iterations are too many to "
                                      f"count in 64-bit integers (at most 2**60)")
            return layer
        return checked
    return decorate


def _integers(kind: str, argument: str, value, strict: bool):
    """``value`` with numpy integers as ints (each item of a window tuple too); any other
    kind is left to the kernel file's check, unless ``strict``."""
    many = argument in WINDOW and isinstance(value, (tuple, list))
    items = []
    for item in value if many else (value,):
        integer = isinstance(item, (int, np.integer)) and not isinstance(item, (bool, np.bool_))
        if strict and not integer:
            raise LayerShapeError(f"{kind}: {argument} must be an integer, got {value!r}")
        if integer and not -LIMIT < item < LIMIT:
            raise LayerShapeError(f"{kind}: {argument} {value!r} is beyond 64-bit integers")
        items.append(int(item) if integer else item)
    return tuple(items) if many else items[0]


@_checked_arguments()
def conv2d(in_channels, out_channels, height, width, kernel=3, stride=1, padding=1,
           dilation=1, name=None) -> Layer:
    """An ordinary convolution ``O[k,y,x] += W[k,c,r,s] * I[c, sy*y+r-pt, sx*x+s-pl]``."""
    return load_kernel("conv2d").layer(
        name, K=out_channels, C=in_channels, IH=height, IW=width,
        **_window(kernel, stride, padding), **_pair("dilation", dilation, "DILH", "DILW"))


@_checked_arguments("in_channels", "out_channels", "groups")
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


@_checked_arguments()
def depthwise(channels, height, width, kernel=3, stride=1, padding=1, dilation=1,
              name=None) -> Layer:
    """A depthwise convolution ``O[c,y,x] += W[c,r,s] * I[c, sy*y+r-pt, sx*x+s-pl]``."""
    return load_kernel("depthwise").layer(
        name, C=channels, IH=height, IW=width,
        **_window(kernel, stride, padding), **_pair("dilation", dilation, "DILH", "DILW"))


@_checked_arguments()
def pointwise(in_channels, out_channels, height, width, name=None) -> Layer:
    """A 1x1 convolution ``O[k,y,x] += W[k,c] * I[c,y,x]``."""
    return load_kernel("pointwise").layer(name, K=out_channels, C=in_channels, IH=height,
                                          IW=width)


@_checked_arguments()
def fully_connected(in_features, out_features, name=None) -> Layer:
    """A matrix-vector product ``O[k] += W[k,c] * I[c]``."""
    return load_kernel("fully_connected").layer(name, K=out_features, C=in_features)


@_checked_arguments()
def pool(channels, height, width, kernel=2, stride=2, padding=0, name=None) -> Layer:
    """A max/average pool (no weights); ``kernel=(height, width)`` makes a global pool."""
    return load_kernel("pool").layer(name, C=channels, IH=height, IW=width,
                                     **_window(kernel, stride, padding))


@_checked_arguments()
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
