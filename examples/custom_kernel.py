"""A kernel added as a file, no code: a dilated depthwise convolution, counted exactly and
checked against the explicit-set simulator.

Run: python examples/custom_kernel.py
"""

from pathlib import Path

import polyscan as ps
from polyscan.testing.simulator import scan_sequence, simulate

kernel = ps.load_kernel(Path(__file__).with_name("dilated_depthwise.toml"))
layer = kernel.layer(name="dilated", C=8, IH=20, IW=20, D=2, P=2)
schedule = ps.Schedule(layer, tile={"c": 4, "y": 5}, order=("c", "y"), traversal="scan")
counted = ps.traffic(schedule)
simulated = simulate(layer, schedule.tile, schedule.order, scan_sequence(schedule.grid))
print(layer)
print("counted:  ", counted)
print("simulated:", simulated)
assert simulated.matches(counted), simulated.differences(counted)
