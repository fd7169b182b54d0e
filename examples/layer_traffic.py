"""Exact DRAM traffic of one MobileNetV2 depthwise layer under every traversal.

Run: python examples/layer_traffic.py
"""

import polyscan as ps

layer = ps.zoo.mobilenet_v2().layer("b2_dw")  # 144 channels, 56x56, 3x3, stride 1
print(layer, "compulsory:", ps.traffic(ps.Schedule(layer)).total, "entries")
for traversal in ("lex", "scan", "zorder", "hilbert"):
    schedule = ps.Schedule(layer, tile={"c": 48, "y": 8, "x": 14}, order=("c", "y", "x"),
                           traversal=traversal)
    print(f"{traversal:8}", ps.traffic(schedule))
