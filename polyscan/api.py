"""The public functions that join layers: a network optimized with a progress bar, and the
DRAM figures and traces of a schedule or a plan alike. Everything else ``polyscan`` exports
is a name of its own layer (``polyscan/__init__.py``)."""

from __future__ import annotations

from pathlib import Path

from .cost.accelerator import Accelerator, load_accelerator
from .cost.dram import DramCost, DramSettings
from .cost.dram.stream import schedule_transfers
from .cost.dram.trace import TraceSummary, check_trace_target, write_bursts
from .cost.timing import TimeCost, schedules_time
from .errors import PolyscanError
from .model.schedule import Schedule
from .network import partition
from .network.graph import Network
from .network.plan import Plan
from .outputs.progress import progress_bar
from .search.optimizer import SEARCHABLE
from .sweep.cluster import run_grid
from .sweep.grid import Grid


def optimize_network(net: Network, buffer: int = 65536, fusion: bool = True,
                     traversals=SEARCHABLE, progress=None, max_group: int = 8,
                     objective: str = "traffic", dram: DramSettings | None = None,
                     resident: bool | None = None, accel: Accelerator | str | None = None,
                     double_buffer: bool = False) -> Plan:
    """``network.partition.optimize_network``: the network's optimal plan under ``buffer``.
    ``progress``: True or False for a bar on stderr, None for one when it is a terminal, or
    a ``(done, total, description)`` callback of your own. ``resident=False`` sends every
    tensor between groups through DRAM (no tensor stays resident, DESIGN 6b); by default
    tensors may stay resident when layers may fuse. ``accel`` (an ``Accelerator``, a
    built-in name or a file) is what ``objective="latency"`` times the groups on;
    ``double_buffer=True`` holds them to the double-buffered peak (docs/time.md)."""
    if accel is not None and not isinstance(accel, Accelerator):
        accel = load_accelerator(accel)
    if callable(progress):
        return partition.optimize_network(net, buffer, fusion, traversals, progress,
                                          max_group, objective, dram, resident, accel,
                                          double_buffer)
    with progress_bar(progress) as report:
        return partition.optimize_network(net, buffer, fusion, traversals, report,
                                          max_group, objective, dram, resident, accel,
                                          double_buffer)


def dram_cost(subject, preset: str = "ddr3-1600", element_bits: int = 8,
              layout: str = "CHW", mapping: str = "row:bank:column",
              alignment: int = 4096) -> DramCost:
    """Energy, time and row-buffer figures of a schedule or a plan (docs/dram.md)."""
    settings = DramSettings(preset, element_bits, layout, mapping, alignment)
    return subject.dram_cost(settings) if isinstance(subject, Plan) else \
        settings.cost(_schedule(subject, "dram_cost"))


def timing(subject, accel: Accelerator | str = "zigzag-like", double_buffer: bool = False,
           dma: str = "dram") -> TimeCost:
    """Makespan, compute cycles, utilisation and total energy of a schedule or a plan on an
    accelerator (an ``Accelerator``, a built-in name or a description file), with DMA time
    from the DRAM model's row buffers (``dma="dram"``) or at its peak bandwidth
    (``"bandwidth"``, what ``objective="latency"`` minimises; docs/time.md)."""
    if not isinstance(accel, Accelerator):
        accel = load_accelerator(accel)
    if not isinstance(double_buffer, bool):
        raise PolyscanError(f"double_buffer must be True or False, got {double_buffer!r}")
    if isinstance(subject, Plan):
        return subject.time(accel, double_buffer, dma)
    return schedules_time([_schedule(subject, "timing")], accel, double_buffer, dma=dma)


def write_trace(subject, path, format: str = "dramsim3", preset: str = "ddr3-1600",
                element_bits: int = 8, layout: str = "CHW", mapping: str = "row:bank:column",
                alignment: int = 4096) -> TraceSummary:
    """Write the DRAM requests of a schedule or plan as a trace for DRAMSim2 (``"dramsim2"``),
    DRAMSim3 (``"dramsim3"``) or Ramulator (``"ramulator"``); a ``.gz`` path compresses it."""
    settings = DramSettings(preset, element_bits, layout, mapping, alignment)
    if isinstance(subject, Plan):
        return subject.write_trace(path, format, settings)
    subject, path = _schedule(subject, "write_trace"), Path(path)
    check_trace_target(path, format)
    return write_bursts([schedule_transfers(subject, settings.memory())],
                        settings.cost(subject), settings.device()[0].burst_bytes, path, format)


def _schedule(subject, call: str) -> Schedule:
    """``subject`` if it is a schedule (a plan was handled before); else a clear error."""
    if not isinstance(subject, Schedule):
        raise PolyscanError(f"{call} takes a Schedule, FusedSchedule or Plan, got "
                            f"{type(subject).__name__}")
    return subject


def sweep(grid: Grid, out=None, workers: int | None = None, scheduler: str | None = None,
          plans=None, progress=None) -> list[dict]:
    """``sweep.cluster.run_grid``: every point of ``grid`` optimized (on Dask), a row each;
    ``out`` the results table (.parquet or .csv) kept and resumed. ``progress`` as in
    ``optimize_network``."""
    if callable(progress):
        return run_grid(grid, out, workers, scheduler, plans, progress)
    with progress_bar(progress) as report:
        return run_grid(grid, out, workers, scheduler, plans, report)
