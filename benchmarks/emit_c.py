"""Every MobileNetV2 layer's optimal schedule (64K entries, lex and scan), and every fused
group of the optimized plan, emitted as C, compiled (cc -O2 -Wall -Werror) and run at full
size on random tensors: values against the numpy reference, DMA counts against ps.traffic.

Run: python benchmarks/emit_c.py [--no-fusion]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from rich.console import Console
from rich.table import Table

import polyscan as ps
from polyscan.outputs.emit.harness import verify


def main(fusion: bool):
    net = ps.zoo.mobilenet_v2()
    start = time.perf_counter()
    plans = {"layer": ps.optimize_network(net, 65536, fusion=False, progress=False)}
    if fusion:
        plans["group"] = ps.optimize_network(net, 65536, progress=False)
    print(f"plans searched in {time.perf_counter() - start:.1f} s")
    table = Table(title="MobileNetV2 at 64K entries: emitted C, compiled and run")
    for column in ("unit", "schedule", "tiles", "MACs", "C lines", "buffer", "peak",
                   "emit s", "cc s", "run s", "values", "DMA = traffic"):
        table.add_column(column, justify="left" if column in ("unit", "schedule") else "right")
    failures = 0
    for label, plan in plans.items():
        for group in plan.groups:
            if label == "group" and len(group.layers) == 1:
                continue  # the same as its layer row
            schedule = group.schedule
            with tempfile.TemporaryDirectory() as directory:
                result = verify(schedule, directory)
            counted = ps.traffic(schedule)
            macs = sum(net.layer(name).macs for name in group.layers)
            failures += not result.ok
            table.add_row(label + " " + "+".join(group.layers),
                          f"{schedule.tile} {','.join(schedule.order)} {schedule.traversal}",
                          f"{schedule.tiles:,}", f"{macs:,}", f"{result.lines:,}",
                          f"{result.buffer:,}", f"{counted.peak:,}",
                          *(f"{result.seconds[k]:.2f}" for k in ("emit", "compile", "run")),
                          "ok" if not result.wrong else "WRONG " + ",".join(result.wrong),
                          "yes" if result.reads == result.expected_reads
                          and result.writes == result.expected_writes else "NO")
    Console(width=220, emoji=False).print(table)
    print(f"{failures} failures")
    return failures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-fusion", action="store_true", help="layers only")
    raise SystemExit(bool(main(not parser.parse_args().no_fusion)))
