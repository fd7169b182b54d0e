"""DRAM energy and time of schedules and plans, and traces for DRAM simulators.

``dram_cost(plan_or_schedule, preset="ddr3-1600", element_bits=8, layout="CHW",
mapping="row:bank:column", alignment=4096)`` places every DRAM tensor, turns the schedule's
per-tile transfers into address runs (``stream``), and runs the open-page model
(``model``). ``write_trace`` streams the same bursts to a DRAMSim2, DRAMSim3 or Ramulator
trace file. See docs/dram.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...model.nest import TensorKey
from ...outputs.trace import FORMATS, TraceError, TraceSummary, check_trace_target, write_bursts
from .memory import Memory
from .model import AddressMapping, DramCost, stream_cost
from .presets import DramPreset, PresetError, builtin_presets, load_preset
from .stream import schedule_transfers

__all__ = ["FORMATS", "DramCost", "DramPreset", "DramSettings", "PresetError", "TraceError",
           "TraceSummary", "builtin_presets", "dram_cost", "load_preset", "write_trace"]


@dataclass(frozen=True)
class DramSettings:
    """How tensors sit in DRAM and which device serves them."""

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

    def cost(self, subject, over=None) -> DramCost | None:
        """``dram_cost`` of a schedule or plan under these settings; ``over(partial cost)``
        may stop the count early (None) when the caller only needs to know it is too high."""
        device, mapping = self.device()
        return stream_cost(spans(subject, self.memory()), device, mapping, over)

    def write_trace(self, subject, path, format: str = "dramsim3") -> TraceSummary:
        """``write_trace`` under these settings."""
        path = Path(path)
        check_trace_target(path, format)
        device, _ = self.device()
        return write_bursts(spans(subject, self.memory()), self.cost(subject),
                            device.burst_bytes, path, format)


def dram_cost(subject, preset: str = "ddr3-1600", element_bits: int = 8,
              layout: str = "CHW", mapping: str = "row:bank:column",
              alignment: int = 4096) -> DramCost:
    """Energy, time and row-buffer figures of a schedule, or of a plan (with ``groups``)."""
    return DramSettings(preset, element_bits, layout, mapping, alignment).cost(subject)


def write_trace(subject, path, format: str = "dramsim3", preset: str = "ddr3-1600",
          element_bits: int = 8, layout: str = "CHW", mapping: str = "row:bank:column",
          alignment: int = 4096) -> TraceSummary:
    """Write the DRAM requests of a schedule or plan as a trace for DRAMSim2 (``"dramsim2"``),
    DRAMSim3 (``"dramsim3"``) or Ramulator (``"ramulator"``); a ``.gz`` path compresses it."""
    return DramSettings(preset, element_bits, layout, mapping, alignment).write_trace(
        subject, path, format)


def spans(subject, memory: Memory):
    """The transfers of a schedule (one span) or of each group of a plan (one span each),
    tensors placed once in ``memory`` and shared by the groups that read and write them."""
    groups = getattr(subject, "groups", None)
    if groups is None:
        return [schedule_transfers(subject, memory)]
    return [schedule_transfers(g.schedule, memory, _tensor_names(subject.net, g.layers))
            for g in groups]


def _tensor_names(net, layers: tuple[str, ...]):
    """Operand key of a group -> the network tensor it is (every operand bound to one
    network tensor shares its placement: a Concat's slices, a residual and its producer)."""
    def name(key: str) -> str:
        layer, tensor = (layers[0], key) if len(layers) == 1 else (key.layer, key.tensor)
        return net.bindings[TensorKey(layer, tensor)]
    return name
