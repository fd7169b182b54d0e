"""The seed paper's claim in DRAM energy: MobileNetV2 at 64K entries, lex without fusion
against our optimized plan (issue 5).

Each row is a plan of ``ps.optimize_network``: the traversals searched, fusion or not, and
the objective (traffic: least DRAM entries, ties to the fewest tiles; energy: least modeled
DRAM energy among each traversal's 16 least-traffic schedules). Energy, time and breakdown come
from ``plan.dram_cost()`` on the preset (DDR3-1600, the Micron part of DRAMSim2's
DDR3_micron_32M_8B_x4_sg125.ini), 8-bit elements, CHW layout.

Run: python benchmarks/energy_claim.py [preset]     (default: ddr3-1600)
"""

from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.table import Table

import polyscan as ps

PLANS = (
    ("lex, no fusion", dict(fusion=False, traversals=("lex",)), "traffic"),
    ("lex, no fusion", dict(fusion=False, traversals=("lex",)), "energy"),
    ("lex + scan, no fusion", dict(fusion=False), "energy"),
    ("lex, fusion", dict(traversals=("lex",)), "energy"),
    ("lex + scan, fusion", {}, "traffic"),
    ("lex + scan, fusion", {}, "energy"),
)


def main(preset: str):
    net = ps.zoo.mobilenet_v2()
    dram = ps.DramSettings(preset)
    table = Table(title=f"MobileNetV2 at 64K entries on {preset}: DRAM energy")
    for column in ("plan", "objective", "entries", "energy mJ", "vs lex/no fusion (traffic)",
                   "vs lex/no fusion (energy)", "activate", "read", "write", "refresh",
                   "background", "row hits", "time ms", "search s"):
        table.add_column(column, justify="left" if column in ("plan", "objective")
                         else "right")
    baselines = []
    for label, options, objective in PLANS:
        start = time.perf_counter()
        plan = ps.optimize_network(net, 65536, progress=False, objective=objective, dram=dram,
                                   **options)
        seconds = time.perf_counter() - start
        cost = plan.dram_cost()
        if len(baselines) < 2:
            baselines.append(cost.energy_pj)
        table.add_row(label, objective, f"{plan.total:,}", f"{cost.energy_pj / 1e9:.3f}",
                      *(f"{1 - cost.energy_pj / b:+.1%}" for b in baselines),
                      *([""] * (2 - len(baselines))),
                      *(f"{cost.breakdown[k] / 1e9:.3f}" for k in
                        ("activation", "read", "write", "refresh", "background")),
                      f"{cost.row_hit_rate:.4f}", f"{cost.seconds * 1e3:.3f}", f"{seconds:.1f}")
    Console(width=200, emoji=False).print(table)
    print("vs columns: energy saved relative to the lex, no-fusion plan of that objective "
          "(positive: less energy)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "ddr3-1600")
