"""Request traces of a schedule or plan for DRAM simulators, one line per burst.

Formats (docs/dram.md says how to replay each):

- ``dramsim2``: ``0x<address> READ|WRITE <cycle>``, DRAMSim2's "mase" trace type, which it
  recognises by the file name: the name must start with ``mase_``;
- ``dramsim3``: ``0x<address> READ|WRITE <cycle>`` (``dramsim3main -t``);
- ``ramulator``: ``0x<address> R|W`` (Ramulator's ``--mode=dram`` trace; it has no time).

Cycle stamps are memory-clock cycles: the bursts of each group are spread evenly over the
cycles the model gives that group (refreshes included), groups one after another, so a
simulator replaying the trace sees the bandwidth the model predicts. The trace is written
in batches (never whole in memory) through ``files.written_text``: whole or not at all,
through symlinks and special files; ``.gz`` compresses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import TraceError
from ...files import written_text
from .model import coalesced
from .stream import batches

FORMATS = ("dramsim2", "dramsim3", "ramulator")
BATCH = 1 << 16  # runs formatted together


@dataclass(frozen=True)
class TraceSummary:
    path: Path
    format: str
    requests: int  # lines written: one per burst
    cycles: int  # the cycle after the last request's group ends
    preset: str  # the device whose clock the cycles count (replay with its device file)


def write_bursts(spans, cost, burst_bytes: int, path: Path, format: str) -> TraceSummary:
    """Write the bursts of ``spans`` (as for ``stream_cost``) whose modeled cost is ``cost``
    (``check_trace_target`` first)."""
    requests, start, last = 0, 0, (-1, False)
    with written_text(path, compress=path.suffix == ".gz") as out:
        for span, group in zip(spans, cost.groups):
            done = 0
            for batch in batches(span, BATCH):
                addresses, writes, last = _bursts(batch, burst_bytes, last)
                cycles = start + (np.arange(done, done + len(addresses)) * group.cycles
                                  // max(group.bursts, 1))
                out.write(_lines(addresses, writes, cycles, format))
                done += len(addresses)
            requests += done
            start += group.cycles
    return TraceSummary(path, format, requests, start, cost.preset)


def check_trace_target(path: Path, format: str):
    """Raise TraceError unless a trace of ``format`` can be written to ``path``."""
    if format not in FORMATS:
        raise TraceError(f"trace format must be one of {', '.join(FORMATS)}, got {format!r}")
    if format == "dramsim2" and not path.name.startswith("mase_"):
        raise TraceError(f"DRAMSim2 takes the trace type from the file name: name the trace "
                         f"mase_<something>, not {path.name!r}")
    if not path.parent.is_dir():
        raise TraceError(f"cannot write {str(path)!r}: no directory {str(path.parent)!r}")


def _bursts(transfers, burst_bytes: int, before: tuple[int, bool]):
    """Burst-aligned address and write flag of every burst of the transfers, in order, a
    burst asked for twice in a row once (``model.coalesced``: what the model counts), and
    the (burst, write) they end with."""
    starts, lengths, write, last = coalesced(transfers, burst_bytes, before)
    first = starts // burst_bytes
    count = (starts + lengths - 1) // burst_bytes - first + 1
    run = np.repeat(np.arange(len(first)), count)
    offset = np.arange(len(run)) - np.repeat(np.cumsum(count) - count, count)
    return (first[run] + offset) * burst_bytes, write[run], last


def _lines(addresses: np.ndarray, writes: np.ndarray, cycles: np.ndarray, format: str) -> str:
    if format == "ramulator":
        kinds = np.where(writes, "W", "R")
        return "".join(f"0x{a:x} {k}\n" for a, k in zip(addresses.tolist(), kinds.tolist()))
    kinds = np.where(writes, "WRITE", "READ")
    return "".join(f"0x{a:x} {k} {c}\n"
                   for a, k, c in zip(addresses.tolist(), kinds.tolist(), cycles.tolist()))
