"""polyscan's DRAM model side by side with DRAMSim2, DRAMsim3 and Ramulator built from source
(issue 14).

Each stream is written as a trace, replayed in the simulator whose device file is the
preset's own part (DRAMSim2: ddr3-1600, ddr3-1333; DRAMsim3: ddr4-2400), and costed by the
model; the table gives simulator / polyscan for energy, cycles and activations, and both
row-hit rates. Ramulator has no energy: it replays every preset for time, with its closest
built-in part and speed bin (``RAMULATOR_DEVICES``). Streams: the calibration streams
(``polyscan.cost.dram.calibration``) and, with ``--plans``, MobileNetV2's fused plans at 64K
entries for the traffic and the energy objective (each searched under the preset).

Like with like (docs/dram.md "Agreement with the simulators"): one rank, one channel,
``row:bank:column`` (DRAMSim2 scheme6, DRAMsim3 rochrababgco), open page with no forced
closing, no low-power mode, requests issued as fast as the controller takes them (DRAMSim2
``-n``, DRAMsim3 stamps 0), and simulators that stop once every request is served (the
patches in docs/dram.md; an unpatched simulator runs to its cycle limit).

Run: python benchmarks/dram_validate.py --dramsim2 DIR --dramsim3 DIR --ramulator DIR
         [--plans] [--save tests/data/dram_replays.json]
DIR: the simulator's built source tree (DRAMSim2: ``DRAMSim`` and ``ini/`` in it; DRAMsim3:
``build/dramsim3main`` and ``configs/``; Ramulator: ``ramulator``). A simulator not given,
or not found, is skipped with one line.
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

import polyscan as ps
from polyscan.cost.dram import DramSettings
from polyscan.cost.dram.calibration import STREAMS
from polyscan.cost.dram.model import AddressMapping, stream_cost
from polyscan.cost.dram.presets import load_preset
from polyscan.cost.dram.trace import write_bursts
from polyscan.errors import OutputError
from polyscan.files import check_output, written_text

CYCLE_LIMIT = 10 ** 10  # the patched simulators stop long before
DRAMSIM2_DEVICES = {"ddr3-1600": "DDR3_micron_32M_8B_x4_sg125.ini",
                    "ddr3-1333": "DDR3_micron_32M_8B_x8_sg15.ini"}
DRAMSIM3_DEVICES = {"ddr4-2400": ("DDR4_8Gb_x8_2400.ini", 8192)}  # file, MB of one rank
# Ramulator's own parts (standard, org, speed): the same geometry as the preset; its speed
# bins differ by a cycle here and there (ddr3-1333 9-9-9 for the file's 10-10-10, ddr4-2400
# 16-16-16 for 17-17-17, lpddr4-3200 CL 32 for 28); one channel (LPDDR4: one 32-bit one)
RAMULATOR_DEVICES = {"ddr3-1600": ("DDR3", "DDR3_1Gb_x4", "DDR3_1600K"),
                     "ddr3-1333": ("DDR3", "DDR3_2Gb_x8", "DDR3_1333H"),
                     "ddr4-2400": ("DDR4", "DDR4_8Gb_x8", "DDR4_2400R"),
                     "lpddr4-3200": ("LPDDR4", "LPDDR4_6Gb_x16", "LPDDR4_3200")}
DRAMSIM2_SYSTEM = {"NUM_CHANS": "1", "JEDEC_DATA_BUS_BITS": "64", "TRANS_QUEUE_DEPTH": "32",
                   "CMD_QUEUE_DEPTH": "32", "EPOCH_LENGTH": "2000000000",
                   "ROW_BUFFER_POLICY": "open_page", "ADDRESS_MAPPING_SCHEME": "scheme6",
                   "SCHEDULING_POLICY": "rank_then_bank_round_robin",
                   "QUEUING_STRUCTURE": "per_rank_per_bank", "DEBUG_TRANS_Q": "false",
                   "DEBUG_CMD_Q": "false", "DEBUG_ADDR_MAP": "false", "DEBUG_BUS": "false",
                   "DEBUG_BANKSTATE": "false", "DEBUG_BANKS": "false", "DEBUG_POWER": "false",
                   "VIS_FILE_OUTPUT": "false", "USE_LOW_POWER": "false",
                   "VERIFICATION_OUTPUT": "false", "TOTAL_ROW_ACCESSES": "1000000000"}


@dataclass
class Replay:
    """One stream as a simulator served it (the facts ``tests/data/dram_replays.json`` keeps)."""

    simulator: str
    preset: str
    stream: str
    energy_pj: float | None  # None: the simulator models time only (Ramulator)
    cycles: int
    activations: int
    refreshes: int | None  # None: not reported
    read_bursts: int
    write_bursts: int

    @property
    def row_hit_rate(self) -> float:
        return 1 - self.activations / (self.read_bursts + self.write_bursts)


def dramsim2(root: Path, preset: str, trace: Path, work: Path) -> Replay:
    device = root / "ini" / DRAMSIM2_DEVICES[preset]
    system = work / "system.ini"
    system.write_text("".join(f"{k}={v}\n" for k, v in DRAMSIM2_SYSTEM.items()))
    out = subprocess.run([str(root / "DRAMSim"), "-t", str(trace), "-s", str(system), "-d",
                          str(device), "-c", str(CYCLE_LIMIT), "-S", "2048", "-n"],
                         cwd=work, capture_output=True, text=True, check=True).stdout
    raw = dict(re.findall(r"(\w+)=(\d+)", next(line for line in out.splitlines()
                                              if "RAW" in line)))
    ini = dict(re.findall(r"^(\w+)\s*=\s*([\d.]+)", device.read_text(), re.M))
    scale = float(ini["Vdd"]) * float(ini["tCK"])  # mA x cycles (all devices) -> pJ
    energy = sum(int(raw[k]) for k in ("background", "burst", "actpre", "refresh")) * scale
    return Replay("DRAMSim2", preset, trace.stem, energy, int(raw["cycles"]), int(raw["acts"]),
                  int(raw["refs"]), int(raw["reads"]), int(raw["writes"]))


def dramsim3(root: Path, preset: str, trace: Path, work: Path) -> Replay:
    name, rank_mb = DRAMSIM3_DEVICES[preset]
    config = (root / "configs" / name).read_text()
    config = re.sub(r"^channel_size\s*=.*$", f"channel_size = {rank_mb}", config, flags=re.M)
    config = re.sub(r"^address_mapping\s*=.*$", "address_mapping = rochrababgco", config,
                    flags=re.M)
    (work / name).write_text(config)
    unpaced = work / "unpaced.trace"
    with open(trace) as lines, open(unpaced, "w") as out:
        out.writelines(re.sub(r" \d+$", " 0", line) for line in lines)
    subprocess.run([str(root / "build" / "dramsim3main"), str(work / name), "-c",
                    str(CYCLE_LIMIT), "-t", str(unpaced), "-o", str(work)], cwd=work,
                   capture_output=True, text=True, check=True)
    stats = json.loads((work / "dramsim3.json").read_text())["0"]
    tck = float(re.search(r"^tCK\s*=\s*([\d.]+)", config, re.M).group(1))
    return Replay("DRAMsim3", preset, trace.stem, stats["total_energy"] * tck,
                  int(stats["num_cycles"]), int(stats["num_act_cmds"]),
                  int(stats["num_ref_cmds"]), int(stats["num_read_cmds"]),
                  int(stats["num_write_cmds"]))


def ramulator(root: Path, preset: str, trace: Path, work: Path) -> Replay:
    standard, org, speed = RAMULATOR_DEVICES[preset]
    config = work / "ramulator.cfg"
    config.write_text(f"standard = {standard}\nchannels = 1\nranks = 1\nspeed = {speed}\n"
                      f"org = {org}\nrecord_cmd_trace = off\nprint_cmd_trace = off\n")
    stats = work / "ramulator.stats"
    subprocess.run([str(root / "ramulator"), str(config), "--mode=dram", "--stats",
                    str(stats), str(trace)], cwd=work, capture_output=True, text=True,
                   check=True)
    values = dict(re.findall(r"^\s*ramulator\.(\w+)\s+([\d.]+)", stats.read_text(), re.M))
    misses = sum(float(values[f"row_{kind}_channel_0_core"]) for kind in ("misses", "conflicts"))
    reads = int(float(values["read_transaction_bytes_0"])) // load_preset(preset).burst_bytes
    writes = int(float(values["incoming_requests"])) - reads
    return Replay("Ramulator", preset, trace.stem, None, int(float(values["dram_cycles"])),
                  int(misses), None, reads, writes)


def streams(preset: str, plans: bool):
    """(label, spans, cost) of each stream replayed on ``preset``."""
    device = load_preset(preset)
    mapping = AddressMapping(device)
    for label, make in STREAMS.items():
        spans = [make(device)]
        yield label, spans, stream_cost(spans, device, mapping)
    if plans:
        for objective in ("traffic", "energy"):
            plan = mobilenet_v2_plan(preset, objective)
            yield f"mobilenet_v2 64K {objective} plan", plan.dram_spans(), plan.dram_cost()


@functools.cache
def mobilenet_v2_plan(preset: str, objective: str):
    """The plan replayed (searched once per preset, whichever simulators replay it)."""
    return ps.optimize_network(ps.zoo.mobilenet_v2(), 65536, objective=objective,
                               dram=DramSettings(preset))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dramsim2", type=Path, metavar="DIR")
    parser.add_argument("--dramsim3", type=Path, metavar="DIR")
    parser.add_argument("--ramulator", type=Path, metavar="DIR")
    parser.add_argument("--plans", action="store_true", help="also MobileNetV2's plans")
    parser.add_argument("--save", type=Path, metavar="JSON",
                        help="write the simulators' figures (the test's data file)")
    args = parser.parse_args()
    if args.save:
        try:  # before the replays, which take minutes
            check_output(args.save)
        except OutputError as error:
            parser.exit(2, f"dram_validate.py: {error}\n")
    console = Console(width=160)
    simulators = []
    for name, root, binary, replay, devices in (
            ("DRAMSim2", args.dramsim2, "DRAMSim", dramsim2, DRAMSIM2_DEVICES),
            ("DRAMsim3", args.dramsim3, "build/dramsim3main", dramsim3, DRAMSIM3_DEVICES),
            ("Ramulator", args.ramulator, "ramulator", ramulator, RAMULATOR_DEVICES)):
        if root is None or not (root / binary).is_file():
            missing = f"no --{name.lower()}" if root is None else f"no {root / binary}"
            console.print(f"{name}: skipped ({missing})")
            continue
        simulators.append((name, root, replay, devices))
    table = Table(title="simulator / polyscan (like with like; unpaced replays)")
    for column in ("simulator", "preset", "stream", "energy", "cycles", "ACT", "row hits sim",
                   "row hits polyscan", "REF sim / polyscan"):
        table.add_column(column, justify="left" if column in ("simulator", "preset", "stream")
                         else "right")
    replays = []
    for name, root, replay, devices in simulators:
        for preset in devices:
            for label, spans, cost in streams(preset, args.plans):
                with tempfile.TemporaryDirectory() as work:
                    work = Path(work)
                    trace = work / f"mase_{label.replace(' ', '_')}.trc"
                    write_bursts(spans, cost, load_preset(preset).burst_bytes, trace,
                                 "ramulator" if name == "Ramulator" else "dramsim2")
                    found = replay(root, preset, trace, work)
                found.stream = label
                replays.append(found)
                energy = "-" if found.energy_pj is None else \
                    f"{found.energy_pj / cost.energy_pj:.3f}"
                table.add_row(name, preset, label, energy,
                              f"{found.cycles / cost.cycles:.3f}",
                              f"{found.activations / max(cost.activations, 1):.3f}",
                              f"{found.row_hit_rate:.4f}", f"{cost.row_hit_rate:.4f}",
                              f"{'-' if found.refreshes is None else found.refreshes} / "
                              f"{cost.refreshes}")
    console.print(table)
    if args.save:
        with written_text(args.save) as out:  # whole or not at all
            out.write(json.dumps({"made_by": "python benchmarks/dram_validate.py --dramsim2 DIR "
                                             "--dramsim3 DIR --ramulator DIR --plans --save FILE",
                                  "replays": [asdict(r) for r in replays]}, indent=1) + "\n")


if __name__ == "__main__":
    main()
