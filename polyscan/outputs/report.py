"""The self-contained HTML report of a network at one buffer size: the seed paper's four
configurations (lex or Scan, with or without fusion) and Scan + fusion with no tensor
resident between groups, in traffic and DRAM energy, the
optimized plan's groups, its time and buffer contents on an accelerator, the figures as
inline SVG, and optionally a buffer sweep.

Nothing in the file refers to anything outside it: no scripts, fonts, images or styles are
fetched, so it opens the same offline, attached to a mail, or in ten years.
"""

from __future__ import annotations

import datetime
import functools
import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from ..cost.accelerator import Accelerator, builtin_accelerators
from ..cost.dram import DramSettings
from ..cost.timing import TimeCost
from ..network.graph import Network
from ..network.partition import optimize_network
from ..network.plan import Plan
from ..sweep.buffers import SweepPoint, sweep
from . import plots
from .progress import progress_bar
from .tables import time_summary

CONFIGURATIONS = (  # label, fusion, traversals, tensors resident between groups
    ("lex, no fusion", False, ("lex",), False),
    ("Scan, no fusion", False, ("lex", "scan"), False),
    ("lex, fusion", True, ("lex",), True),
    ("Scan + fusion, nothing resident", True, ("lex", "scan"), False),
    ("Scan + fusion", True, ("lex", "scan"), True),
)
BASELINE, OPTIMIZED = CONFIGURATIONS[0][0], CONFIGURATIONS[-1][0]

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 78em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25em 0.6em; text-align: right; }
th { background: #f3f3f3; } td.name, th.name { text-align: left; }
tr.best td { font-weight: bold; }
figure { margin: 1em 0; } figure svg { max-width: 100%; height: auto; }
code, pre { background: #f6f6f6; padding: 0.1em 0.3em; }
.headline { font-size: 1.1em; background: #eef5fb; padding: 0.8em 1em; }
"""


@dataclass
class Report:
    network: str
    buffer: int
    objective: str
    plans: dict[str, Plan]  # by configuration label
    points: list[SweepPoint] = field(default_factory=list)
    reference: Plan | None = None  # the baseline with least-traffic schedules, when the
    # objective is not traffic: the seed paper's baseline
    accel: Accelerator | None = None  # the accelerator the optimized plan is timed on
    #                                   (None: the plan's own, else zigzag-like)
    results: list[dict] = field(default_factory=list)  # rows of a sweep's results table

    @functools.cached_property
    def time(self) -> TimeCost:
        """The optimized plan's makespan and total energy (docs/time.md)."""
        return self.optimized.time(self.accel)

    @property
    def baseline(self) -> Plan:
        return self.plans[BASELINE]

    @property
    def optimized(self) -> Plan:
        return self.plans[OPTIMIZED]

    @functools.cached_property
    def figures(self) -> dict[str, object]:
        """The report's figures by file stem (drawn once for the page and the files)."""
        figures = {
            "traffic": plots.traffic_by_group(self.optimized, self.baseline),
            "traversals": plots.traversals_by_group(self.plans["Scan, no fusion"]),
            "groups": plots.fusion_graph(self.optimized),
            "energy": plots.energy_breakdown({k: p.dram_cost() for k, p in self.plans.items()}),
        }
        if self.points:
            figures["sweep"] = plots.sweep_curve(self.points)
        figures["occupancy"] = plots.buffer_occupancy(self.time, self.buffer)
        if self.results:
            figures["pareto"] = plots.pareto_fronts(self.results)
        return figures

    def save_plots(self, folder) -> list[Path]:
        """Every figure as PNG and SVG in ``folder``."""
        return [plots.save(figure, Path(folder) / f"{stem}.{kind}")
                for stem, figure in self.figures.items() for kind in ("png", "svg")]

    def html(self) -> str:
        figures = {stem: plots.svg(figure) for stem, figure in self.figures.items()}
        parts = [f"<h1>polyscan: {_e(self.network)} with a {self.buffer:,}-entry buffer</h1>",
                 f'<p class="headline">{self.headline()}</p>',
                 "<h2>The seed paper's experiment</h2>", self.configurations_table(),
                 _figure(figures["energy"], "DRAM energy of each configuration, by term."),
                 _figure(figures["traffic"], "Traffic of each group of the optimized plan, "
                         "next to the same layers in the baseline and the group's lower "
                         "bound."),
                 "<h2>The optimized plan</h2>", _figure(figures["groups"], "Fused groups."),
                 self.groups_table(),
                 "<h2>Time and buffer contents</h2>", f"<p>{_e(time_summary(self.time))}.</p>",
                 _figure(figures["occupancy"], "What the buffer holds while each tile of the "
                         "optimized plan computes, by role, over its makespan."),
                 self.time_table(),
                 "<h2>Traversals</h2>",
                 _figure(figures["traversals"], "Best traffic of each traversal per layer "
                         "(no fusion), relative to the best of both."),
                 ]
        if self.points:
            parts += ["<h2>Buffer sweep</h2>", _figure(figures["sweep"], "Traffic against "
                      "buffer size."), self.sweep_table()]
        if self.results:
            networks = sorted({row["network"] for row in self.results})
            parts += ["<h2>Design-space sweep</h2>", _figure(
                figures["pareto"], f"Pareto fronts of {len(self.results)} points of a sweep "
                f"({', '.join(networks)}): buffer size against DRAM energy, traffic and "
                f"latency per network and DRAM preset (docs/sweeps.md).")]
        parts.append(self.footer())
        return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                f"<title>polyscan report: {_e(self.network)}</title>\n"
                f"<style>{STYLE}</style>\n</head>\n<body>\n" + "\n".join(parts)
                + "\n</body>\n</html>\n")

    def headline(self) -> str:
        best, base = self.optimized, self.baseline
        cost, base_cost = best.dram_cost(), base.dram_cost()
        return (f"Scan + fusion moves <b>{best.total:,}</b> DRAM entries, "
                f"<b>{1 - best.total / base.total:.1%} less</b> than lex without fusion "
                f"({base.total:,}) and {best.total / best.floor:.3f} x the floor "
                f"({best.floor:,}: weights, input and output). DRAM energy "
                f"<b>{cost.energy_pj / 1e9:.3f} mJ</b> on {_e(cost.preset)}, "
                f"<b>{1 - cost.energy_pj / base_cost.energy_pj:.1%} less</b> than the "
                f"baseline's {base_cost.energy_pj / 1e9:.3f} mJ (the seed paper reports 67%)"
                + self.reference_sentence() +
                f"; {cost.energy_pj / best.energy_floor_pj:.2f} x the energy floor "
                f"({best.energy_floor_pj / 1e9:.3f} mJ: the floor's entries in full bursts at "
                f"the cheapest burst energy). Schedules chosen for least "
                f"{_e(self.objective)}.")

    def reference_sentence(self) -> str:
        if self.reference is None:
            return ""
        energy = self.reference.dram_cost().energy_pj
        return (f", and <b>{1 - self.optimized.dram_cost().energy_pj / energy:.1%} less</b> "
                f"than lex without fusion with least-traffic schedules, the seed paper's "
                f"baseline ({energy / 1e9:.3f} mJ)")

    def configurations_table(self) -> str:
        base = self.baseline
        rows = []
        labelled = list(self.plans.items())
        if self.reference is not None:
            labelled.insert(0, ("lex, no fusion, least traffic", self.reference))
        for label, plan in labelled:
            cost = plan.dram_cost()
            rows.append([label, f"{plan.total:,}", f"{1 - plan.total / base.total:.1%}",
                         f"{cost.energy_pj / 1e9:.3f}",
                         f"{1 - cost.energy_pj / base.dram_cost().energy_pj:.1%}",
                         f"{cost.seconds * 1e3:.3f}", f"{cost.row_hit_rate:.3f}",
                         str(len(plan.groups)), f"{plan.seconds:.1f}"])
        return _table(["configuration", "DRAM entries", "less than baseline", "energy mJ",
                       "less energy", "DRAM time ms", "row hits", "groups", "search s"],
                      rows, best=len(rows) - 1)

    def groups_table(self) -> str:
        plan = self.optimized
        rows = []
        for row in plan.rows():
            rows.append([plots.group_label(row["layers"]), str(len(row["layers"])),
                         ",".join(f"{d}={t}" for d, t in row["tile"].items()) or "-",
                         ",".join(row["order"]) or "-", str(row["traversal"]),
                         *(f"{row['best_per_traversal'][t]:,}" for t in plan.traversals),
                         f"{row['lower_bound']:,}", f"{row['dram_entries']:,}",
                         f"{row['peak']:,}", f"{row['resident_entries']:,}" if row["resident"]
                         else "-", f"{row['energy_pj'] / 1e6:.1f}"])
        return _table(["group", "layers", "tile", "order", "traversal",
                       *(f"best {t}" for t in plan.traversals), "lower bound", "chosen",
                       "peak", "resident", "energy uJ"], rows, names=4)

    def time_table(self) -> str:
        rows = [[plots.group_label(g.layers), f"{math.ceil(g.cycles):,}",
                 f"{g.compute.cycles:,}", f"{math.ceil(g.dma_cycles):,}",
                 f"{g.compute.utilisation:.1%}", f"{g.compute_bound:.0%}", f"{g.peak:,}"]
                for g in self.time.groups]
        return _table(["group", "cycles", "compute cycles", "DMA cycles", "utilisation",
                       "computing", "peak"], rows, names=0)

    def sweep_table(self) -> str:
        rows = [[f"{p.buffer:,}", f"{p.baseline.total:,}", f"{p.plan.total:,}",
                 f"{p.plan.total / p.plan.floor:.3f}", f"{1 - p.plan.total / p.baseline.total:.1%}",
                 f"{p.baseline.dram_cost().energy_pj / 1e9:.3f}",
                 f"{p.plan.dram_cost().energy_pj / 1e9:.3f}", str(len(p.plan.groups))]
                for p in self.points]
        return _table(["buffer", "lex, no fusion", "optimized", "/ floor", "less traffic",
                       "baseline mJ", "optimized mJ", "groups"], rows, names=0)

    def footer(self) -> str:
        try:
            release = version("polyscan")
        except PackageNotFoundError:
            release = "unknown"
        dram = self.optimized.dram
        command = (f"polyscan report {_e(self.network)} --buffer {self.buffer} "
                   f"--objective {_e(self.objective)} --dram {_e(dram.preset)} "
                   f"--element-bits {dram.element_bits} --layout {dram.layout} "
                   f"--accel {_e(_accel_option(self.time.accelerator))}"
                   f"{' --double-buffer' if self.optimized.double_buffer else ''}")
        return (f"<h2>Reproduce</h2><pre>{command}</pre>"
                f"<p>polyscan {_e(release)}, {datetime.date.today().isoformat()}. Traffic is "
                f"exact (ISL and barvinok counts of DESIGN section 4); energy and time come "
                f"from the open-page DRAM model (docs/dram.md).</p>")


def build_report(net: Network, buffer: int, objective: str = "traffic",
                 dram: DramSettings | None = None, sweep_buffers: Sequence[int] = (),
                 progress: bool | None = None, accel: Accelerator | None = None,
                 double_buffer: bool = False, results: Sequence[dict] = ()) -> Report:
    """Optimize ``net`` in the four configurations (and over ``sweep_buffers``), timed on
    ``accel`` under the double-buffered capacity rule where asked; ``results``: the rows of
    a sweep's results table, whose Pareto fronts the report shows."""
    with progress_bar(progress) as report:
        plans = {label: optimize_network(net, buffer, fusion=fusion, traversals=traversals,
                                         progress=report, objective=objective, dram=dram,
                                         resident=resident, accel=accel,
                                         double_buffer=double_buffer)
                 for label, fusion, traversals, resident in CONFIGURATIONS}
        done = {buffer: SweepPoint(buffer, plans[BASELINE], plans[OPTIMIZED])}
        rest = [b for b in sweep_buffers if b not in done]
        done.update((p.buffer, p) for p in sweep(net, rest, objective=objective, dram=dram,
                                                 progress=report))
        points = [done[b] for b in sorted(set(sweep_buffers))]
        reference = None if objective == "traffic" else optimize_network(
            net, buffer, fusion=False, traversals=("lex",), progress=report, dram=dram)
    return Report(net.name, buffer, objective, plans, points, reference, accel,
                  list(results))


def _accel_option(accel: Accelerator) -> str:
    """``--accel``'s value: a built-in's name, else the description file it was read from."""
    return accel.name if accel.name in builtin_accelerators() else "FILE.toml"


def _figure(svg: str, caption: str) -> str:
    return f"<figure>\n{svg}\n<figcaption>{_e(caption)}</figcaption>\n</figure>"


def _table(header: list[str], rows: list[list[str]], best: int | None = None,
           names: int = 0) -> str:
    """An HTML table; columns up to ``names`` are left-aligned text."""
    name, top = ' class="name"', ' class="best"'

    def cells(values, tag):
        return "".join(f"<{tag}{name if i <= names else ''}>{_e(v)}</{tag}>"
                       for i, v in enumerate(values))
    body = "\n".join(f"<tr{top if i == best else ''}>{cells(r, 'td')}</tr>"
                     for i, r in enumerate(rows))
    return f"<table>\n<tr>{cells(header, 'th')}</tr>\n{body}\n</table>"


def _e(text) -> str:
    return html.escape(str(text))
