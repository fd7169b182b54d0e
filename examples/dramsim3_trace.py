"""MobileNetV1's DRAM requests as a DRAMsim3 trace, with the model's energy and time.

Plans MobileNetV1 layer by layer (no fusion) under a 64K-entry buffer, prints the modeled DRAM
cost (DDR3-1600, 8-bit elements, CHW): energy with its breakdown, cycles, row-hit rate and
bandwidth. Then writes every burst of the plan as a gzipped DRAMsim3 trace to a temporary
folder, and prints its first lines and the command that replays it in DRAMsim3.

Run: python examples/dramsim3_trace.py
"""

import gzip
import tempfile
from pathlib import Path

import polyscan as ps

plan = ps.optimize_network(ps.zoo.mobilenet_v1(), 65536, fusion=False, progress=False)
cost = plan.dram_cost()
print(f"{plan.network}: {len(plan.groups)} layers, {plan.total:,} DRAM entries at "
      f"{plan.buffer:,} entries (searched in {plan.seconds:.1f} s)")
print(f"DRAM energy {cost.energy_pj / 1e9:.3f} mJ on {cost.preset}:")
for part, pj in cost.breakdown.items():
    print(f"  {part:11} {pj / 1e9:8.3f} mJ  {pj / cost.energy_pj:6.1%}")
print(f"time {cost.cycles:,} cycles = {cost.seconds * 1e3:.3f} ms; {cost.bursts:,} bursts "
      f"({cost.read_bursts:,} reads, {cost.write_bursts:,} writes), "
      f"{cost.activations:,} activations")
print(f"row hits {cost.row_hit_rate:.2%}; bandwidth {cost.bandwidth / 1e9:.2f} GB/s "
      f"({cost.bytes / 1e6:.1f} MB in bursts)")

with tempfile.TemporaryDirectory() as folder:
    path = Path(folder) / "mobilenet_v1.trace.gz"
    summary = plan.write_trace(path, format="dramsim3")
    print(f"\nwrote {path.name}: {summary.requests:,} requests (one per burst) over "
          f"{summary.cycles:,} cycles, {path.stat().st_size / 1e6:.1f} MB compressed")
    with gzip.open(path, "rt") as trace:
        head = [next(trace).rstrip() for _ in range(3)]
print("first lines (address, command, cycle):")
print("\n".join(f"  {line}" for line in head))
print("\nDRAMsim3 reads plain text, so gunzip the trace first; then replay it (give -c some "
      "headroom for the simulator's queueing):")
print("  gunzip mobilenet_v1.trace.gz")
print(f"  ./build/dramsim3main configs/DDR4_8Gb_x8_2400.ini -c {summary.cycles} "
      f"-t mobilenet_v1.trace")
print(f"Note: the cycle stamps are {plan.dram.preset} clock cycles (the plan's preset). For a "
      f"like-for-like replay on the DDR4-2400 file, plan with\n"
      f"dram=ps.DramSettings('ddr4-2400'), or replay on a DDR3-1600 file "
      f"(e.g. configs/DDR3_4Gb_x4_1600.ini).")
