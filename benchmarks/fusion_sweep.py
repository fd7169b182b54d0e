"""MobileNetV2 with fusion across buffer sizes (issue 4's figures).

For each buffer: the fused plan's total traffic, its ratio to the floor (weights + network
input + network output), the cut against the plan that uses lex traversal and no fusion (the
seed paper's baseline), the same with scan and no fusion, the fused plan restricted to lex,
the number of groups and the time the fused search took on this machine.

Run: python benchmarks/fusion_sweep.py [buffer ...]     (default: 16K 32K 64K 128K 256K 1M)
"""

from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.table import Table

import polyscan as ps
from polyscan.cli import parse_size

BUFFERS = ("16K", "32K", "64K", "128K", "256K", "1M")


def main(buffers):
    net = ps.zoo.mobilenet_v2()
    table = Table(title="MobileNetV2, DRAM traffic in entries (8-bit entries: bytes)")
    for column in ("buffer", "lex, no fusion", "scan, no fusion", "fused, lex only",
                   "fused (lex+scan)", "/ floor", "cut vs lex no fusion", "groups",
                   "fused search s"):
        table.add_column(column, justify="right")
    floor = None
    for text in buffers:
        buffer = parse_size(text)
        lex = ps.optimize_network(net, buffer, fusion=False, traversals=("lex",))
        scan = ps.optimize_network(net, buffer, fusion=False, traversals=("scan",))
        fused_lex = ps.optimize_network(net, buffer, fusion=True, traversals=("lex",))
        start = time.perf_counter()
        fused = ps.optimize_network(net, buffer, fusion=True)
        seconds = time.perf_counter() - start
        floor = fused.floor
        table.add_row(text, f"{lex.total:,}", f"{scan.total:,}", f"{fused_lex.total:,}",
                      f"{fused.total:,}", f"{fused.total / fused.floor:.3f}",
                      f"{1 - fused.total / lex.total:.1%}", f"{len(fused.groups)}",
                      f"{seconds:.1f}")
    console = Console(width=160)
    console.print(table)
    console.print(f"floor (weights + input + output): {floor:,} entries")


if __name__ == "__main__":
    main(sys.argv[1:] or BUFFERS)
