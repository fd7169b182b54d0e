"""Makespan and total energy of schedules run one after the other on an accelerator
(DESIGN 6c, docs/time.md).

Tile k of a schedule needs its reads (step k's DRAM reads), its compute, and the writes it
leaves (step k+1's DRAM writes). Without double buffering they run in series. With it, the
timeline is a pipeline of phases: phase p computes tile p-1 while the DMA engine brings in
tile p's reads and drains tile p-2's writes (reads and writes share the DRAM channel), so
a phase lasts ``max(compute, reads + writes)``. Schedules (a plan's groups) run one after
the other.

DMA time comes in two models: ``dma="dram"`` takes the row-buffer model's time for the
whole schedule (``dram``) and spreads it over the steps in proportion to their bursts, so
the steps add up to the modeled DRAM time; ``dma="bandwidth"`` moves every step's bytes at
the device's peak bandwidth (a burst per BL/2 clocks), which is what ``objective="latency"``
minimises exactly (the row-buffer time of a schedule is only known by walking its stream,
too slow to search the space with; it is reported beside).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import PolyscanError
from ..model.nest import ACCUMULATE, EXPORTED, ONCHIP
from ..model.schedule import Schedule
from .accelerator import Accelerator
from .compute import Compute, compute
from .dram.model import DramCost
from .dram.stream import Transfer, schedule_transfers
from .traffic import double_buffered_peak, per_tile, traffic

DMA_MODELS = ("dram", "bandwidth")


@dataclass
class Steps:
    """One schedule's timeline inputs, in accelerator cycles: ``compute[k]`` of tile k,
    ``reads[k]`` before it, ``writes[k]`` of what tile k-1 leaves (``writes[n]``: after the
    last tile)."""

    compute: np.ndarray
    reads: np.ndarray
    writes: np.ndarray

    def phases(self, double_buffer: bool) -> tuple[np.ndarray, np.ndarray]:
        """(compute, DMA) cycles of each phase of the timeline."""
        n = len(self.compute)
        if not double_buffer:  # per tile: its writes-before and reads, then its compute
            dma = self.reads.copy()
            dma[:n] += self.writes[:n]
            dma[n] += self.writes[n]
            return np.append(self.compute, 0.0), dma
        work = np.zeros(n + 2)
        work[1:n + 1] = self.compute
        dma = np.zeros(n + 2)
        dma[:n] += self.reads[:n]
        dma[2:] += self.writes[1:]  # tile p-2's writes are step p-1's
        return work, dma


@dataclass
class GroupTime:
    """One schedule's time on the accelerator."""

    layers: tuple[str, ...]
    cycles: float  # makespan, accelerator cycles
    compute: Compute
    dma_cycles: float
    peak: int  # the buffer's peak under the capacity rule used (double-buffered or not)
    compute_bound: float  # share of the makespan computing (double-buffered: in phases
    #                       where compute is the longer)
    steps: Steps = field(repr=False)
    schedule: Schedule = field(repr=False, default=None)
    held: int = 0  # entries resident beside the schedule
    on_chip: dict[str, float] = field(default_factory=dict)  # pJ, where energies are given

    def to_dict(self) -> dict:
        return {"layers": list(self.layers), "cycles": math.ceil(self.cycles),
                "compute_cycles": self.compute.cycles, "dma_cycles": self.dma_cycles,
                "macs": self.compute.macs, "utilisation": self.compute.utilisation,
                "compute_bound": self.compute_bound, "peak": self.peak,
                "unroll": {c.layer: list(c.unroll) for c in self.compute.layers},
                "on_chip_pj": self.on_chip}


@dataclass
class TimeCost:
    """Makespan and energy of schedules run one after the other on ``accelerator``."""

    accelerator: Accelerator
    double_buffer: bool
    groups: list[GroupTime]
    dram: DramCost | None  # over the DRAM's own busy time (None: not counted)
    dram_energy: dict[str, float]  # pJ, background and refresh over the makespan
    dma: str = "dram"  # the DMA time model: "dram" (row buffers) or "bandwidth" (peak)

    @property
    def cycles(self) -> int:
        return math.ceil(sum(g.cycles for g in self.groups))

    @property
    def seconds(self) -> float:
        return self.cycles / (self.accelerator.clock_mhz * 1e6)

    @property
    def compute_cycles(self) -> int:
        return sum(g.compute.cycles for g in self.groups)

    @property
    def macs(self) -> int:
        return sum(g.compute.macs for g in self.groups)

    @property
    def utilisation(self) -> float:
        return self.macs / (self.cycles * self.accelerator.pes) if self.cycles else 0.0

    @property
    def peak(self) -> int:
        return max(g.peak for g in self.groups)

    @property
    def fits(self) -> bool:
        """Whether every group fits the buffer under the capacity rule used."""
        return self.peak <= self.accelerator.buffer

    @property
    def on_chip(self) -> dict[str, float]:
        return {key: sum(g.on_chip.get(key, 0.0) for g in self.groups)
                for key in dict.fromkeys(k for g in self.groups for k in g.on_chip)}

    @property
    def energy_pj(self) -> float:
        """DRAM energy over the makespan plus the on-chip energy the description gives."""
        return sum(self.dram_energy.values()) + sum(self.on_chip.values())

    def to_dict(self) -> dict:
        return {"accelerator": self.accelerator.name, "double_buffer": self.double_buffer,
                "dma": self.dma,
                "cycles": self.cycles, "seconds": self.seconds,
                "compute_cycles": self.compute_cycles, "macs": self.macs,
                "utilisation": self.utilisation, "peak": self.peak, "fits": self.fits,
                "energy_pj": self.energy_pj,
                "energy_breakdown": {**{f"dram_{k}": v for k, v in self.dram_energy.items()},
                                     **self.on_chip},
                "groups": [g.to_dict() for g in self.groups]}


def schedules_time(schedules: Sequence[Schedule], accel: Accelerator,
                   double_buffer: bool = False,
                   tensor_of: Sequence[Callable[[str], str] | None] | None = None,
                   held: Sequence[int] | None = None, names=None, dma: str = "dram",
                   energy: bool = True) -> TimeCost:
    """The makespan of ``schedules`` run in order on ``accel`` (a plan's groups, or one
    schedule); ``tensor_of[i]`` places group i's operands (``schedule_transfers``),
    ``held[i]`` entries are resident beside it (they count in its peak). ``dma`` is the DMA
    time model; ``energy=False`` skips the DRAM model where ``dma="bandwidth"``."""
    if dma not in DMA_MODELS:
        raise PolyscanError(f"dma must be one of {', '.join(DMA_MODELS)}, got {dma!r}")
    settings = accel.dram_settings()
    memory = settings.memory()
    tensor_of = tensor_of or [None] * len(schedules)
    spans = [list(schedule_transfers(s, memory, t)) for s, t in zip(schedules, tensor_of)]
    dram = settings.spans_cost(spans) if energy or dma == "dram" else None
    return _timed(schedules, [compute(s, accel) for s in schedules], spans, dram, accel,
                  double_buffer, held, names, dma)


def makespan(schedule: Schedule, accel: Accelerator, double_buffer: bool = False,
             limit: float | None = None) -> TimeCost | None:
    """``schedules_time`` of one schedule, or None as soon as its DRAM time shows that its
    makespan exceeds ``limit`` (serial: the compute plus the DRAM time; overlapped: at least
    the longer of the two). Compute and the DRAM stream are counted once, for both."""
    work = compute(schedule, accel)
    settings = accel.dram_settings()
    span = []  # the transfers, kept as the count streams them (it may stop early)

    def streamed():
        for transfer in schedule_transfers(schedule, settings.memory()):
            span.append(transfer)
            yield transfer
    over = None
    if limit is not None:
        rate = accel.clock_mhz * 1e6

        def over(cost) -> bool:
            dma = cost.seconds * rate
            return (max(work.cycles, dma) if double_buffer else work.cycles + dma) > limit
    dram = settings.spans_cost([streamed()], over)
    if dram is None:
        return None
    time = _timed([schedule], [work], [span], dram, accel, double_buffer)
    return time if limit is None or time.cycles <= limit else None


def _timed(schedules: Sequence[Schedule], works: Sequence[Compute], spans,
           dram: DramCost | None, accel: Accelerator, double_buffer: bool, held=None, names=None,
           dma: str = "dram") -> TimeCost:
    """The timeline of schedules whose compute, transfers and DRAM cost are counted."""
    preset, _ = accel.dram_settings().device()
    groups = []
    for i, (schedule, work, span) in enumerate(zip(schedules, works, spans)):
        if dma == "dram":
            reads, writes = _step_bursts(span, schedule.tiles, preset.burst_bytes)
            bursts = reads.sum() + writes.sum()
            cost = dram.groups[i]
            per_unit = cost.seconds * accel.clock_mhz * 1e6 / bursts if bursts else 0.0
        else:
            reads, writes = _step_bytes(span, schedule.tiles)
            per_unit = 1 / peak_bandwidth(accel)
        steps = Steps(work.per_tile.astype(float), reads * per_unit, writes * per_unit)
        busy, moving = steps.phases(double_buffer)
        lengths = np.maximum(busy, moving) if double_buffer else busy + moving
        bound = lengths[busy >= moving].sum() if double_buffer else busy.sum()
        rows = list(per_tile(schedule))  # one pass of the closed forms for all below
        moved = traffic(schedule, rows)
        peak = double_buffered_peak(schedule, rows) if double_buffer else moved.peak
        groups.append(GroupTime(
            tuple(names[i]) if names else tuple(layer.name for layer in schedule.layers),
            float(lengths.sum()), work, float(moving.sum()),
            peak + (held[i] if held else 0),  # the resident tensors beside the schedule
            float(bound / lengths.sum()) if lengths.sum() else 0.0,
            steps, schedule, held[i] if held else 0, _on_chip(schedule, rows, moved, work,
                                                              accel)))
    seconds = sum(g.cycles for g in groups) / (accel.clock_mhz * 1e6)
    return TimeCost(accel, double_buffer, groups, dram,
                    dram_energy(dram, preset, seconds) if dram else {}, dma)


def peak_bandwidth(accel: Accelerator) -> float:
    """Bytes per accelerator cycle at the DRAM's peak: one burst every BL/2 clocks."""
    preset, _ = accel.dram_settings().device()
    per_ns = preset.burst_bytes / (preset.burst_cycles * preset.tCK)
    return per_ns / (accel.clock_mhz * 1e-3)


def dma_cycles(entries, accel: Accelerator):
    """Accelerator cycles to move ``entries`` at the DRAM's peak bandwidth."""
    return entries * (accel.element_bits / 8) / peak_bandwidth(accel)


def _step_bytes(span: list[Transfer], tiles: int):
    """Bytes read and written at each step of a schedule's transfers."""
    reads, writes = np.zeros(tiles + 1), np.zeros(tiles + 1)
    for transfer in span:
        (writes if transfer.write else reads)[transfer.step] += int(transfer.lengths.sum())
    return reads, writes


def _step_bursts(span: list[Transfer], tiles: int, burst: int):
    """Read and write bursts of each step of a schedule's transfers."""
    reads, writes = np.zeros(tiles + 1), np.zeros(tiles + 1)
    for transfer in span:
        if len(transfer.starts):
            count = int(((transfer.starts + transfer.lengths - 1) // burst -
                         transfer.starts // burst + 1).sum())
            (writes if transfer.write else reads)[transfer.step] += count
    return reads, writes


def dram_energy(dram: DramCost, preset, seconds: float) -> dict[str, float]:
    """The DRAM's energy with its background and refreshes over the makespan (the device
    stands by while the array computes), where that is longer than its own busy time."""
    energy = dict(dram.breakdown)
    if seconds <= dram.seconds:
        return energy
    t = preset.timing
    cycles = seconds / (preset.tCK * 1e-9)
    scale = {d: d.VDD * preset.devices * preset.tCK for d in preset.power}
    energy["background"] = cycles * sum(d.IDD3N * s for d, s in scale.items())
    energy["refresh"] = int(cycles // t["tREFI"]) * t["tRFC"] * sum(
        (d.IDD5 - d.IDD3N) * s for d, s in scale.items())
    return energy


def _on_chip(schedule: Schedule, rows, moved, work: Compute,
             accel: Accelerator) -> dict[str, float]:
    """On-chip energy (pJ) where the description gives it. The array reads every operand's
    footprint from the buffer once per tile and writes every output footprint once per tile
    (what a tile reuses stays in the PEs' registers); the DMA writes what it brings in and
    reads what it takes out; a MAC reads two operands and updates one accumulator in
    registers."""
    energy = accel.energy
    if not energy:
        return {}
    footprints = outputs = 0
    for key, kind, sizes, _, _ in rows:
        if schedule.nest.operands[key].in_buffer:
            footprints += int(sizes.sum())
            if kind in (ACCUMULATE, ONCHIP, EXPORTED):
                outputs += int(sizes.sum())
    reads_from_dram = sum(moved.reads.values())
    writes_to_dram = sum(moved.writes.values())
    result = {"mac": work.macs * energy.get("mac", 0.0),
              "register": 3 * work.macs * energy.get("register", 0.0),
              "buffer_read": (footprints + writes_to_dram) * energy.get("buffer_read", 0.0),
              "buffer_write": (outputs + reads_from_dram) * energy.get("buffer_write", 0.0)}
    return {k: v for k, v in result.items() if k in energy}
