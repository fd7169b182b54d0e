"""A network's plan: its groups, each with its schedule and exact figures (DESIGN section 5),
as plain data (``to_dict``); the partition search that makes one is ``partition``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..cost.accelerator import Accelerator, load_accelerator
from ..cost.dram import DramCost, DramSettings
from ..cost.dram.stream import schedule_transfers
from ..cost.dram.trace import TraceSummary, check_trace_target, write_bursts
from ..cost.timing import TimeCost, schedules_time
from ..cost.traffic import Traffic, double_buffered_peak
from ..model.nest import TensorKey
from ..model.schedule import Schedule
from ..search.optimizer import Search
from .graph import Network


@dataclass
class Group:
    """Layers executed as one schedule: one layer, or a fused group (DESIGN section 5)."""

    layers: tuple[str, ...]
    schedule: Schedule  # a FusedSchedule for a fused group
    traffic: Traffic
    search: Search
    lower_bound: int  # no schedule of these layers moves less (compulsory, I/O bound)
    resident: tuple[str, ...] = ()  # network tensors resident in the buffer all along it
    held: int = 0  # their entries (DESIGN 6b)

    @property
    def total(self) -> int:
        return self.traffic.total

    @property
    def peak(self) -> int:
        """The most the buffer holds during the group: its schedule's footprints and the
        resident tensors."""
        return self.traffic.peak + self.held

    def measure(self, objective: str) -> float:
        """The group's cost under ``objective``: traffic, or modeled DRAM energy or time."""
        return self.search.best.figure(objective)

    def tensor_of(self, net: Network):
        """Operand key -> the network tensor it is (every operand bound to one network
        tensor shares its DRAM placement: a Concat's slices, a residual and its producer)."""
        def name(key: str) -> str:
            layer, tensor = (self.layers[0], key) if len(self.layers) == 1 else \
                (key.layer, key.tensor)
            return net.bindings[TensorKey(layer, tensor)]
        return name


@dataclass
class Plan:
    network: str
    buffer: int
    traversals: tuple[str, ...]
    fusion: bool
    groups: list[Group]
    compulsory_unfused: int
    floor: int
    seconds: float
    groups_searched: int = 0  # candidate groups the partition search evaluated
    net: Network | None = None  # the network planned (tensor names for the DRAM model)
    objective: str = "traffic"
    dram: DramSettings = field(default_factory=DramSettings)  # device and data layout
    groups_skipped: int = 0  # candidate groups too coupled to tabulate (docs/fusion.md)
    residency: bool = True  # whether tensors could stay resident between groups (DESIGN 6b)
    accel: Accelerator | None = None  # the accelerator a latency plan was made for
    double_buffer: bool = False  # whether every group holds to the double-buffered peak
    _dram_cost: DramCost | None = field(default=None, init=False, repr=False)

    @property
    def total(self) -> int:
        return sum(g.total for g in self.groups)

    @property
    def resident(self) -> tuple[str, ...]:
        """The network tensors kept in the buffer from the group writing them to the group
        of their last reader, in the order they are written (DESIGN 6b)."""
        return tuple(dict.fromkeys(t for g in self.groups for t in g.resident))

    def dram_spans(self, settings: DramSettings | None = None) -> list:
        """Each group's DRAM transfers in order, every network tensor placed once."""
        memory = (settings or self.dram).memory()
        return [schedule_transfers(g.schedule, memory, g.tensor_of(self.net))
                for g in self.groups]

    def dram_cost(self, settings: DramSettings | None = None) -> DramCost:
        """The plan's DRAM energy and time (per group in ``.groups``), under ``settings``
        (by default the ones it was planned under, counted once)."""
        if settings is not None and settings != self.dram:
            return settings.spans_cost(self.dram_spans(settings))
        if self._dram_cost is None:
            self._dram_cost = self.dram.spans_cost(self.dram_spans())
        return self._dram_cost

    @property
    def energy_floor_pj(self) -> float:
        """No plan of this network can cost less DRAM energy: the floor's entries in whole
        bursts, each at the cheapest a burst can cost on the device, and the CAS latency
        the DRAM time ends with (docs/dram.md)."""
        return self.dram.least_cost("energy", self.floor)

    def time(self, accel: Accelerator | None = None, double_buffer: bool | None = None,
             dma: str = "dram") -> TimeCost:
        """The plan's makespan and total energy on ``accel`` (by default the one it was
        planned for, else the zigzag-like description), its groups one after the other
        (docs/time.md); the resident tensors count in each group's peak."""
        accel = accel or self.accel or load_accelerator("zigzag-like")
        double_buffer = self.double_buffer if double_buffer is None else double_buffer
        return schedules_time([g.schedule for g in self.groups], accel, double_buffer,
                              [g.tensor_of(self.net) for g in self.groups],
                              [g.held for g in self.groups], [g.layers for g in self.groups],
                              dma)

    def write_trace(self, path, format: str = "dramsim3",
                    settings: DramSettings | None = None) -> TraceSummary:
        """The plan's DRAM requests as a DRAMSim2, DRAMSim3 or Ramulator trace (docs/dram.md)."""
        path, settings = Path(path), settings or self.dram
        check_trace_target(path, format)
        return write_bursts(self.dram_spans(settings), self.dram_cost(settings),
                            settings.device()[0].burst_bytes, path, format)

    def dram_tensors(self) -> list[TensorKey]:
        """The (layer, tensor) of every tensor that moves to or from DRAM, group by group."""
        moving = []
        for g in self.groups:
            for key in dict.fromkeys([*g.traffic.reads, *g.traffic.writes]):
                if g.traffic.reads.get(key, 0) or g.traffic.writes.get(key, 0):
                    moving.append(key if len(g.layers) > 1 else TensorKey(g.layers[0], key))
        return moving

    def rows(self) -> list[dict]:
        """One row per group: the schedule, its traffic, the per-traversal optima, bound."""
        rows = []
        for g, cost in zip(self.groups, self.dram_cost().groups):
            s = g.schedule
            rows.append({
                "layers": list(g.layers), "tile": dict(s.tile), "order": list(s.order),
                "traversal": s.traversal, "reads": g.traffic.reads, "writes": g.traffic.writes,
                "peak": g.peak, "tiles": g.traffic.tiles, "dram_entries": g.total,
                **({"peak_double_buffered": double_buffered_peak(s) + g.held}
                   if self.double_buffer else {}),
                "resident": list(g.resident), "resident_entries": g.held,
                "best_per_traversal": {t: r.total for t, r in g.search.results.items()},
                "lower_bound": g.lower_bound, "energy_pj": cost.energy_pj, "cycles": cost.cycles,
                "row_hit_rate": cost.row_hit_rate,
            })
        return rows

    def to_dict(self) -> dict:
        """The DESIGN section 7 schema, with the DRAM model's figures."""
        cost = self.dram_cost()
        return {
            "network": self.network, "buffer": self.buffer,
            "element_bits": self.dram.element_bits, "fusion": self.fusion,
            "traversals": list(self.traversals), "objective": self.objective,
            "residency": self.residency, "resident": list(self.resident),
            "double_buffer": self.double_buffer,
            **({"accelerator": self.accel.to_dict()} if self.accel else {}),
            "dram": vars(self.dram), "layers": [layer.name for layer in self.net.layers],
            "search": {"seconds": self.seconds, "groups_searched": self.groups_searched,
                       "groups_skipped": self.groups_skipped},
            "groups": self.rows(),
            "totals": {"dram_entries": self.total, "compulsory_unfused": self.compulsory_unfused,
                       "floor": self.floor, "energy_pj": cost.energy_pj,
                       "energy_floor_pj": self.energy_floor_pj,
                       "energy_breakdown_pj": cost.breakdown, "cycles": cost.cycles,
                       "seconds": cost.seconds, "row_hit_rate": cost.row_hit_rate},
        }

    def summary(self) -> str:
        cost = self.dram_cost()
        return (f"{self.network}: {self.total:,} DRAM entries at a {self.buffer:,}-entry "
                f"buffer ({len(self.groups)} groups); compulsory without fusion "
                f"{self.compulsory_unfused:,} (x{self.total / self.compulsory_unfused:.3f}); "
                f"floor {self.floor:,} (x{self.total / self.floor:.3f}); "
                + (f"{len(self.resident)} tensors resident between groups; "
                   if self.resident else "") + f"DRAM energy "
                f"{cost.energy_pj / 1e9:.3f} mJ, {cost.seconds * 1e3:.3f} ms on "
                f"{cost.preset} (row hits {cost.row_hit_rate:.1%}); searched in "
                f"{self.seconds:.1f} s" + (f" ({self.groups_skipped} candidate groups too "
                                           f"coupled to search)" if self.groups_skipped else ""))
