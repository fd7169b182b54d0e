"""Every model of the real-export suite (tests/models/) optimized at one buffer size.

For each model: layers, weight parameters, the unfused and the fused traffic (tensors may
stay resident between fused groups), fused / floor, the cut against the unfused plan, the
tensors kept resident, the DRAM energy (DDR3-1600, 8-bit) of the unfused and the fused plan,
the fused search's time (cold: it runs first) and the peak memory of the process that ran it
(each model runs in a process of its own, so the figures do not mix). With ``--energy``, also
the DRAM energy of the unfused and fused plans of ``objective="energy"`` (and that search's
time). Models polyscan refuses are listed with the line it gives.

Run: python benchmarks/networks.py [--buffer 64K] [--timeout 900] [--energy] [MODEL.onnx ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

MODELS = Path(__file__).parent.parent / "tests" / "models"
SHAPES = {"ocr_det_ppocrv4.onnx": [1, 3, 640, 640], "ocr_cls_ppocr_mobile_v2_0.onnx":
          [1, 3, 48, 192], "ocr_rec_ppocrv4.onnx": [1, 3, 48, 320],
          "torchvision_mobilenet_v2_dynamic.onnx": [1, 3, 224, 224]}

CHILD = """
import json, resource, sys, time
import polyscan as ps
path, buffer, shapes = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
energy = sys.argv[4] == "energy"
try:
    net = ps.load_onnx(path, input_shapes={k: tuple(v) for k, v in shapes.items()} or None)
except ps.PolyscanError as error:
    print(json.dumps({"error": str(error)}))
    sys.exit()
start = time.perf_counter()
plan = ps.optimize_network(net, buffer)
seconds = time.perf_counter() - start
unfused = ps.optimize_network(net, buffer, fusion=False)
figures = {}
if energy:
    start = time.perf_counter()
    by_energy = ps.optimize_network(net, buffer, objective="energy")
    figures["energy_seconds"] = time.perf_counter() - start
    figures["energy_plan_mj"] = by_energy.dram_cost().energy_pj / 1e9
    figures["energy_unfused_mj"] = ps.optimize_network(
        net, buffer, fusion=False, objective="energy").dram_cost().energy_pj / 1e9
print(json.dumps({**figures,
    "layers": len(net.layers),
    "weights": sum(t.size for t in net.tensors.values() if t.weight),
    "unfused": unfused.total, "fused": plan.total, "floor": plan.floor,
    "groups": len(plan.groups), "skipped": plan.groups_skipped,
    "resident": len(plan.resident), "energy_mj": plan.dram_cost().energy_pj / 1e9,
    "unfused_mj": unfused.dram_cost().energy_pj / 1e9, "seconds": seconds,
    "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure(path: Path, buffer: int, timeout: float, energy: bool) -> dict:
    manifest = {m["file"]: m for m in json.loads((MODELS / "manifest.json").read_text())}
    entry = manifest.get(path.name, {})
    shapes = {entry["input"]["name"]: SHAPES[path.name]} if path.name in SHAPES else {}
    try:
        done = subprocess.run([sys.executable, "-c", CHILD, str(path), str(buffer),
                               json.dumps(shapes), "energy" if energy else "traffic"],
                              capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"no plan within {timeout:.0f} s"}
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", type=Path)
    parser.add_argument("--buffer", default="64K")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per model")
    parser.add_argument("--energy", action="store_true",
                        help="also the plans of objective='energy' (slower)")
    args = parser.parse_args()
    from polyscan.cli import parse_size

    buffer = parse_size(args.buffer)
    models = args.models or sorted(p for p in MODELS.glob("*.onnx") if "dynamic" not in p.name)
    header = ("model", "layers", "weights", "unfused", "fused", "fused / floor",
              "cut vs unfused", "resident", "groups (skipped)", "mJ unfused", "mJ fused",
              "search s", *(("mJ unfused, energy", "mJ fused, energy", "energy search s")
                            if args.energy else ()), "peak MB")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    refused = []
    for path in models:
        row = measure(path, buffer, args.timeout, args.energy)
        name = path.stem
        if "error" in row:
            refused.append((name, row["error"]))
            continue
        print(f"| {name} | {row['layers']} | {row['weights']:,} | {row['unfused']:,} | "
              f"{row['fused']:,} | {row['fused'] / row['floor']:.3f} | "
              f"{1 - row['fused'] / row['unfused']:.1%} | {row['resident']} | "
              f"{row['groups']} ({row['skipped']}) | {row['unfused_mj']:.2f} | "
              f"{row['energy_mj']:.2f} | {row['seconds']:.1f} | " +
              (f"{row['energy_unfused_mj']:.2f} | {row['energy_plan_mj']:.2f} | "
               f"{row['energy_seconds']:.1f} | " if args.energy else "") +
              f"{row['peak_mb']:.0f} |", flush=True)
    for name, error in refused:
        print(f"\n{name}: refused: {error}")


if __name__ == "__main__":
    main()
