"""The network search from a cold start (issue 13): ``ps.optimize_network`` of a zoo network
at one buffer, for the traffic and the energy objective, with the helpers on the second core
(``network/ahead.py``: the first pass's backward half, half of the ties) and without them
(``POLYSCAN_AHEAD=off``).

Each run is a process of its own with an empty on-disk cache folder of its own, so nothing
counted by one run helps another; the peak memory is the planner's process (the helper, a
fork of it, shares most of its pages). The plans must agree: the helper only saves time.

Run: python benchmarks/network_speed.py [--network mobilenet_v2] [--buffer 64K] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

from rich.console import Console
from rich.table import Table

CHILD = """
import json, resource, sys, time
import polyscan as ps
from polyscan.sweep.grid import parse_size
net = getattr(ps.zoo, sys.argv[1])()
start = time.perf_counter()
plan = ps.optimize_network(net, parse_size(sys.argv[2]), objective=sys.argv[3])
print(json.dumps({"seconds": time.perf_counter() - start, "total": plan.total,
                  "energy": plan.dram_cost().energy_pj,
                  "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def run(network: str, buffer: str, objective: str, ahead: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="polyscan-cold-") as folder:
        env = {**os.environ, "POLYSCAN_CACHE": "on", "POLYSCAN_CACHE_DIR": folder,
               "POLYSCAN_AHEAD": "on" if ahead else "off"}
        done = subprocess.run([sys.executable, "-c", CHILD, network, buffer, objective],
                              env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="mobilenet_v2")
    parser.add_argument("--buffer", default="64K")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each cell (the least "
                        "time is shown)")
    args = parser.parse_args()
    table = Table(title=f"{args.network} at {args.buffer}, cold start (empty cache)")
    for column in ("objective", "one core s", "with helpers s", "ratio", "peak MB",
                   "total entries", "DRAM mJ"):
        table.add_column(column, justify="right")
    for objective in ("traffic", "energy"):
        alone = [run(args.network, args.buffer, objective, False) for _ in range(args.repeat)]
        helped = [run(args.network, args.buffer, objective, True) for _ in range(args.repeat)]
        if {(r["total"], r["energy"]) for r in alone + helped} != \
                {(alone[0]["total"], alone[0]["energy"])}:
            raise SystemExit(f"{objective}: the plans differ with and without the helper")
        one, two = (min(r["seconds"] for r in rs) for rs in (alone, helped))
        table.add_row(objective, f"{one:.1f}", f"{two:.1f}", f"{one / two:.2f}x",
                      f"{max(r['rss'] for r in alone + helped) / 2**20:.0f}",
                      f"{alone[0]['total']:,}", f"{alone[0]['energy'] / 1e9:.3f}")
    Console().print(table)


if __name__ == "__main__":
    main()
