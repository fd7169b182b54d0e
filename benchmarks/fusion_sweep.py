"""Fused plans with and without resident tensors across buffer sizes (issues 4 and 13).

For each network and buffer: the plan with lex traversal and no fusion (the seed paper's
baseline), the fused plan with every tensor between groups in DRAM, the fused plan that may
keep tensors resident (DESIGN 6b), their ratios to the floor (weights + network input +
network output), the cut against the baseline, how many tensors stay resident, the groups,
the DRAM energy of the traffic-objective plans on DDR3-1600, and the time of the resident
search (run first in the process for each buffer, so with the closed forms of the smaller
buffers already built; its first pass is the search without residency).

Run: python benchmarks/fusion_sweep.py [--models mobilenet_v2,mobilenet_v3_large,...]
                                       [buffer ...]     (default: 16K 32K 64K 128K 256K 1M)
"""

from __future__ import annotations

import argparse
import time

from rich.console import Console
from rich.table import Table

import polyscan as ps
from polyscan.cli import parse_size

BUFFERS = ("16K", "32K", "64K", "128K", "256K", "1M")
MODELS = "mobilenet_v2,mobilenet_v3_large,efficientnet_b0"


def sweep(name: str, buffers) -> Table:
    net = getattr(ps.zoo, name)()
    table = Table(title=f"{name}: DRAM traffic in entries, energy in mJ (DDR3-1600)")
    for column in ("buffer", "lex, no fusion", "fused", "/ floor", "fused + resident",
                   "/ floor", "cut vs lex", "resident", "groups", "mJ fused",
                   "mJ + resident", "search s"):
        table.add_column(column, justify="right")
    for text in buffers:
        buffer = parse_size(text)
        start = time.perf_counter()
        held = ps.optimize_network(net, buffer)  # first: its closed forms are not yet built
        seconds = time.perf_counter() - start
        fused = ps.optimize_network(net, buffer, resident=False)
        lex = ps.optimize_network(net, buffer, fusion=False, traversals=("lex",))
        table.add_row(text, f"{lex.total:,}", f"{fused.total:,}",
                      f"{fused.total / fused.floor:.3f}", f"{held.total:,}",
                      f"{held.total / held.floor:.3f}", f"{1 - held.total / lex.total:.1%}",
                      str(len(held.resident)), str(len(held.groups)),
                      f"{fused.dram_cost().energy_pj / 1e9:.3f}",
                      f"{held.dram_cost().energy_pj / 1e9:.3f}", f"{seconds:.1f}")
    table.caption = f"floor (weights + input + output): {net.floor():,} entries"
    return table


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=MODELS, help="zoo networks, comma-separated")
    parser.add_argument("buffers", nargs="*", default=BUFFERS)
    args = parser.parse_args()
    console = Console(width=180)
    for name in args.models.split(","):
        console.print(sweep(name, args.buffers))


if __name__ == "__main__":
    main()
