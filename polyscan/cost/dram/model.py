"""DRAM energy and time of a transfer stream: open-page row buffers, one per bank.

Address mapping: fields from most to least significant (``"row:bank:column"``, the default;
``"bank:row:column"``; ``"row:column:bank"`` interleaves banks burst by burst), the byte
offset within a burst always lowest. A run of addresses is cut into *segments* that stay in
one bank and row (a row's worth of bytes when the column field is lowest, one burst
otherwise). A segment's first burst hits the row buffer if its bank still has that row open
(an activation otherwise); the rest of a segment's bursts hit. Bursts are counted per run
(a DMA request per run), aligned to the burst size.

Energy, in the manner of DRAMSim2 (and DRAMPower's core terms), per device and voltage
domain, currents in mA times cycles times tCK times VDD giving pJ:

    activation = ACT x (IDD0 tRC - IDD3N tRAS - IDD2N (tRC - tRAS))
    read       = read bursts  x (IDD4R - IDD3N) x BL/2
    write      = write bursts x (IDD4W - IDD3N) x BL/2
    refresh    = refreshes    x (IDD5  - IDD3N) x tRFC
    background = cycles x IDD3N                 (open page: a row is always open)

Time, for a stream that a controller overlaps across banks (documented in docs/dram.md):
``cycles = max(bursts x BL/2, per bank max(ACT x tRC, ACT x (tRP + tRCD) + bursts x BL/2),
ACT x tFAW / 4, ACT x tRRD) + CL``, plus ``tRFC`` per ``tREFI`` elapsed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from ...errors import PolyscanError
from .presets import DramPreset
from .stream import Transfer, batches

FIELDS = ("row", "bank", "column")
BATCH = 1 << 14  # runs counted in one numpy pass


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
                "bursts": self.bursts, "activations": self.activations, "bytes": self.bytes}


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


class Counter:
    """Row-buffer state across a stream, with counts per bank for the current span."""

    def __init__(self, preset: DramPreset, mapping: AddressMapping):
        self.preset, self.mapping = preset, mapping
        self.open_row = np.full(preset.banks, -1, dtype=np.int64)
        self.reset()

    def reset(self):
        self.bursts = np.zeros(self.preset.banks, dtype=np.int64)
        self.activations = np.zeros(self.preset.banks, dtype=np.int64)
        self.reads = self.writes = self.bytes = 0

    def add(self, transfers: Iterable[Transfer]):
        """Count a batch of transfers, in order (one numpy pass for the whole batch: the
        row-buffer state only depends on the order of segments within each bank)."""
        batch = [t for t in transfers if len(t.starts)]
        if not batch:
            return
        starts = np.concatenate([t.starts for t in batch])
        lengths = np.concatenate([t.lengths for t in batch])
        write = np.repeat([t.write for t in batch], [len(t.starts) for t in batch])
        bursts = (starts + lengths - 1) // self.mapping.burst - starts // self.mapping.burst + 1
        self.bytes += int(bursts.sum()) * self.mapping.burst
        self.writes += int(bursts[write].sum())
        self.reads += int(bursts[~write].sum())
        segments, segment_bursts = self._segments(starts, lengths)
        bank, row = self.mapping.locate(segments)
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

    def cost(self) -> DramCost:
        """Energy and time of the counts since the last reset."""
        p, t = self.preset, self.preset.timing
        bursts, acts = int(self.bursts.sum()), int(self.activations.sum())
        busy = np.maximum(self.activations * t["tRC"], self.activations * (t["tRP"] + t["tRCD"])
                          + self.bursts * p.burst_cycles)
        cycles = max(bursts * p.burst_cycles, int(busy.max(initial=0)),
                     -(-acts * t["tFAW"] // 4), acts * t["tRRD"]) + t["CL"] * (bursts > 0)
        refreshes = cycles // t["tREFI"]
        cycles += refreshes * t["tRFC"]
        energy = dict.fromkeys(("activation", "read", "write", "refresh", "background"), 0.0)
        for d in p.power:
            scale = d.VDD * p.devices * p.tCK  # mA x cycles -> pJ
            energy["activation"] += acts * (d.IDD0 * t["tRC"] - d.IDD3N * t["tRAS"]
                                            - d.IDD2N * (t["tRC"] - t["tRAS"])) * scale
            energy["read"] += self.reads * (d.IDD4R - d.IDD3N) * p.burst_cycles * scale
            energy["write"] += self.writes * (d.IDD4W - d.IDD3N) * p.burst_cycles * scale
            energy["refresh"] += refreshes * (d.IDD5 - d.IDD3N) * t["tRFC"] * scale
            energy["background"] += cycles * d.IDD3N * scale
        return DramCost(p.name, sum(energy.values()), energy, int(cycles),
                        cycles * p.tCK * 1e-9, bursts, self.reads, self.writes, acts, self.bytes)


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
        for batch in batches(span, BATCH):
            counter.add(batch)
            if over is not None and over(_total(preset, groups + [counter.cost()])):
                return None
        groups.append(counter.cost())
    return _total(preset, groups)


def _total(preset: DramPreset, groups: list[DramCost]) -> DramCost:
    return DramCost(preset.name, sum(g.energy_pj for g in groups),
                    {k: sum(g.breakdown[k] for g in groups) for k in groups[0].breakdown},
                    sum(g.cycles for g in groups), sum(g.seconds for g in groups),
                    *(sum(getattr(g, k) for g in groups) for k in
                      ("bursts", "read_bursts", "write_bursts", "activations", "bytes")),
                    groups=groups)
