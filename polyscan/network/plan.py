"""``ps.optimize_network``: a network's layers scheduled under one buffer, with the figures
a report needs (DESIGN section 5): total traffic, the unfused compulsory traffic and the
floor (weights + network input + network output)."""

from __future__ import annotations

import functools
import math
import sys
import time
from dataclasses import dataclass, field

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..cost.dram import DramCost, DramSettings, TraceSummary
from ..cost.traffic import Traffic
from ..errors import PolyscanError
from ..model.fusion import FusedGroup, FusedSchedule, FusionError
from ..model.nest import ACCUMULATE, EXPORTED, READ, TensorKey
from ..model.schedule import Schedule
from ..search.bounds import least_peak, lower_bound
from ..search.optimizer import (
    SEARCHABLE,
    BufferTooSmallError,
    Search,
    checked_buffer,
    checked_objective,
    search_nest,
)
from ..search.tables import too_coupled
from .graph import Network


@dataclass
class Group:
    """Layers executed as one schedule: one layer, or a fused group (DESIGN section 5)."""

    layers: tuple[str, ...]
    schedule: Schedule  # a FusedSchedule for a fused group
    traffic: Traffic
    search: Search
    lower_bound: int  # no schedule of these layers moves less (compulsory, I/O bound)

    @property
    def total(self) -> int:
        return self.traffic.total

    def measure(self, objective: str) -> float:
        """The group's cost under ``objective``: traffic, or modeled DRAM energy or time."""
        return self.total if objective == "traffic" else \
            self.search.best.dram.figure(objective)


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
    _dram_cost: DramCost | None = field(default=None, init=False, repr=False)

    @property
    def total(self) -> int:
        return sum(g.total for g in self.groups)

    def dram_cost(self) -> DramCost:
        """The plan's DRAM energy and time (per group in ``.groups``), under ``self.dram``."""
        if self._dram_cost is None:
            self._dram_cost = self.dram.cost(self)
        return self._dram_cost

    @property
    def energy_floor_pj(self) -> float:
        """No plan of this network can cost less DRAM energy: the floor's entries in whole
        bursts, each at the cheapest a burst can cost on the device (docs/dram.md)."""
        return _floor_measure("energy", self.dram)(self.floor)

    def write_trace(self, path, format: str = "dramsim3") -> TraceSummary:
        """The plan's DRAM requests as a DRAMSim2, DRAMSim3 or Ramulator trace (docs/dram.md)."""
        return self.dram.write_trace(self, path, format)

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
                "peak": g.traffic.peak, "tiles": g.traffic.tiles, "dram_entries": g.total,
                "best_per_traversal": {t: r.total for t, r in g.search.results.items()},
                "lower_bound": g.lower_bound, "energy_pj": cost.energy_pj, "cycles": cost.cycles,
                "row_hit_rate": cost.row_hit_rate,
            })
        return rows

    def to_json(self) -> dict:
        """The DESIGN section 7 schema, with the DRAM model's figures."""
        cost = self.dram_cost()
        return {
            "network": self.network, "buffer": self.buffer,
            "element_bits": self.dram.element_bits, "fusion": self.fusion,
            "traversals": list(self.traversals), "objective": self.objective,
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

    def table(self) -> Table:
        table = Table(title=f"{self.network} at {self.buffer:,} entries "
                            f"({'fused' if self.fusion else 'no fusion'})")
        columns = ["group", "tile", "order", "trav.", *(f"best {t}" for t in self.traversals),
                   "lower bound", "chosen", "/ bound", "peak"]
        for column in columns:
            table.add_column(column, justify="left" if column in ("group", "tile", "order",
                                                                  "trav.") else "right")
        for g in self.groups:
            s = g.schedule
            name = g.layers[0] if len(g.layers) == 1 else \
                f"{g.layers[0]} .. {g.layers[-1]} ({len(g.layers)})"
            table.add_row(name,
                          ",".join(f"{d}{t}" for d, t in s.tile.items()) or "-",
                          ",".join(s.order) or "-", s.traversal,
                          *(f"{g.search.results[t].total:,}" for t in self.traversals),
                          f"{g.lower_bound:,}", f"{g.total:,}",
                          f"{g.total / g.lower_bound:.3f}", f"{g.traffic.peak:,}")
        bound = sum(g.lower_bound for g in self.groups)
        table.add_section()
        table.add_row("total", "", "", "",
                      *(f"{sum(g.search.results[t].total for g in self.groups):,}"
                        for t in self.traversals),
                      f"{bound:,}", f"{self.total:,}", f"{self.total / bound:.3f}", "")
        return table

    def summary(self) -> str:
        cost = self.dram_cost()
        return (f"{self.network}: {self.total:,} DRAM entries at a {self.buffer:,}-entry "
                f"buffer ({len(self.groups)} groups); compulsory without fusion "
                f"{self.compulsory_unfused:,} (x{self.total / self.compulsory_unfused:.3f}); "
                f"floor {self.floor:,} (x{self.total / self.floor:.3f}); DRAM energy "
                f"{cost.energy_pj / 1e9:.3f} mJ, {cost.seconds * 1e3:.3f} ms on "
                f"{cost.preset} (row hits {cost.row_hit_rate:.1%}); searched in "
                f"{self.seconds:.1f} s" + (f" ({self.groups_skipped} candidate groups too "
                                           f"coupled to search)" if self.groups_skipped else ""))


def optimize_network(net: Network, buffer: int = 65536, fusion: bool = True,
                     traversals=SEARCHABLE, progress: bool | None = None,
                     max_group: int = 8, objective: str = "traffic",
                     dram: DramSettings | None = None) -> Plan:
    """Partition the layers into groups, each with its optimal schedule, minimising the
    network's total traffic under ``buffer``.

    Groups are runs of consecutive layers in topological order in which every layer but the
    last feeds a later one; without fusion every layer is its own group. The best partition
    is a shortest path over cut points, ``best[j+1] = min_i best[i] + cost(i..j)``, each
    cost an exact optimal group schedule, runs of up to ``max_group`` layers. A run is only
    searched if ``best[i]`` plus its compulsory traffic (every element it moves to or from
    DRAM, once: an exact lower bound of its cost, cheap to count) can beat ``best[j+1]``.
    With ``objective="energy"`` or ``"latency"`` the costs are the groups' modeled DRAM
    energy or time (``search_layer``), bounded below by the bursts the compulsory traffic
    needs at the cheapest burst energy and time.
    """
    start = time.perf_counter()
    if not isinstance(net, Network):
        raise PolyscanError(f"optimize_network plans a network (ps.zoo.mobilenet_v2(), "
                            f"ps.load_onnx(path)), got {type(net).__name__}; ps.optimize "
                            f"schedules one layer")
    buffer = checked_buffer(buffer)
    objective = checked_objective(objective)
    if isinstance(max_group, bool) or not isinstance(max_group, int) or max_group < 1:
        raise PolyscanError(f"max_group must be a positive number of layers, got "
                            f"{max_group!r}")
    dram = dram or DramSettings()
    floor_of = _floor_measure(objective, dram)
    longest = max_group if fusion else 1
    layers = net.layers
    _check_feasible(net, buffer)
    best = [0] + [None] * len(layers)  # best[j]: least cost of the first j layers
    chosen: list[Group | None] = [None] * (len(layers) + 1)
    searched: dict = {}  # runs of one shape share their search
    evaluated = skipped = 0
    with _progress(progress) as bar:
        task = bar.add_task(f"optimizing {net.name}", total=len(layers))
        for last in range(len(layers)):
            bar.update(task, description=f"{net.name}: groups ending at {layers[last].name}")
            for first in range(last, max(-1, last - longest), -1):
                run = _Run(net, layers[first:last + 1])
                if not run.feeds_later:
                    break  # its first layer feeds no later one: no longer run works either
                if not run.valid or best[first] is None or \
                        (best[last + 1] is not None and best[first] +
                         floor_of(run.compulsory) >= best[last + 1]):
                    continue
                if len(run.layers) > 1 and too_coupled(run.nest):
                    skipped += 1  # a group the search cannot tabulate: never chosen
                    continue
                if least_peak(run.nest) > buffer:
                    continue
                limit = None if best[last + 1] is None or objective == "traffic" else \
                    best[last + 1] - best[first]
                group = run.search(buffer, traversals, searched, objective, dram, limit)
                evaluated += 1
                cost = None if group is None else group.measure(objective)
                if cost is not None and (best[last + 1] is None or
                                         best[first] + cost < best[last + 1]):
                    best[last + 1], chosen[last + 1] = best[first] + cost, group
            bar.advance(task)
    groups, end = [], len(layers)
    while end:
        groups.append(chosen[end])
        end -= len(chosen[end].layers)
    compulsory = sum(lower_bound(layer, buffer).compulsory for layer in layers)
    return Plan(net.name, buffer, tuple(dict.fromkeys(traversals)), fusion, groups[::-1],
                compulsory, net.floor(), time.perf_counter() - start, evaluated, net,
                objective, dram, skipped)


def _floor_measure(objective: str, dram: DramSettings):
    """Least cost of moving ``entries`` elements: for energy and time, whole bursts at the
    cheapest burst energy (or the burst time)."""
    if objective == "traffic":
        return lambda entries: entries
    preset, _ = dram.device()
    per_burst = dram.element_bits / 8 / preset.burst_bytes

    def measure(entries: int) -> float:
        bursts = math.ceil(entries * per_burst)
        if objective == "latency":
            return bursts * preset.burst_cycles
        return bursts * preset.burst_cycles * preset.tCK * sum(
            min(d.IDD4R, d.IDD4W) * d.VDD * preset.devices for d in preset.power)
    return measure


def _check_feasible(net: Network, buffer: int):
    """Every layer alone must fit (then the plan without fusion does); else say at once
    which layer needs the most, and how much (its least peak, ``search.bounds``)."""
    needs = {layer.name: least_peak(layer.nest) for layer in net.layers}
    name = max(needs, key=needs.get)
    if needs[name] > buffer:
        raise BufferTooSmallError(f"network {net.name!r} (layer {name!r} alone)", buffer,
                                  needs[name])


class _Run:
    """Consecutive layers of a network, as one layer or a fused group.

    A run fuses when its first layer feeds a later one, every inner layer feeds a later one
    (``FusedGroup`` checks), and every tensor a layer of it reads is written either wholly
    inside the run or wholly outside it (the slices of a Concat come all from the group, or
    all from DRAM)."""

    def __init__(self, net: Network, layers):
        self.layers = layers
        self.valid = False  # a layer, or layers that fuse
        inside = {layer.name for layer in layers}
        if len(layers) == 1:
            self.feeds_later = self.valid = True
            self.make = functools.partial(Schedule, layers[0])
            self.nest, self.label = layers[0].nest, f"layer {layers[0].name!r}"
            return
        self.feeds_later = any(v in inside for _, v in net.graph.out_edges(layers[0].name))
        if not self.feeds_later:
            return
        inputs = {}
        for layer in layers:
            for tensor in layer.tensors.values():
                writers = net.sources(layer.name, tensor.name)
                if not inside.intersection(writers):
                    continue
                if not inside.issuperset(writers):
                    return  # some slices of a tensor from the run, some from DRAM
                inputs[TensorKey(layer.name, tensor.name)] = writers
        exported = [layer.name for layer in layers[:-1] if _read_outside(net, layer, inside)]
        try:
            group = FusedGroup(layers, inputs, exported)
        except FusionError:  # an inner layer that feeds none of the later ones
            return
        self.valid = True
        self.make = functools.partial(FusedSchedule, group)
        self.nest, self.label = group.nest, f"fused group {group.name!r}"

    @functools.cached_property
    def compulsory(self) -> int:
        """Elements moved to or from DRAM at least once by any schedule of the run."""
        return sum(int(o.relation.range().intersect(o.space).count_val().to_python())
                   for o in self.nest.operands.values()
                   if o.kind in (READ, ACCUMULATE, EXPORTED))

    def search(self, buffer, traversals, searched, objective="traffic",
               dram=None, limit=None) -> Group | None:
        """The run's optimal schedule as a group; None if nothing fits the buffer, or if
        nothing costs less than ``limit`` (energy, latency: the search stops early then).
        ``searched`` shares results between runs of one shape."""
        key = self.nest.shape_key
        known = searched.get(key, ())
        if known == () or (isinstance(known, float) and (limit is None or limit > known)):
            try:
                found = search_nest(self.nest, self.make, self.label, buffer, traversals,
                                    objective, dram, limit)
                searched[key] = float(limit) if found is None else \
                    (found, tuple(self.nest.operands))
            except BufferTooSmallError:
                searched[key] = None
        if searched[key] is None or isinstance(searched[key], float):
            return None  # nothing fits, or nothing beats the limit it was searched under
        found, keys = searched[key]
        best = found.schedule
        schedule = self.make(best.tile, best.order, best.traversal)
        bound = lower_bound(self.layers[0], buffer).value if len(self.layers) == 1 \
            else self.compulsory
        return Group(tuple(layer.name for layer in self.layers), schedule,
                     _renamed(found.best.traffic, dict(zip(keys, self.nest.operands))), found,
                     bound)


def _renamed(counted: Traffic, keys: dict[str, str]) -> Traffic:
    """Traffic of a run of equal shape, under this run's operand keys."""
    return Traffic({keys[k]: v for k, v in counted.reads.items()},
                   {keys[k]: v for k, v in counted.writes.items()}, counted.peak, counted.tiles,
                   {keys[k]: v for k, v in counted.recomputed.items()})


def _read_outside(net: Network, layer, inside: set[str]) -> bool:
    """Whether a layer outside ``inside`` reads ``layer``'s output, or the network delivers
    it: then a group holding ``layer`` must write it to DRAM."""
    tensor = net.tensor_of(layer.name, layer.output.name)
    return tensor.name in net.outputs or any(
        r.layer not in inside and layer.name in net.sources(r.layer, r.tensor)
        for r in tensor.readers)


def _progress(enabled: bool | None) -> Progress:
    """A progress bar on stderr, shown when it is a terminal (or when asked)."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    return Progress(TextColumn("{task.description}"), BarColumn(),
                    TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                    console=Console(stderr=True), transient=True, disable=not enabled)
