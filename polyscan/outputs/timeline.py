"""A plan's timeline as a Chrome / Perfetto trace (JSON trace events): per group or per
tile, DMA in, compute and DMA out on three tracks, and the buffer's contents by tensor as
counter tracks. It opens in ui.perfetto.dev and chrome://tracing."""

from __future__ import annotations

import json

import numpy as np

from ..cost.timing import TimeCost
from ..cost.traffic import per_tile
from ..files import written_text

TRACKS = {"DMA in": 1, "compute": 2, "DMA out": 3}
MAX_TILE_EVENTS = 200_000  # beyond this many tiles, one event per group and track


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
    start = 0.0
    for index, group in enumerate(time.groups):
        name = "+".join(group.layers)
        busy, dma = group.steps.phases(time.double_buffer)
        lengths = np.maximum(busy, dma) if time.double_buffer else busy + dma
        begins = start + np.concatenate([[0.0], np.cumsum(lengths)[:-1]])
        if per == "group":
            end = start + float(lengths.sum())
            events.append(_event(name, "compute", start, end - start, scale,
                                 {"group": index, "compute_cycles": group.compute.cycles,
                                  "dma_cycles": group.dma_cycles,
                                  "utilisation": group.compute.utilisation}))
        else:
            events += _tile_events(name, group, begins, time.double_buffer, scale)
        events += _occupancy(group, begins, busy, dma, time.double_buffer, scale)
        start += float(lengths.sum())
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


def _occupancy(group, begins, busy, dma, double_buffer, scale) -> list[dict]:
    """The buffer's entries by tensor while each tile computes (counter tracks)."""
    if group.schedule is None:
        return []
    n = len(group.steps.compute)
    at = begins[1:n + 1] if double_buffer else begins[:n] + dma[:n]
    sizes = {str(key): values for key, _, values, _, _ in per_tile(group.schedule)
             if group.schedule.nest.operands[key].in_buffer}
    if group.held:
        sizes["resident tensors"] = np.full(n, group.held)
    events = [{"name": "buffer entries", "ph": "C", "pid": 1, "ts": float(t) * scale,
               "args": {key: int(v[k]) for key, v in sizes.items()}}
              for k, t in enumerate(at.tolist())]
    end = float(at[-1] + busy[-1 if not double_buffer else n]) if n else 0.0
    events.append({"name": "buffer entries", "ph": "C", "pid": 1, "ts": end * scale,
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
