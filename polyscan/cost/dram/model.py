"""DRAM energy and time of a transfer stream: open-page row buffers, one per bank.

Address mapping: fields from most to least significant (``"row:bank:column"``, the default;
``"bank:row:column"``; ``"row:column:bank"`` interleaves banks burst by burst), the byte
offset within a burst always lowest. A run of addresses is cut into *segments* that stay in
one bank and row (a row's worth of bytes when the column field is lowest, one burst
otherwise). A segment's first burst hits the row buffer if its bank still has that row open
(an activation otherwise); the rest of a segment's bursts hit. Bursts are aligned to the
burst size, and a burst the stream asks for twice in a row (two runs sharing a boundary
burst) is moved once (``coalesced``).

Refreshes fall on the stream's timeline, one every tREFI cycles from its start (the bursts
of each span spread evenly over its cycles, as traces stamp them), and each closes every
bank: a segment it interrupts, and a bank's next segment that would have hit, activate
again.

Energy, in the manner of DRAMSim2 (and DRAMPower's core terms), per device and voltage
domain, currents in mA times cycles times tCK times VDD giving pJ:

    activation = ACT x (IDD0 tRC - IDD3N tRAS - IDD2N (tRC - tRAS))
    read       = read bursts  x (IDD4R - IDD3N) x BL/2
    write      = write bursts x (IDD4W - IDD3N) x BL/2
    refresh    = refreshes    x (IDD5  - IDD3N) x tRFC
    background = cycles x IDD3N                 (open page: a row is always open)

Time, for a stream that a controller overlaps across banks (documented in docs/dram.md):
``cycles = max(bus, per bank max(ACT x tRC, ACT x (tRP + tRCD) + BL/2 + (bursts - 1) x
max(BL/2, tCCD_L)), ACT x tFAW / 4, ACT x tRRD, per bank group ACT x tRRD_L) + CL``, plus
``tRFC`` per refresh, where ``bus`` is BL/2 a burst and tCCD_L for a burst that the
controller's reorder window sends right after one of its own bank group (DDR4,
``queue.repeats``; tCCD_L = BL/2 and one group elsewhere).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from ...errors import PolyscanError
from . import queue
from .presets import DramPreset
from .stream import Transfer, batches

FIELDS = ("row", "bank", "column")
BATCH = 1 << 14  # runs counted in one numpy pass
FIRST_CHECK = 1 << 10  # runs before a count that may stop early first checks


@dataclass
class DramCost:
    """Energy, time and row-buffer figures of a transfer stream (a schedule, a group, a plan)."""

    preset: str
    energy_pj: float
    breakdown: dict[str, float]  # activation, read, write, refresh, background (pJ)
    cycles: int
    seconds: float
    bursts: int
    read_bursts: int
    write_bursts: int
    activations: int
    bytes: int  # bytes the bursts carry (aligned: at least the data moved)
    refreshes: int = 0  # on the stream's timeline (a REF every tREFI from its start)
    groups: list[DramCost] = field(default_factory=list)  # per group of a plan

    def figure(self, objective: str) -> float:
        """The figure an objective minimises: ``"energy"`` (pJ) or ``"latency"`` (cycles)."""
        return self.energy_pj if objective == "energy" else self.cycles

    @property
    def row_hit_rate(self) -> float:
        return 1 - self.activations / self.bursts if self.bursts else 1.0

    @property
    def bandwidth(self) -> float:
        """Achieved bytes per second."""
        return self.bytes / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict:
        return {"preset": self.preset, "energy_pj": self.energy_pj,
                "breakdown": self.breakdown, "cycles": self.cycles, "seconds": self.seconds,
                "row_hit_rate": self.row_hit_rate, "bandwidth": self.bandwidth,
                "bursts": self.bursts, "activations": self.activations, "bytes": self.bytes,
                "refreshes": self.refreshes}


class AddressMapping:
    """Bank and row of addresses, from a field order such as ``"row:bank:column"``."""

    def __init__(self, preset: DramPreset, order: str = "row:bank:column"):
        fields = order.split(":")
        if sorted(fields) != sorted(FIELDS):
            raise PolyscanError(f"address mapping must order row, bank and column, e.g. "
                                f"'row:bank:column', got {order!r}")
        self.order = fields
        self.burst = preset.burst_bytes
        self.radix = {"row": preset.rows, "bank": preset.banks,
                      "column": preset.row_bytes // preset.burst_bytes}
        # bytes over which bank and row stay constant
        self.unit = preset.row_bytes if fields[-1] == "column" else preset.burst_bytes

    def locate(self, addresses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(bank, row) of each address."""
        rest = addresses // self.burst
        values = {}
        for name in reversed(self.order):
            values[name] = rest % self.radix[name]
            rest = rest // self.radix[name]
        return values["bank"], values["row"]


def coalesced(transfers: list[Transfer], burst: int, before: tuple[int, bool] = (-1, False)):
    """``(starts, lengths, write, last)`` of the transfers' runs with each burst moved once
    where the stream asks for it twice in a row: a run that begins in the burst the request
    just before it ended in, in the same direction, starts at the next burst (a run lying
    wholly in that burst is dropped). A DMA engine moves a transfer's bursts, not its runs,
    and combines back-to-back requests to one burst (as DRAMsim3's queues do); the tiles of
    a 7-wide map put several rows in one burst. ``before`` is the (burst, write) the stream
    ended with so far; ``last``, the same after these transfers."""
    starts = np.concatenate([t.starts for t in transfers])
    lengths = np.concatenate([t.lengths for t in transfers])
    write = np.repeat([t.write for t in transfers], [len(t.starts) for t in transfers])
    if not len(starts):
        return starts, lengths, write, before
    first, final = starts // burst, (starts + lengths - 1) // burst
    shared = np.concatenate([[first[0] == before[0] and write[0] == before[1]],
                             (first[1:] == final[:-1]) & (write[1:] == write[:-1])])
    last = (int(final[-1]), bool(write[-1]))
    if shared.any():
        ends = starts + lengths
        starts = np.where(shared, (first + 1) * burst, starts)
        lengths = ends - starts
        kept = lengths > 0
        starts, lengths, write = starts[kept], lengths[kept], write[kept]
    return starts, lengths, write, last


class Counter:
    """Row-buffer state across a stream, with counts per bank for the current span.

    Refreshes fall on the plan's timeline (every tREFI cycles from the stream's start),
    and each closes every bank: the segment it interrupts, and a bank's first segment after
    it, activate their rows again, even where they would have hit. A span's bursts sit on
    its cycles evenly spread, as the traces stamp them; the span's segments are kept until
    its end to place the refreshes (25 bytes each)."""

    def __init__(self, preset: DramPreset, mapping: AddressMapping):
        self.preset, self.mapping = preset, mapping
        self.open_row = np.full(preset.banks, -1, dtype=np.int64)
        self.start = 0  # the stream's cycle at which the current span starts
        self.last_burst = (-1, False)  # the stream's last burst so far, and its direction
        self.reset()

    def reset(self):
        banks = self.preset.banks
        self.bursts = np.zeros(banks, dtype=np.int64)
        self.activations = np.zeros(banks, dtype=np.int64)
        self.reads = self.writes = self.bytes = 0
        self.bus = 0  # data-bus cycles: BL/2 a burst (tCCD_L repeats added at the end)
        self.groups: list[tuple[np.ndarray, np.ndarray]] = []  # DDR4: per batch, the bank
        # group and bursts of each segment in stream order
        self.segments: list[tuple[np.ndarray, ...]] = []  # per batch, for refreshes:
        # (first burst's position in the span, bursts, bank, hit) of each segment

    def add(self, transfers: Iterable[Transfer]):
        """Count a batch of transfers, in order (one numpy pass for the whole batch: the
        row-buffer state only depends on the order of segments within each bank)."""
        batch = [t for t in transfers if len(t.starts)]
        if not batch:
            return
        starts, lengths, write, self.last_burst = coalesced(batch, self.mapping.burst,
                                                            self.last_burst)
        if not len(starts):
            return  # every run in bursts just moved
        bursts = (starts + lengths - 1) // self.mapping.burst - starts // self.mapping.burst + 1
        self.bytes += int(bursts.sum()) * self.mapping.burst
        self.writes += int(bursts[write].sum())
        self.reads += int(bursts[~write].sum())
        segments, segment_bursts = self._segments(starts, lengths)
        bank, row = self.mapping.locate(segments)
        self._bus(bank, segment_bursts)
        position = self.reads + self.writes - np.cumsum(segment_bursts[::-1])[::-1]
        order = np.argsort(bank, kind="stable")
        bank, row, segment_bursts = bank[order], row[order], segment_bursts[order]
        first = np.ones(len(bank), dtype=bool)
        first[1:] = bank[1:] != bank[:-1]
        before = np.where(first, self.open_row[bank], np.roll(row, 1))
        banks = self.preset.banks
        self.activations += np.bincount(bank, row != before, banks).astype(np.int64)
        self.bursts += np.bincount(bank, segment_bursts, banks).astype(np.int64)
        last = np.ones(len(bank), dtype=bool)
        last[:-1] = bank[1:] != bank[:-1]
        self.open_row[bank[last]] = row[last]
        self.segments.append((position[order], segment_bursts, bank, row == before))

    def _bus(self, bank: np.ndarray, segment_bursts: np.ndarray):
        """Data-bus cycles: BL/2 a burst; on DDR4, the segments' bank groups in stream order
        are kept for the span's end, where ``queue.repeats`` adds tCCD_L - BL/2 for each
        burst the controller's window sends right after one of its own group."""
        p = self.preset
        self.bus += int(segment_bursts.sum()) * p.burst_cycles
        if p.timing["tCCD_L"] > p.burst_cycles:
            self.groups.append((bank % p.bank_groups, segment_bursts))

    def _repeat_cycles(self, final: bool) -> int:
        """tCCD_L cycles of the span's repeats, once it is complete (``final``); a partial
        count charges none (a lower bound)."""
        p = self.preset
        if not final or not self.groups:
            return 0
        groups, bursts = (np.concatenate(c) for c in zip(*self.groups))
        return (p.timing["tCCD_L"] - p.burst_cycles) * queue.repeats(
            groups, bursts, p.queue, p.bank_groups)

    def cost(self, final: bool = False) -> DramCost:
        """Energy and time of the counts since the last reset. Only a ``final`` count (the
        span's end) re-activates after refreshes and moves the timeline on (a partial count
        stays a lower bound of the span's)."""
        p, t = self.preset, self.preset.timing
        acts = self.activations.copy()
        bus = self.bus + self._repeat_cycles(final)
        cycles, refreshes = self._cycles(acts, bus)
        if final and refreshes and self.segments:
            acts += self._reactivations(cycles)
            cycles, refreshes = self._cycles(acts, bus)
            self._close_after_last_refresh(cycles)
        if final:
            self.start += cycles
        bursts, total_acts = int(self.bursts.sum()), int(acts.sum())
        energy = dict.fromkeys(("activation", "read", "write", "refresh", "background"), 0.0)
        for d in p.power:
            scale = d.VDD * p.devices * p.tCK  # mA x cycles -> pJ
            energy["activation"] += total_acts * (d.IDD0 * t["tRC"] - d.IDD3N * t["tRAS"]
                                                  - d.IDD2N * (t["tRC"] - t["tRAS"])) * scale
            energy["read"] += self.reads * (d.IDD4R - d.IDD3N) * p.burst_cycles * scale
            energy["write"] += self.writes * (d.IDD4W - d.IDD3N) * p.burst_cycles * scale
            energy["refresh"] += refreshes * (d.IDD5 - d.IDD3N) * t["tRFC"] * scale
            energy["background"] += cycles * d.IDD3N * scale
        return DramCost(p.name, sum(energy.values()), energy, int(cycles),
                        cycles * p.tCK * 1e-9, bursts, self.reads, self.writes, total_acts,
                        self.bytes, refreshes=refreshes)

    def _cycles(self, acts: np.ndarray, bus: int) -> tuple[int, int]:
        """(cycles, refreshes) of the span: the busiest of data bus, banks and activation
        windows, plus tRFC for each refresh that falls in it on the stream's timeline. A
        bank's bursts share its bank group: tCCD_L apart."""
        p, t = self.preset, self.preset.timing
        total = int(acts.sum())
        spacing = max(0, t["tCCD_L"] - p.burst_cycles)
        busy = np.maximum(acts * t["tRC"], acts * (t["tRP"] + t["tRCD"]) + self.bursts *
                          p.burst_cycles + np.maximum(self.bursts - 1, 0) * spacing)
        per_group = np.bincount(np.arange(p.banks) % p.bank_groups, acts, p.bank_groups)
        cycles = max(bus, int(busy.max(initial=0)),
                     -(-total * t["tFAW"] // 4), total * t["tRRD"],
                     int(per_group.max()) * t["tRRD_L"]) + \
            t["CL"] * (self.bursts.sum() > 0)
        before, refreshes = self.start // t["tREFI"], 0
        while True:  # tRFC < tREFI: settles within a few rounds
            more = (self.start + cycles + refreshes * t["tRFC"]) // t["tREFI"] - before
            if more == refreshes:
                return cycles + refreshes * t["tRFC"], refreshes
            refreshes = more

    def _refresh_positions(self, cycles: int) -> np.ndarray:
        """Position in the span's bursts of the first burst after each refresh in it."""
        t, bursts = self.preset.timing, self.reads + self.writes
        first = self.start // t["tREFI"] + 1
        times = np.arange(first, (self.start + cycles) // t["tREFI"] + 1) * t["tREFI"] - \
            self.start
        return -(-times * bursts // max(cycles, 1))

    def _reactivations(self, cycles: int) -> np.ndarray:
        """Per bank, the activations refreshes add: a segment a refresh interrupts opens
        its row again, and so does a bank's first segment after a refresh where it would
        have hit (once, however many refreshes pass while the bank is idle)."""
        refreshes = self._refresh_positions(cycles)
        extra = np.zeros(self.preset.banks, dtype=np.int64)
        position, bursts, bank, hit = (np.concatenate(c) for c in zip(*self.segments))
        for b in np.unique(bank):
            mine = np.flatnonzero(bank == b)
            mine = mine[np.argsort(position[mine], kind="stable")]
            starts, ends = position[mine], position[mine] + bursts[mine]
            inside = np.searchsorted(starts, refreshes, side="right") - 1  # last start <= p
            interrupted = (inside >= 0) & (starts[np.maximum(inside, 0)] < refreshes) & \
                (ends[np.maximum(inside, 0)] > refreshes)
            following = np.unique(np.searchsorted(starts, refreshes[~interrupted]))
            following = following[following < len(mine)]
            extra[b] = int(interrupted.sum()) + int(hit[mine[following]].sum())
        return extra

    def _close_after_last_refresh(self, cycles: int):
        """Banks not used since the span's last refresh end the span closed."""
        refreshes = self._refresh_positions(cycles)
        if not len(refreshes) or not self.segments:
            return
        position, bursts, bank, _ = (np.concatenate(c) for c in zip(*self.segments))
        used = np.zeros(self.preset.banks, dtype=bool)
        used[bank[position + bursts > refreshes[-1]]] = True
        self.open_row[~used] = -1

    def _segments(self, starts, lengths) -> tuple[np.ndarray, np.ndarray]:
        """Split runs at bank/row boundaries: (start address, bursts) of each segment."""
        unit, burst = self.mapping.unit, self.mapping.burst
        first_unit = starts // unit
        last_unit = (starts + lengths - 1) // unit
        pieces = last_unit - first_unit + 1
        if (pieces == 1).all():
            return starts, (starts + lengths - 1) // burst - starts // burst + 1
        run = np.repeat(np.arange(len(starts)), pieces)
        index = np.arange(len(run)) - np.repeat(np.cumsum(pieces) - pieces, pieces)
        low = np.maximum(starts[run], (first_unit[run] + index) * unit)
        high = np.minimum(starts[run] + lengths[run], (first_unit[run] + index + 1) * unit)
        return low, (high - 1) // burst - low // burst + 1


def stream_cost(spans: Iterable[Iterable[Transfer]], preset: DramPreset,
                mapping: AddressMapping, over=None) -> DramCost | None:
    """Cost of consecutive spans (the groups of a plan) sharing one row-buffer state; the
    total is their sum (spans run one after the other).

    ``over(cost)`` may end the count early (returning None) once the cost so far is too
    high: every term grows with the transfers, so a partial cost is a lower bound."""
    counter = Counter(preset, mapping)
    groups = []
    for span in spans:
        counter.reset()
        for batch in batches(span, BATCH, None if over is None else FIRST_CHECK):
            counter.add(batch)
            if over is not None and over(_total(preset, groups + [counter.cost()])):
                return None
        groups.append(counter.cost(final=True))
    return _total(preset, groups)


def _total(preset: DramPreset, groups: list[DramCost]) -> DramCost:
    return DramCost(preset.name, sum(g.energy_pj for g in groups),
                    {k: sum(g.breakdown[k] for g in groups) for k in groups[0].breakdown},
                    sum(g.cycles for g in groups), sum(g.seconds for g in groups),
                    *(sum(getattr(g, k) for g in groups) for k in
                      ("bursts", "read_bursts", "write_bursts", "activations", "bytes",
                       "refreshes")),
                    groups=groups)
