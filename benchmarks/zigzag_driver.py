"""ZigZag's per-layer latency, DRAM traffic and energy on the zigzag-like accelerator, for
benchmarks/zigzag_compare.py; runs under a Python with zigzag-dse (not polyscan's venv).

    python zigzag_driver.py LAYERS.json [--psum-bits 16]

LAYERS.json lists ``{"name", "kind", "symbols"}`` per layer (polyscan's zoo layers). Prints
JSON.
"""

import argparse
import json
import logging
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

import yaml
from zigzag.api import get_hardware_performance_zigzag
from zigzag.hardware.architecture.memory_port import DataDirection
from zigzag.mapping.data_movement import DataMoveAttr

ARRAY = 16  # 16 x 16 MACs
SRAM_BITS = 65536 * 8
DRAM_BITS_PER_CYCLE = 102  # DDR3-1600 x64 at a 1 GHz clock: 12.8 B/ns (ZigZag takes integers)
DRAM_PJ_PER_BYTE = 343.125  # the ddr3-1600 preset's read/write burst energy per byte
SRAM_PJ_PER_BYTE = 3.5  # zigzag-like.toml's energies
REGISTER_PJ = 0.05
MAC_PJ = 0.23
SRAM_PORT_BITS = 4096  # wide enough that the array never waits on the buffer (polyscan
#                        does not model on-chip bandwidth)


def register(operand, bits):
    """One register per PE (served_dimensions []), as polyscan keeps a tile's reuse there."""
    directions = ["tl", "fh"] + (["th", "fl"] if operand == "O" else [])
    return {"size": bits, "r_cost": REGISTER_PJ, "w_cost": REGISTER_PJ, "area": 0.0,
            "latency": 1, "operands": [operand], "served_dimensions": [],
            "ports": ports([f"{operand}, {d}" for d in directions], bits, bits)}


def ports(allocations, bits, min_bits=8):
    """A port of its own for each operand and direction: ZigZag rounds each transfer up to
    whole port cycles, so operands sharing a port stall the array on every reload (and
    polyscan does not model on-chip bandwidth)."""
    return [{"name": f"{'r' if a[-2] == 't' else 'w'}_port_{i + 1}",  # tl, th: reads
             "type": "read" if a[-2] == "t" else "write", "bandwidth_min": min_bits,
             "bandwidth_max": bits, "allocation": [a]} for i, a in enumerate(allocations)]


def hardware(psum_bits):
    """16x16 array, per-PE registers, one 64 KiB SRAM shared by I, W and O, DRAM below."""
    every = [f"{op}, {d}" for op in ("I1", "I2", "O") for d in ("fh", "tl")] + ["O, fl", "O, th"]
    return {
        "name": "zigzag_like",
        "memories": {
            "rf_w": register("I2", 8),
            "rf_i": register("I1", 8),
            "rf_o": register("O", psum_bits),
            "sram_64KiB": {
                "size": SRAM_BITS, "r_cost": SRAM_PJ_PER_BYTE * SRAM_PORT_BITS / 8,
                "w_cost": SRAM_PJ_PER_BYTE * SRAM_PORT_BITS / 8, "area": 0.0, "latency": 1,
                "operands": ["I1", "I2", "O"], "served_dimensions": ["D1", "D2"],
                "ports": ports([f"{op}, {d}" for op in ("I1", "I2") for d in ("tl", "fh")]
                               + ["O, tl", "O, th", "O, fh", "O, fl"], SRAM_PORT_BITS)},
            "dram": {
                "size": 10**12, "r_cost": DRAM_PJ_PER_BYTE * DRAM_BITS_PER_CYCLE / 8,
                "w_cost": DRAM_PJ_PER_BYTE * DRAM_BITS_PER_CYCLE / 8, "area": 0.0,
                "latency": 1, "operands": ["I1", "I2", "O"], "served_dimensions": ["D1", "D2"],
                "ports": [{"name": "rw_port_1", "type": "read_write", "bandwidth_min": 8,
                           "bandwidth_max": DRAM_BITS_PER_CYCLE, "allocation": every}]},
        },
        "operational_array": {"unit_energy": MAC_PJ, "unit_area": 1.0,
                              "dimensions": ["D1", "D2"], "sizes": [ARRAY, ARRAY]},
    }


def layer_yaml(index, name, kind, s, psum_bits):
    """A polyscan zoo layer in ZigZag's workload format; the array may take K or C (G for a
    depthwise layer) on D1 and C, OX or OY on D2, like zigzag-like.toml's [unroll]."""
    precision = {"W": 8, "I": 8, "O": psum_bits, "O_final": 8}
    source = {"W": index, "I": max(index - 1, 0)}
    base = {"id": index, "name": name, "operand_precision": precision, "operand_source": source}
    if kind == "fully_connected":
        return ({**base, "operator_type": "Gemm", "equation": "O[b][k]+=W[k][c]*I[b][c]",
                 "loop_dims": ["B", "K", "C"], "loop_sizes": [1, s["K"], s["C"]]},
                {"D1": ["K", "C"], "D2": ["C"]})
    s = {"KH": 1, "KW": 1, "SH": 1, "SW": 1, "PT": 0, "PL": 0, "PB": 0, "PR": 0, **s}  # pointwise
    oy = (s["IH"] + s["PT"] + s["PB"] - s["KH"]) // s["SH"] + 1
    ox = (s["IW"] + s["PL"] + s["PR"] - s["KW"]) // s["SW"] + 1
    window = {"dimension_relations": [f"ix={s['SW']}*ox+1*fx", f"iy={s['SH']}*oy+1*fy"],
              "pr_loop_dims": ["IX", "IY"], "pr_loop_sizes": [s["IW"], s["IH"]],
              "padding": [[s["PL"], s["PR"]], [s["PT"], s["PB"]]]}
    if kind in ("conv2d", "pointwise"):
        return ({**base, **window, "operator_type": "Conv",
                 "equation": "O[b][k][oy][ox]+=W[k][c][fy][fx]*I[b][c][iy][ix]",
                 "loop_dims": ["B", "K", "C", "OY", "OX", "FY", "FX"],
                 "loop_sizes": [1, s.get("K", s["C"]), s["C"], oy, ox, s["KH"], s["KW"]]},
                {"D1": ["K", "C"], "D2": ["C", "OX", "OY"]})
    weights = "W[g][fy][fx]" if kind == "depthwise" else "W[fy][fx]"  # a pool: 49 unit weights
    return ({**base, **window, "operator_type": "Conv" if kind == "depthwise" else "Pooling",
             "equation": f"O[b][g][oy][ox]+={weights}*I[b][g][iy][ix]",
             "loop_dims": ["B", "G", "OY", "OX", "FY", "FX"],
             "loop_sizes": [1, s["C"], oy, ox, s["KH"], s["KW"]]},
            {"D1": ["G"], "D2": ["OX", "OY"]})


def dram_figures(cme):
    """DRAM entries and bytes read and written, and DRAM energy, of one layer."""
    entries = {"read": 0, "write": 0}
    moved = {"read": 0.0, "write": 0.0}
    by_operand = {}
    for op in cme.layer.layer_operands:
        top = cme.mapping.mem_level[op] - 1
        pattern = cme.mapping.unit_mem_data_movement[op][top]
        count = pattern.get_attribute(DataMoveAttr.DATA_ELEM_MOVE_COUNT)
        bits = pattern.get_attribute(DataMoveAttr.DATA_PRECISION)
        read = count.get(DataDirection.RD_OUT_TO_LOW)
        write = count.get(DataDirection.WR_IN_BY_LOW)
        by_operand[str(op)] = {"read": read, "write": write,
                               "read_bits": bits.get(DataDirection.RD_OUT_TO_LOW),
                               "write_bits": bits.get(DataDirection.WR_IN_BY_LOW)}
        entries["read"] += read
        entries["write"] += write
        moved["read"] += read * bits.get(DataDirection.RD_OUT_TO_LOW) / 8
        moved["write"] += write * bits.get(DataDirection.WR_IN_BY_LOW) / 8
    energy = sum(levels[-1] for levels in cme.mem_energy_breakdown.values())
    return entries, moved, by_operand, energy


def evaluate(args, folder: Path) -> dict:
    """Write the YAMLs into ``folder``, run ZigZag (minimal latency per layer), collect."""
    (folder / "hardware.yaml").write_text(yaml.safe_dump(hardware(args.psum_bits),
                                                          sort_keys=False))
    layers, mapping = [], []
    for i, layer in enumerate(json.loads(Path(args.layers).read_text())):
        entry, hint = layer_yaml(i, layer["name"], layer["kind"], layer["symbols"],
                                 args.psum_bits)
        layers.append(entry)
        mapping.append({"name": layer["name"], "spatial_mapping_hint": hint})
    mapping.append({"name": "default", "spatial_mapping_hint": {"D1": ["K"], "D2": ["C"]}})
    workload = str(folder / "workload.yaml")
    Path(workload).write_text(yaml.safe_dump(layers, sort_keys=False))
    (folder / "mapping.yaml").write_text(yaml.safe_dump(mapping, sort_keys=False))
    _, _, cmes = get_hardware_performance_zigzag(
        workload, str(folder / "hardware.yaml"), str(folder / "mapping.yaml"),
        opt="latency", dump_folder=str(folder / "out"), loma_show_progress_bar=False)
    rows = []
    for cme, _ in cmes[0][1]:
        entries, moved, by_operand, dram_energy = dram_figures(cme)
        rows.append({"name": cme.layer.name, "cycles": cme.latency_total2,
                     "ideal_temporal_cycles": cme.ideal_temporal_cycle,
                     "stall": cme.stall_slack_comb, "onloading": cme.data_onloading_cycle,
                     "offloading": cme.data_offloading_cycle, "macs": cme.layer.total_mac_count,
                     "spatial_mapping": str(cme.spatial_mapping),
                     "temporal_mapping": str(cme.temporal_mapping),
                     "dram_entries": entries, "dram_bytes": moved, "dram_by_operand": by_operand,
                     "energy_pj": cme.energy_total, "dram_energy_pj": dram_energy,
                     "mac_energy_pj": cme.mac_energy})
    return {"zigzag_version": version("zigzag-dse"), "layers": rows,
            "cycles": cmes[0][0].latency_total2, "energy_pj": cmes[0][0].energy_total}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("layers")
    parser.add_argument("--psum-bits", type=int, default=16,
                        help="partial-sum precision (ZigZag's ONNX default: twice the 8-bit data)")
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    with tempfile.TemporaryDirectory(prefix="zigzag_") as folder:
        json.dump(evaluate(args, Path(folder)), sys.stdout)


if __name__ == "__main__":
    main()
