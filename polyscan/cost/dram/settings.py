"""Which device serves the tensors and how they sit in DRAM: the settings every DRAM figure
(energy, time, traces) is computed under."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from ...model.schedule import Schedule
from .memory import Memory
from .model import AddressMapping, DramCost, stream_cost
from .presets import DramPreset, load_preset
from .stream import Transfer, schedule_transfers


@dataclass(frozen=True)
class DramSettings:
    """Device preset, element width and data layout (docs/dram.md)."""

    preset: str = "ddr3-1600"
    element_bits: int = 8
    layout: str = "CHW"
    mapping: str = "row:bank:column"
    alignment: int = 4096

    def __post_init__(self):
        self.device(), self.memory()  # bad settings fail here, before any long search

    def device(self) -> tuple[DramPreset, AddressMapping]:
        preset = load_preset(self.preset)
        return preset, AddressMapping(preset, self.mapping)

    def memory(self) -> Memory:
        return Memory(self.element_bits, self.layout, self.alignment)

    def cost(self, schedule: Schedule, over=None) -> DramCost | None:
        """Energy and time of one schedule; ``over(partial cost)`` may stop the count early
        (None) when the caller only needs to know it is too high."""
        return self.spans_cost([schedule_transfers(schedule, self.memory())], over)

    def least_cost(self, objective: str, entries: int) -> float:
        """Least cost of moving ``entries`` elements (as one span: a schedule, a group): the
        entries for traffic; for energy and time, whole bursts at the cheapest burst energy
        (or the burst time), and the CAS latency the span's time ends with (at background
        current), which bounds the many small groups of a plan far closer."""
        if objective == "traffic":
            return entries
        preset, _ = self.device()
        bursts = math.ceil(entries * (self.element_bits / 8 / preset.burst_bytes))
        if not bursts:
            return 0
        latency = preset.timing["CL"]
        if objective == "latency":
            return bursts * preset.burst_cycles + latency
        return preset.tCK * preset.devices * sum(
            (bursts * preset.burst_cycles * min(d.IDD4R, d.IDD4W) + latency * d.IDD3N) * d.VDD
            for d in preset.power)

    def spans_cost(self, spans: list[Iterable[Transfer]], over=None) -> DramCost | None:
        """Energy and time of consecutive spans of transfers (a plan's groups, in order)."""
        device, mapping = self.device()
        return stream_cost(spans, device, mapping, over)
