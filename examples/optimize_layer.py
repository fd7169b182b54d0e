"""Optimal schedules of two MobileNetV2-like layers under a large and a small buffer.

For a depthwise layer and the pointwise projection after it, ``ps.optimize`` finds the schedule
(tiling, loop order, traversal) of least DRAM traffic. Each is printed with its exact traffic
per tensor, the lower bound no schedule can beat (``ps.lower_bound``), and what it costs in
DRAM energy and row hits (``ps.dram_cost``: DDR3-1600, 8-bit elements). The last line of each
case is the schedule ``ps.optimize(..., objective="energy")`` picks instead.

Run: python examples/optimize_layer.py
"""

import polyscan as ps

LAYERS = [
    ps.depthwise(144, 56, 56, kernel=3, stride=1, padding=1, name="dw"),
    ps.pointwise(144, 24, 56, 56, name="pw"),
]
BUFFERS = [65536, 4096]  # entries (tensor elements)


def describe(schedule: ps.Schedule) -> str:
    tile = ", ".join(f"{d}={n}" for d, n in schedule.tile.items()) or "untiled"
    return f"tile {tile}; order {', '.join(schedule.order) or '-'}; {schedule.traversal}"


def dram(schedule: ps.Schedule) -> str:
    cost = ps.dram_cost(schedule)
    return (f"{cost.energy_pj / 1e6:,.1f} uJ on {cost.preset}, row hits "
            f"{cost.row_hit_rate:.1%}, {cost.bursts:,} bursts")


for layer in LAYERS:
    print(f"{layer}: {layer.macs:,} MACs")
    for buffer in BUFFERS:
        schedule = ps.optimize(layer, buffer=buffer)
        t = ps.traffic(schedule)
        bound = ps.lower_bound(layer, buffer)
        moved = ", ".join(f"{k} {t.reads.get(k, 0):,}r/{t.writes.get(k, 0):,}w"
                          for k in dict.fromkeys([*t.reads, *t.writes]))
        print(f"  buffer {buffer:,} entries")
        print(f"    schedule : {describe(schedule)}")
        print(f"    traffic  : {moved}")
        print(f"               total {t.total:,} entries; peak {t.peak:,} of {buffer:,}; "
              f"{t.tiles:,} tiles")
        print(f"    bound    : {bound.value:,} = max(compulsory {bound.compulsory:,}, "
              f"I/O {bound.io:,}); traffic / bound = {t.total / bound.value:.3f}")
        print(f"    DRAM     : {dram(schedule)}")
        frugal = ps.optimize(layer, buffer=buffer, objective="energy")
        print(f"    objective='energy': {describe(frugal)}; "
              f"{ps.traffic(frugal).total:,} entries")
        print(f"               {dram(frugal)}")
    print()
