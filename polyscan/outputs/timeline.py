"""A plan's timeline as a Chrome / Perfetto trace (JSON trace events): per group or per
tile, DMA in, compute and DMA out on three tracks, and the buffer's contents by tensor as
counter tracks. It opens in ui.perfetto.dev and chrome://tracing."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from ..cost.timing import TimeCost
from ..cost.traffic import buffer_contents
from ..files import written_text
from ..model.nest import ACCUMULATE, EXPORTED, ONCHIP, TensorKey

TRACKS = {"DMA in": 1, "compute": 2, "DMA out": 3}
ROLES = ("weights", "input activations", "on-chip intermediates", "outputs",
         "resident tensors")
MAX_TILE_EVENTS = 200_000  # beyond this many tiles, one event per group and track


@dataclass
class Occupancy:
    """What one group holds in the buffer while each of its tiles computes."""

    layers: tuple[str, ...]
    at: np.ndarray  # cycle at which each tile starts computing
    end: float  # cycle at which the group ends (its last tile's outputs written out)
    contents: dict[str, np.ndarray]  # entries per tile, by tensor key
    roles: dict[str, str]  # tensor key -> one of ROLES
    held: int  # entries resident beside the schedule (DESIGN 6b)


def occupancy(time: TimeCost) -> list[Occupancy]:
    """The buffer's contents over the makespan of ``time``, group by group (double-buffered:
    with the next tile's arrivals and the previous tile's leavings, so the largest sum over
    a group's tiles plus ``held`` is its peak)."""
    return [_occupancy(phase, time.double_buffer) for phase in _phases(time)
            if phase.group.schedule is not None]


@dataclass
class _Phase:
    group: object  # GroupTime
    begins: np.ndarray  # start cycle of each phase (double-buffered) or tile
    dma: np.ndarray  # DMA cycles of each
    end: float


def _phases(time: TimeCost):
    start = 0.0
    for group in time.groups:
        busy, dma = group.steps.phases(time.double_buffer)
        lengths = np.maximum(busy, dma) if time.double_buffer else busy + dma
        begins = start + np.concatenate([[0.0], np.cumsum(lengths)[:-1]])
        start += float(lengths.sum())
        yield _Phase(group, begins, dma, start)


def timeline_events(time: TimeCost, per: str = "tile") -> list[dict]:
    """The trace events of ``time`` (``per="tile"`` or ``"group"``); times in us."""
    scale = 1 / time.accelerator.clock_mhz  # cycles -> us
    tiles = sum(len(g.steps.compute) for g in time.groups)
    if per == "tile" and tiles > MAX_TILE_EVENTS:
        per = "group"
    events = [{"name": "thread_name", "ph": "M", "pid": 1, "tid": tid,
               "args": {"name": name}} for name, tid in TRACKS.items()]
    events.append({"name": "process_name", "ph": "M", "pid": 1,
                   "args": {"name": f"{time.accelerator.name}"
                                    f"{' (double-buffered)' if time.double_buffer else ''}"}})
    for index, phase in enumerate(_phases(time)):
        group, name = phase.group, "+".join(phase.group.layers)
        if per == "group":
            start = float(phase.begins[0])
            events.append(_event(name, "compute", start, phase.end - start, scale,
                                 {"group": index, "compute_cycles": group.compute.cycles,
                                  "dma_cycles": group.dma_cycles,
                                  "utilisation": group.compute.utilisation}))
        else:
            events += _tile_events(name, group, phase.begins, time.double_buffer, scale)
        if group.schedule is not None:
            events += _counters(_occupancy(phase, time.double_buffer), scale)
    return events


def _tile_events(name, group, begins, double_buffer, scale) -> list[dict]:
    steps, events = group.steps, []
    n = len(steps.compute)
    for p, begin in enumerate(begins.tolist()):
        if double_buffer:  # phase p: tile p-1 computes, tile p reads, tile p-2's writes
            reads = steps.reads[p] if p < n else 0.0
            writes = steps.writes[p - 1] if p >= 1 else 0.0
            parts = [("DMA in", begin, reads, p), ("DMA out", begin + reads, writes, p - 2)]
            if 1 <= p <= n:
                parts.append(("compute", begin, steps.compute[p - 1], p - 1))
        else:  # tile p: the previous tile's writes, its reads, its compute
            writes, reads = steps.writes[p], steps.reads[p]
            parts = [("DMA out", begin, writes, p - 1), ("DMA in", begin + writes, reads, p)]
            if p < n:
                parts.append(("compute", begin + writes + reads, steps.compute[p], p))
        events += [_event(f"{name} tile {tile}", track, at, length, scale, {"tile": tile})
                   for track, at, length, tile in parts if length > 0]
    return events


def _occupancy(phase: _Phase, double_buffer: bool) -> Occupancy:
    group = phase.group
    n = len(group.steps.compute)
    at = phase.begins[1:n + 1] if double_buffer else phase.begins[:n] + phase.dma[:n]
    contents = buffer_contents(group.schedule, double_buffer)
    return Occupancy(group.layers, at, phase.end, {str(k): v for k, v in contents.items()},
                     {str(k): _role(group.schedule, k) for k in contents}, group.held)


def _role(schedule, key) -> str:
    """What an operand of a schedule is, for the occupancy plot."""
    kind = schedule.nest.operands[key].kind
    if kind in (ONCHIP, EXPORTED):
        return "on-chip intermediates"
    if kind == ACCUMULATE:
        return "outputs"
    layers = {layer.name: layer for layer in schedule.layers}
    layer = layers[key.layer] if isinstance(key, TensorKey) else schedule.layer
    tensor = layer.tensors[key.tensor if isinstance(key, TensorKey) else key]
    return "weights" if tensor.role == "weight" else "input activations"


def _counters(held: Occupancy, scale) -> list[dict]:
    """The buffer's entries by tensor as a counter track."""
    sizes = dict(held.contents)
    if held.held:
        sizes["resident tensors"] = np.full(len(held.at), held.held)
    events = [{"name": "buffer entries", "ph": "C", "pid": 1, "ts": float(t) * scale,
               "args": {key: int(v[k]) for key, v in sizes.items()}}
              for k, t in enumerate(held.at.tolist())]
    events.append({"name": "buffer entries", "ph": "C", "pid": 1, "ts": held.end * scale,
                   "args": dict.fromkeys(sizes, 0)})
    return events


def _event(name, track, start, length, scale, args) -> dict:
    return {"name": name, "ph": "X", "pid": 1, "tid": TRACKS[track], "ts": start * scale,
            "dur": float(length) * scale, "args": args}


def write_timeline(time: TimeCost, path, per: str = "tile") -> int:
    """Write the trace of ``time`` to ``path`` (whole or not at all); returns its events."""
    events = timeline_events(time, per)
    with written_text(path) as out:
        json.dump({"traceEvents": events, "displayTimeUnit": "ns",
                   "otherData": {"cycles": time.cycles, "accelerator": time.accelerator.name,
                                 "double_buffer": time.double_buffer}}, out)
    return len(events)
