"""MobileNetV2 layer by layer beside ZigZag on the zigzag-like accelerator (issue 15): polyscan's
unfused latency, DRAM traffic and energy next to ZigZag's for the same layer (docs/time.md).

    python benchmarks/zigzag_compare.py [--zigzag-python /work/scratch/zigzag/venv/bin/python]

ZigZag (PyPI zigzag-dse) runs as a subprocess under its own Python (``--zigzag-python`` or
$ZIGZAG_PYTHON) on benchmarks/zigzag_driver.py, which describes the same hardware in its YAML
formats; without it this prints one line and exits.
"""

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import polyscan as ps
from polyscan.cost.timing import dram_energy

DRIVER = Path(__file__).with_name("zigzag_driver.py")


def polyscan_rows(net, accel):
    """Per layer: makespan, DRAM entries (1 byte each) and energy of the unfused plan, the
    DRAM's background and refresh taken over the layer's own makespan."""
    start = time.perf_counter()
    plan = ps.optimize_network(net, accel.buffer, fusion=False, progress=False)
    timed = plan.time(accel)
    preset, _ = accel.dram_settings().device()
    rows = {}
    for group, g, dram in zip(plan.groups, timed.groups, timed.dram.groups):
        dram_pj = sum(dram_energy(dram, preset, g.cycles / (accel.clock_mhz * 1e6)).values())
        rows[group.layers[0]] = {
            "cycles": g.cycles, "compute_cycles": g.compute.cycles, "dma_cycles": g.dma_cycles,
            "unroll": list(g.compute.layers[0].unroll), "utilisation": g.compute.utilisation,
            "reads": {str(k): v for k, v in group.traffic.reads.items()},
            "writes": {str(k): v for k, v in group.traffic.writes.items()},
            "dram_bytes": group.traffic.total, "energy_pj": dram_pj + sum(g.on_chip.values()),
            "dram_energy_pj": dram_pj}
    return rows, timed, time.perf_counter() - start


def zigzag_rows(python, net, psum_bits):
    """ZigZag's per-layer figures from the driver, keyed by layer name."""
    with tempfile.TemporaryDirectory() as folder:
        layers = Path(folder) / "layers.json"
        layers.write_text(json.dumps([{"name": layer.name, "kind": layer.kind,
                                       "symbols": layer.symbols} for layer in net.layers]))
        start = time.perf_counter()
        run = subprocess.run([python, str(DRIVER), str(layers), "--psum-bits", str(psum_bits)],
                             capture_output=True, text=True)
    if run.returncode:
        raise SystemExit(f"the ZigZag driver failed: "
                         f"{(run.stderr.strip().splitlines() or ['no output'])[-1]}")
    result = json.loads(run.stdout)
    for row in result["layers"]:
        row["dram_bytes"] = row["dram_bytes"]["read"] + row["dram_bytes"]["write"]
    return result, {r["name"]: r for r in result["layers"]}, time.perf_counter() - start


def cell(ours, theirs, scale=1.0):
    ratio = ours / theirs if theirs else float("inf")
    flag = "*" if abs(ratio - 1) > 0.2 else " "
    return f"{ours / scale:10,.0f} {theirs / scale:10,.0f} {ratio:5.2f}{flag}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zigzag-python", default=os.environ.get("ZIGZAG_PYTHON", "python3"))
    parser.add_argument("--psum-bits", type=int, default=16,
                        help="ZigZag's partial-sum precision (its ONNX default: 2 x 8 bits)")
    parser.add_argument("--json", help="also write both sides' per-layer figures here")
    args = parser.parse_args()
    if args.json and Path(args.json).exists():
        parser.error(f"{args.json} exists: give a new path for --json")
    try:
        probe = subprocess.run([args.zigzag_python, "-c", "import zigzag.api"],
                               capture_output=True, text=True)
    except OSError as error:
        probe = subprocess.CompletedProcess([], 1, "", str(error))
    if probe.returncode:
        print(f"ZigZag not available under {args.zigzag_python} (pip install zigzag-dse there, "
              f"pass --zigzag-python or set ZIGZAG_PYTHON): "
              f"{(probe.stderr.strip().splitlines() or ['no output'])[-1]}")
        return
    accel = ps.load_accelerator("zigzag-like")
    net = ps.zoo.mobilenet_v2()
    zz_all, zz, zz_seconds = zigzag_rows(args.zigzag_python, net, args.psum_bits)
    ours, timed, ps_seconds = polyscan_rows(net, accel)
    print(f"MobileNetV2 unfused on {accel.name}: polyscan ({ps_seconds:.0f} s) "
          f"vs ZigZag {zz_all['zigzag_version']} ({zz_seconds:.0f} s), partial sums "
          f"{args.psum_bits} bits; * = more than 20% apart")
    print(f"{'layer':12} {'cycles: ours':>12} {'ZigZag':>10} {'ratio':>6} "
          f"{'DRAM B: ours':>12} {'ZigZag':>10} {'ratio':>6} {'uJ: ours':>10} {'ZigZag':>10} "
          f"{'ratio':>6} {'DRAM uJ':>10} {'ZigZag':>10} {'ratio':>6}")
    totals = dict.fromkeys(("cycles", "dram_bytes", "energy_pj", "dram_energy_pj"), 0.0)
    zz_totals = dict(totals)
    for name, row in ours.items():
        theirs = zz[name]
        for key in totals:
            totals[key] += row[key]
            zz_totals[key] += theirs[key]
        print(f"{name:12} {cell(row['cycles'], theirs['cycles'])} "
              f"{cell(row['dram_bytes'], theirs['dram_bytes'])} "
              f"{cell(row['energy_pj'], theirs['energy_pj'], 1e6)} "
              f"{cell(row['dram_energy_pj'], theirs['dram_energy_pj'], 1e6)}")
    print(f"{'total':12} {cell(totals['cycles'], zz_totals['cycles'])} "
          f"{cell(totals['dram_bytes'], zz_totals['dram_bytes'])} "
          f"{cell(totals['energy_pj'], zz_totals['energy_pj'], 1e6)} "
          f"{cell(totals['dram_energy_pj'], zz_totals['dram_energy_pj'], 1e6)}")
    print(f"polyscan's plan.time: {timed.cycles:,} cycles, {timed.energy_pj / 1e6:,.0f} uJ; "
          f"ZigZag's sum: {zz_all['cycles']:,.0f} cycles, {zz_all['energy_pj'] / 1e6:,.0f} uJ")
    if args.json:
        partial = Path(args.json).with_name(Path(args.json).name + ".partial")
        partial.write_text(json.dumps({"polyscan": ours, "zigzag": zz_all}, indent=1))
        os.link(partial, args.json)  # whole or not at all, and never over a file since made
        partial.unlink()


if __name__ == "__main__":
    main()
