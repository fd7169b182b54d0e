"""Built-in networks (shapes only, batch 1, 224x224 RGB input), as torchvision defines them.

MobileNetV2: Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks",
CVPR 2018, Table 2 (expansion t, channels c, repeats n, stride s). MobileNetV1: Howard et
al., "MobileNets", 2017, Table 1. Strided depthwise convs pad 1 on every side (PyTorch).
"""

from __future__ import annotations

from .constructors import conv2d, depthwise, fully_connected, pointwise, pool
from .network import Network, NetworkBuilder

_MOBILENET_V2_BLOCKS = [  # t, c, n, s
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
    (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
]

_MOBILENET_V1_BLOCKS = [  # output channels, stride of the depthwise conv
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
]


def mobilenet_v2() -> Network:
    """MobileNetV2 1.0 / 224: 53 conv and gemm layers and a global pool."""
    net = NetworkBuilder("mobilenet_v2")
    size, channels = 112, 32
    previous = net.add(conv2d(3, channels, 224, 224, kernel=3, stride=2, padding=1,
                              name="conv0"))
    block = 0
    for t, c, n, s in _MOBILENET_V2_BLOCKS:
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = channels * t
            block_input = previous
            if t != 1:
                previous = net.add(pointwise(channels, hidden, size, size,
                                             name=f"b{block}_expand"), previous)
            previous = net.add(depthwise(hidden, size, size, kernel=3, stride=stride,
                                         padding=1, name=f"b{block}_dw"), previous)
            size = (size - 1) // stride + 1
            residual = block_input if stride == 1 and channels == c else None
            previous = net.add(pointwise(hidden, c, size, size, name=f"b{block}_project"),
                               previous, residual)
            channels = c
            block += 1
    previous = net.add(pointwise(channels, 1280, size, size, name="conv_last"), previous)
    previous = net.add(pool(1280, size, size, kernel=size, stride=1, name="avgpool"), previous)
    net.add(fully_connected(1280, 1000, name="fc"), previous)
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


NETWORKS = {"mobilenet_v2": mobilenet_v2, "mobilenet_v1": mobilenet_v1}
