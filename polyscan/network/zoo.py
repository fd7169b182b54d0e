"""Built-in networks (shapes only, batch 1, 224x224 RGB input), as torchvision defines them.

MobileNetV2: Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks",
CVPR 2018, Table 2 (expansion t, channels c, repeats n, stride s). MobileNetV1: Howard et
al., "MobileNets", 2017, Table 1. MobileNetV3: Howard et al., "Searching for MobileNetV3",
ICCV 2019, Tables 1 and 2, as torchvision's ``_mobilenet_v3_conf``. EfficientNet-B0: Tan and
Le, "EfficientNet", ICML 2019, Table 1, as torchvision's ``_efficientnet_conf`` (width and
depth 1.0). Depthwise convs pad (kernel - 1) // 2 on every side (PyTorch). Activations and
batch norms move no data and biases are ignored (DESIGN 6a), so none of them is a layer.

Squeeze-and-excitation is four layers after the depthwise conv: a global pool, two 1x1 convs
on the pooled vector, and a channel scale reading the depthwise output as I and the second
conv's output as S; the project conv reads the scale's output.
"""

from __future__ import annotations

from ..model.constructors import conv2d, depthwise, fully_connected, pointwise, pool, scale
from ..model.layer import Layer
from .graph import Network, NetworkBuilder

_MOBILENET_V2_BLOCKS = [  # t, c, n, s
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
    (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
]

_MOBILENET_V1_BLOCKS = [  # output channels, stride of the depthwise conv
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
]

# input channels, kernel, expanded channels, output channels, squeeze-and-excite, stride
_MOBILENET_V3_LARGE_BLOCKS = [
    (16, 3, 16, 16, False, 1), (16, 3, 64, 24, False, 2), (24, 3, 72, 24, False, 1),
    (24, 5, 72, 40, True, 2), (40, 5, 120, 40, True, 1), (40, 5, 120, 40, True, 1),
    (40, 3, 240, 80, False, 2), (80, 3, 200, 80, False, 1), (80, 3, 184, 80, False, 1),
    (80, 3, 184, 80, False, 1), (80, 3, 480, 112, True, 1), (112, 3, 672, 112, True, 1),
    (112, 5, 672, 160, True, 2), (160, 5, 960, 160, True, 1), (160, 5, 960, 160, True, 1),
]

_MOBILENET_V3_SMALL_BLOCKS = [
    (16, 3, 16, 16, True, 2), (16, 3, 72, 24, False, 2), (24, 3, 88, 24, False, 1),
    (24, 5, 96, 40, True, 2), (40, 5, 240, 40, True, 1), (40, 5, 240, 40, True, 1),
    (40, 5, 120, 48, True, 1), (48, 5, 144, 48, True, 1), (48, 5, 288, 96, True, 2),
    (96, 5, 576, 96, True, 1), (96, 5, 576, 96, True, 1),
]

_EFFICIENTNET_B0_STAGES = [  # expand ratio, kernel, stride, input, output channels, blocks
    (1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1),
]


def mobilenet_v2() -> Network:
    """MobileNetV2 1.0 / 224: 53 conv and gemm layers and a global pool."""
    net = NetworkBuilder("mobilenet_v2")
    previous = net.add(conv2d(3, 32, 224, 224, kernel=3, stride=2, padding=1, name="conv0"))
    channels, block = 32, 0
    for t, c, n, s in _MOBILENET_V2_BLOCKS:
        for i in range(n):
            previous = _inverted_residual(net, previous, f"b{block}", channels * t, c, 3,
                                          s if i == 0 else 1)
            channels, block = c, block + 1
    _head(net, previous, 1280, 1000)
    return net.build()


def mobilenet_v1() -> Network:
    """MobileNetV1 1.0 / 224: 28 conv and gemm layers and a global pool."""
    net = NetworkBuilder("mobilenet_v1")
    size, channels = 112, 32
    previous = net.add(conv2d(3, channels, 224, 224, kernel=3, stride=2, padding=1,
                              name="conv0"))
    for block, (c, stride) in enumerate(_MOBILENET_V1_BLOCKS, start=1):
        previous = net.add(depthwise(channels, size, size, kernel=3, stride=stride, padding=1,
                                     name=f"b{block}_dw"), previous)
        size = (size - 1) // stride + 1
        previous = net.add(pointwise(channels, c, size, size, name=f"b{block}_pw"), previous)
        channels = c
    previous = net.add(pool(channels, size, size, kernel=size, stride=1, name="avgpool"),
                       previous)
    net.add(fully_connected(channels, 1000, name="fc"), previous)
    return net.build()


def mobilenet_v3_large() -> Network:
    """MobileNetV3-Large 1.0 / 224: 15 blocks, 8 with squeeze-and-excitation."""
    return _mobilenet_v3("mobilenet_v3_large", _MOBILENET_V3_LARGE_BLOCKS, 960, 1280)


def mobilenet_v3_small() -> Network:
    """MobileNetV3-Small 1.0 / 224: 11 blocks, 9 with squeeze-and-excitation."""
    return _mobilenet_v3("mobilenet_v3_small", _MOBILENET_V3_SMALL_BLOCKS, 576, 1024)


def _mobilenet_v3(name: str, blocks, last_channels: int, hidden_features: int) -> Network:
    net = NetworkBuilder(name)
    previous = net.add(conv2d(3, 16, 224, 224, kernel=3, stride=2, padding=1, name="conv0"))
    for block, (_, kernel, expanded, out, se, stride) in enumerate(blocks):
        squeeze = _make_divisible(expanded // 4) if se else None
        previous = _inverted_residual(net, previous, f"b{block}", expanded, out, kernel, stride,
                                      squeeze)
    _head(net, previous, last_channels, hidden_features, 1000)
    return net.build()


def efficientnet_b0() -> Network:
    """EfficientNet-B0 / 224: 16 MBConv blocks, every one with squeeze-and-excitation."""
    net = NetworkBuilder("efficientnet_b0")
    previous = net.add(conv2d(3, 32, 224, 224, kernel=3, stride=2, padding=1, name="conv0"))
    block = 0
    for ratio, kernel, stride, channels, out, repeats in _EFFICIENTNET_B0_STAGES:
        for i in range(repeats):
            block_input = channels if i == 0 else out
            previous = _inverted_residual(net, previous, f"b{block}",
                                          _make_divisible(block_input * ratio), out, kernel,
                                          stride if i == 0 else 1, max(1, block_input // 4))
            block += 1
    _head(net, previous, 1280, 1000)
    return net.build()


def _inverted_residual(net: NetworkBuilder, previous: Layer, name: str, expanded: int,
                       out: int, kernel: int, stride: int, squeeze: int | None = None) -> Layer:
    """An inverted residual (MBConv) block after ``previous``: 1x1 expand (unless it would
    keep the channel count), depthwise, squeeze-and-excitation if ``squeeze`` is given (its
    reduced channel count), 1x1 project, and the residual add when shapes allow."""
    channels, _, size = previous.output.shape
    features = previous
    if expanded != channels:
        features = net.add(pointwise(channels, expanded, size, size, name=f"{name}_expand"),
                           features)
    features = net.add(depthwise(expanded, size, size, kernel=kernel, stride=stride,
                                 padding=(kernel - 1) // 2, name=f"{name}_dw"), features)
    size = features.output.shape[-1]
    if squeeze is not None:
        features = _squeeze_excitation(net, features, name, squeeze)
    residual = previous if stride == 1 and channels == out else None
    return net.add(pointwise(expanded, out, size, size, name=f"{name}_project"), features,
                   residual)


def _squeeze_excitation(net: NetworkBuilder, features: Layer, name: str, squeeze: int) -> Layer:
    """Global pool, 1x1 reduce to ``squeeze`` channels, 1x1 expand back, channel scale."""
    channels, _, size = features.output.shape
    pooled = net.add(pool(channels, size, size, kernel=size, stride=1, name=f"{name}_se_pool"),
                     features)
    reduced = net.add(pointwise(channels, squeeze, 1, 1, name=f"{name}_se_reduce"), pooled)
    weights = net.add(pointwise(squeeze, channels, 1, 1, name=f"{name}_se_expand"), reduced)
    return net.add(scale(channels, size, size, name=f"{name}_scale"), features,
                   sources={"S": weights})


def _head(net: NetworkBuilder, previous: Layer, last_channels: int, *features: int):
    """1x1 conv to ``last_channels``, global pool, then fully connected layers of
    ``features`` outputs (named fc, or fc1, fc2, ... when there are several)."""
    channels, _, size = previous.output.shape
    previous = net.add(pointwise(channels, last_channels, size, size, name="conv_last"),
                       previous)
    previous = net.add(pool(last_channels, size, size, kernel=size, stride=1, name="avgpool"),
                       previous)
    for i, out in enumerate(features, start=1):
        previous = net.add(fully_connected(previous.output.size, out,
                                           name=f"fc{i}" if len(features) > 1 else "fc"),
                           previous)


def _make_divisible(value: float, divisor: int = 8) -> int:
    """torchvision's channel rounding: the nearest multiple of ``divisor`` (at least
    ``divisor``), raised by one step if rounding took more than 10% off ``value``."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


NETWORKS = {"mobilenet_v2": mobilenet_v2, "mobilenet_v1": mobilenet_v1,
            "mobilenet_v3_large": mobilenet_v3_large, "mobilenet_v3_small": mobilenet_v3_small,
            "efficientnet_b0": efficientnet_b0}
