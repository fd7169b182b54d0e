"""The DRAM model's calibration streams and its speed on whole MobileNetV2 plans (issue 5).

Calibration: for every preset, a sequential read stream (64 MiB, address 0 upward) and a
random stream (64 Ki bursts, each to a random row of a random bank), with energy per bit
moved, bandwidth, row-hit rate and the device's peak bandwidth.

Speed: ``plan.dram_cost()`` on the MobileNetV2 plans at 64K entries (lex without fusion, and
the fused plan), cold (transfers generated from the footprints) on every preset.

Run: python benchmarks/dram_model.py [--traces DIR]  (DIR: also write each calibration stream
as DRAMSim2, DRAMSim3 and Ramulator traces, to replay them in the simulators; docs/dram.md)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

import polyscan as ps
from polyscan.cost.dram.calibration import random_rows, sequential
from polyscan.cost.dram.model import AddressMapping, stream_cost
from polyscan.cost.dram.presets import builtin_presets, load_preset
from polyscan.cost.dram.trace import FORMATS, write_bursts


def calibration(traces: Path | None) -> Table:
    table = Table(title="Calibration streams (reads; row:bank:column mapping)")
    for column in ("preset", "stream", "pJ/bit", "GB/s", "peak GB/s", "row hits",
                   "activation %", "read %", "background %"):
        table.add_column(column, justify="left" if column in ("preset", "stream") else "right")
    for name in builtin_presets():
        preset = load_preset(name)
        peak = preset.bus_width / 8 * 2 / preset.tCK
        for label, stream in (("sequential", sequential(preset)),
                              ("random rows", random_rows(preset))):
            cost = stream_cost([stream], preset, AddressMapping(preset))
            for form in FORMATS if traces else ():
                trace_name = f"mase_{name}_{label.replace(' ', '_')}.trc" if form == "dramsim2" \
                    else f"{name}_{label.replace(' ', '_')}.{form}.trace"
                write_bursts([stream], cost, preset.burst_bytes, traces / trace_name, form)
            share = {k: v / cost.energy_pj for k, v in cost.breakdown.items()}
            table.add_row(name, label, f"{cost.energy_pj / (cost.bytes * 8):.1f}",
                          f"{cost.bandwidth / 1e9:.2f}", f"{peak:.1f}",
                          f"{cost.row_hit_rate:.4f}", f"{share['activation']:.1%}",
                          f"{share['read']:.1%}", f"{share['background']:.1%}")
    return table


def speed() -> Table:
    net = ps.zoo.mobilenet_v2()
    plans = {"lex, no fusion": dict(fusion=False, traversals=("lex",)), "fused": {}}
    table = Table(title="plan.dram_cost() on MobileNetV2 at 64K entries (cold)")
    for column in ("plan", "preset", "bursts", "bursts/s", "energy mJ", "time ms", "row hits",
                   "seconds"):
        table.add_column(column, justify="left" if column in ("plan", "preset") else "right")
    for label, options in plans.items():
        for name in builtin_presets():
            plan = ps.optimize_network(net, 65536, progress=False,
                                       dram=ps.DramSettings(name), **options)
            start = time.perf_counter()
            cost = plan.dram_cost()
            seconds = time.perf_counter() - start
            table.add_row(label, name, f"{cost.bursts:,}", f"{cost.bursts / seconds:,.0f}",
                          f"{cost.energy_pj / 1e9:.3f}", f"{cost.seconds * 1e3:.3f}",
                          f"{cost.row_hit_rate:.4f}", f"{seconds:.2f}")
    return table


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=Path, metavar="DIR",
                        help="also write the calibration streams as simulator traces")
    args = parser.parse_args()
    console = Console(width=140, emoji=False)
    console.print(calibration(args.traces))
    console.print(speed())
