"""``ps.optimize_network``: a network's layers scheduled under one buffer, with the figures
a report needs (DESIGN section 5): total traffic, the unfused compulsory traffic and the
floor (weights + network input + network output)."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .errors import PolyscanError
from .network import Network
from .schedule import Schedule
from .search.bounds import LowerBound, lower_bound
from .search.optimizer import SEARCHABLE, Search, checked_buffer, search_layer
from .traffic import Traffic


@dataclass
class Group:
    """Layers executed as one schedule (one layer, without fusion)."""

    layers: tuple[str, ...]
    schedule: Schedule
    traffic: Traffic
    search: Search
    bound: LowerBound

    @property
    def total(self) -> int:
        return self.traffic.total


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

    @property
    def total(self) -> int:
        return sum(g.total for g in self.groups)

    def rows(self) -> list[dict]:
        """One row per group: the schedule, its traffic, the per-traversal optima, bounds."""
        rows = []
        for g in self.groups:
            s = g.schedule
            rows.append({
                "layers": list(g.layers), "tile": dict(s.tile), "order": list(s.order),
                "traversal": s.traversal, "reads": g.traffic.reads, "writes": g.traffic.writes,
                "peak": g.traffic.peak, "tiles": g.traffic.tiles, "dram_entries": g.total,
                "best_per_traversal": {t: r.total for t, r in g.search.results.items()},
                "compulsory": g.bound.compulsory, "lower_bound": g.bound.value,
            })
        return rows

    def to_json(self) -> dict:
        """The DESIGN section 7 schema (energy and cycles arrive with the DRAM model)."""
        return {
            "network": self.network, "buffer": self.buffer, "element_bits": 8,
            "fusion": self.fusion, "traversals": list(self.traversals),
            "groups": self.rows(),
            "totals": {"dram_entries": self.total, "compulsory_unfused": self.compulsory_unfused,
                       "floor": self.floor, "lower_bound": sum(g.bound.value for g in
                                                               self.groups),
                       "energy_pj": None, "cycles": None},
        }

    def table(self) -> Table:
        table = Table(title=f"{self.network} at {self.buffer:,} entries "
                            f"({'fused' if self.fusion else 'no fusion'})")
        columns = ["layer", "tile", "order", "trav.", *(f"best {t}" for t in self.traversals),
                   "compulsory", "lower bound", "chosen", "/ bound"]
        for column in columns:
            table.add_column(column, justify="left" if column in ("layer", "tile", "order",
                                                                  "trav.") else "right")
        for g in self.groups:
            s = g.schedule
            table.add_row("+".join(g.layers),
                          ",".join(f"{d}{t}" for d, t in s.tile.items()) or "-",
                          ",".join(s.order) or "-", s.traversal,
                          *(f"{g.search.results[t].total:,}" for t in self.traversals),
                          f"{g.bound.compulsory:,}", f"{g.bound.value:,}", f"{g.total:,}",
                          f"{g.total / g.bound.value:.3f}")
        bound = sum(g.bound.value for g in self.groups)
        table.add_section()
        table.add_row("total", "", "", "",
                      *(f"{sum(g.search.results[t].total for g in self.groups):,}"
                        for t in self.traversals),
                      f"{self.compulsory_unfused:,}", f"{bound:,}", f"{self.total:,}",
                      f"{self.total / bound:.3f}")
        return table

    def summary(self) -> str:
        return (f"{self.network}: {self.total:,} DRAM entries at a {self.buffer:,}-entry "
                f"buffer; compulsory (unfused) {self.compulsory_unfused:,}; floor "
                f"{self.floor:,} (x{self.total / self.floor:.2f}); searched in "
                f"{self.seconds:.1f} s")


def optimize_network(net: Network, buffer: int = 65536, fusion: bool = True,
                     traversals=SEARCHABLE, progress: bool | None = None) -> Plan:
    """Every layer's optimal schedule under ``buffer`` (fused groups: DESIGN section 5)."""
    start = time.perf_counter()
    buffer = checked_buffer(buffer)
    if fusion:
        raise PolyscanError("fusion=True is not available yet: pass fusion=False")
    groups = []
    searched: dict = {}  # layers of one shape share their search
    with _progress(progress) as bar:
        task = bar.add_task(f"optimizing {net.name}", total=len(net.layers))
        for layer in net.layers:
            bar.update(task, description=f"{net.name}: {layer.name}")
            if layer.shape_key not in searched:
                searched[layer.shape_key] = search_layer(layer, buffer, traversals)
            found = searched[layer.shape_key]
            schedule = Schedule(layer, found.schedule.tile, found.schedule.order,
                                found.schedule.traversal)
            groups.append(Group((layer.name,), schedule, found.best.traffic, found,
                                lower_bound(layer, buffer)))
            bar.advance(task)
    compulsory = sum(g.bound.compulsory for g in groups)
    return Plan(net.name, buffer, tuple(dict.fromkeys(traversals)), fusion, groups, compulsory,
                floor(net), time.perf_counter() - start)


def floor(net: Network) -> int:
    """Weights + network input + network output, in entries (DESIGN section 5)."""
    weights = sum(t.size for layer in net.layers for t in layer.tensors.values()
                  if t.role == "weight")
    inputs = sum(layer.tensors["I"].size for layer in net.layers
                 if not any(net.graph.edges[e]["tensor"] == "I"
                            for e in net.graph.in_edges(layer.name)))
    outputs = sum(layer.output.size for layer in net.layers
                  if net.graph.out_degree(layer.name) == 0)
    return weights + inputs + outputs


def _progress(enabled: bool | None) -> Progress:
    """A progress bar on stderr, shown when it is a terminal (or when asked)."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    return Progress(TextColumn("{task.description}"), BarColumn(),
                    TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                    console=Console(stderr=True), transient=True, disable=not enabled)
