"""Figures of plans, traversals, buffer sweeps and DRAM energy (matplotlib), as PNG or SVG
files or as SVG text for the HTML report.

Every function returns a ``matplotlib.figure.Figure``; ``save(figure, "x.svg")`` writes it.
Figures are made without pyplot, so nothing opens a window or keeps global state.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ..cost.dram import DramCost
from ..cost.timing import TimeCost
from ..errors import PolyscanError
from ..network.plan import Plan
from ..search.compare import OrderComparison
from ..sweep.buffers import SweepPoint
from .timeline import ROLES, occupancy

COLORS = {"baseline": "#b0b0b0", "optimized": "#1f77b4", "bound": "#2ca02c",
          "lex": "#ff7f0e", "scan": "#1f77b4", "floor": "#2ca02c"}
ENERGY_TERMS = ("activation", "read", "write", "refresh", "background")


def group_label(layers: Sequence[str]) -> str:
    return layers[0] if len(layers) == 1 else f"{layers[0]}..{layers[-1]}"


def traffic_by_group(plan: Plan, baseline: Plan | None = None) -> Figure:
    """Per group: the baseline's traffic for the same layers, the plan's, and the group's
    lower bound (log scale)."""
    labels = [group_label(g.layers) for g in plan.groups]
    series = {}
    if baseline is not None:
        by_layer = {g.layers[0]: g.total for g in baseline.groups if len(g.layers) == 1}
        series["baseline"] = [sum(by_layer.get(name, 0) for name in g.layers)
                              for g in plan.groups]
    series["optimized"] = [g.total for g in plan.groups]
    series["bound"] = [g.lower_bound for g in plan.groups]
    names = {"baseline": "lex, no fusion",
             "optimized": "optimized", "bound": "lower bound"}
    figure = _bars(labels, series, names, "DRAM traffic (entries)", log=True)
    figure.axes[0].set_title(f"{plan.network} at {plan.buffer:,} entries: traffic per "
                             f"{'group' if plan.fusion else 'layer'}")
    return figure


def traversals_by_group(plan: Plan) -> Figure:
    """Per group, each traversal's best traffic relative to the best of all (1 = best)."""
    labels = [group_label(g.layers) for g in plan.groups]
    series = {}
    for traversal in plan.traversals:
        series[traversal] = [g.search.results[traversal].total / min(
            r.total for r in g.search.results.values()) for g in plan.groups]
    figure = _bars(labels, series, {t: f"best {t}" for t in series},
                   "traffic / best of all traversals")
    axes = figure.axes[0]
    low = min(min(v) for v in series.values())
    high = max(max(v) for v in series.values())
    axes.set_ylim(max(0.0, low - 0.02), high + 0.02 + 0.1 * (high - low))
    axes.set_title(f"{plan.network} at {plan.buffer:,} entries: traversals compared")
    return figure


def order_comparison(comparison: OrderComparison, lex_rows: int = 12) -> Figure:
    """One layer: the best traffic of each traversal, and of the best lex loop orders, against
    the lower bound."""
    lex = sorted((r for r in comparison.rows if r.traversal == "lex"),
                 key=lambda r: (r.traffic.total, r.traffic.tiles))[:lex_rows]
    rows = [r for r in comparison.rows if r.traversal != "lex"] + lex
    labels = [r.traversal if r.loop_order is None else f"lex {','.join(r.loop_order)}"
              for r in rows]
    figure = Figure(figsize=(7, 0.9 + 0.28 * len(rows)), layout="constrained")
    axes = figure.add_subplot()
    axes.barh(labels, [r.traffic.total for r in rows],
              color=[COLORS.get(r.traversal, "C2") for r in rows])
    axes.axvline(comparison.bound.value, color=COLORS["bound"], ls="--", label="lower bound")
    axes.invert_yaxis()
    axes.tick_params(axis="y", labelsize=7)
    axes.set_xlabel("DRAM traffic (entries)")
    axes.legend(fontsize=8)
    axes.set_title(f"{comparison.layer} at {comparison.buffer:,} entries: traversals and "
                   f"loop orders")
    return figure


def sweep_curve(points: Sequence[SweepPoint]) -> Figure:
    """Traffic against buffer size: the baseline, the optimized plans and the floor."""
    figure = Figure(figsize=(7, 4.2), layout="constrained")
    axes = figure.add_subplot()
    buffers = [p.buffer for p in points]
    axes.plot(buffers, [p.baseline.total for p in points], "o-", color=COLORS["baseline"],
              label="lex, no fusion")
    axes.plot(buffers, [p.plan.total for p in points], "o-", color=COLORS["optimized"],
              label="optimized")
    axes.plot(buffers, [p.plan.floor for p in points], "--", color=COLORS["floor"],
              label="floor (weights + input + output)")
    axes.set_xscale("log", base=2)
    axes.set_xticks(buffers, [_size(b) for b in buffers])
    axes.set_xlabel("on-chip buffer (entries)")
    axes.set_ylabel("DRAM traffic (entries)")
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.legend()
    axes.set_title(f"{points[0].plan.network if points else ''}: buffer sweep")
    return figure


FRONT_METRICS = {"dram_entries": "DRAM traffic (entries)", "energy_pj": "DRAM energy (mJ)",
                 "makespan_cycles": "makespan (cycles)"}


def pareto_fronts(rows: Sequence[dict]) -> Figure:
    """A sweep's results: per metric (traffic, DRAM energy, makespan where timed), every
    point against its buffer size, one series per network, DRAM, bits, objective and
    search setting, and the series' Pareto front (a larger buffer only where it costs
    less) drawn as a line."""
    rows = [row for row in rows if row["error"] is None]
    metrics = [m for m in FRONT_METRICS if any(row[m] is not None for row in rows)]
    if not metrics:
        raise PolyscanError("the results hold no finished point to plot")
    series: dict[str, list[dict]] = {}
    for row in rows:
        label = (f"{Path(row['network']).stem} {row['dram']} {row['element_bits']}b "
                 f"{row['objective']}" + ("" if row["fusion"] else " no fusion"))
        series.setdefault(label, []).append(row)
    figure = Figure(figsize=(6.5 * len(metrics), 4.4), layout="constrained")
    buffers = sorted({row["buffer"] for row in rows})
    for k, metric in enumerate(metrics):
        axes = figure.add_subplot(1, len(metrics), k + 1)
        scale = 1e-9 if metric == "energy_pj" else 1
        for i, (label, points) in enumerate(sorted(series.items())):
            points = sorted((r["buffer"], r[metric] * scale) for r in points
                            if r[metric] is not None)
            front, least = [], None
            for buffer, value in points:
                if least is None or value < least:
                    front.append((buffer, value))
                    least = value
            front.append((points[-1][0], least))  # the front holds to the largest buffer
            axes.plot(*zip(*points), "o", color=f"C{i % 10}", alpha=0.45)
            axes.step(*zip(*front), "-", where="post", color=f"C{i % 10}", label=label)
        axes.set_xscale("log", base=2)
        axes.set_xticks(buffers, [_size(b) for b in buffers])
        axes.set_xlabel("on-chip buffer (entries)")
        axes.set_ylabel(FRONT_METRICS[metric])
        axes.set_ylim(bottom=0)
        axes.grid(alpha=0.3)
        axes.legend(fontsize="small")
    return figure


def fusion_graph(plan: Plan, per_row: int = 10) -> Figure:
    """The network's layers in execution order (a boustrophedon of rows), each fused group
    in its own colour, data edges drawn between layers."""
    net = plan.net
    order = [layer.name for layer in net.layers]
    position = {}
    for i, name in enumerate(order):
        row, col = divmod(i, per_row)
        position[name] = (col if row % 2 == 0 else per_row - 1 - col, -row)
    group_of = {name: k for k, g in enumerate(plan.groups) for name in g.layers}
    rows = -(-len(order) // per_row)
    figure = Figure(figsize=(1.25 * per_row, 0.95 * rows + 0.8), layout="constrained")
    axes = figure.add_subplot()
    palette = [f"C{k % 10}" for k in range(len(plan.groups))]
    for u, v in net.graph.edges:
        (x0, y0), (x1, y1) = position[u], position[v]
        skip = abs(order.index(v) - order.index(u)) > 1
        axes.annotate("", (x1, y1), (x0, y0), arrowprops=dict(
            arrowstyle="-|>", color="#888888", lw=0.8, shrinkA=9, shrinkB=9,
            connectionstyle="arc3,rad=0.35" if skip else "arc3"))
    for name in order:
        x, y = position[name]
        k = group_of[name]
        axes.scatter([x], [y], s=260, color=palette[k], zorder=3,
                     edgecolors="black" if len(plan.groups[k].layers) > 1 else "none")
        axes.annotate(name, (x, y), (0, -13), textcoords="offset points", ha="center",
                      va="top", fontsize=6)
    axes.set_xlim(-0.7, per_row - 0.3)
    axes.set_ylim(-rows + 0.4, 0.6)
    axes.axis("off")
    axes.set_title(f"{plan.network} at {plan.buffer:,} entries: {len(plan.groups)} groups "
                   f"(one colour each, outlined when fused)")
    return figure


def energy_breakdown(costs: Mapping[str, DramCost]) -> Figure:
    """Stacked DRAM energy (mJ) of each labelled plan, by term."""
    figure = Figure(figsize=(7, 4.2), layout="constrained")
    axes = figure.add_subplot()
    labels = list(costs)
    bottom = np.zeros(len(labels))
    for k, term in enumerate(ENERGY_TERMS):
        values = np.array([costs[label].breakdown[term] / 1e9 for label in labels])
        axes.bar(labels, values, bottom=bottom, label=term, color=f"C{k}")
        bottom += values
    for x, total in enumerate(bottom):
        axes.annotate(f"{total:.2f}", (x, total), (0, 3), textcoords="offset points",
                      ha="center", fontsize=8)
    axes.set_ylabel("DRAM energy (mJ)")
    axes.tick_params(axis="x", labelrotation=15, labelsize=8)
    axes.legend(fontsize=8)
    preset = next(iter(costs.values())).preset if costs else ""
    axes.set_title(f"DRAM energy by term ({preset})")
    return figure


def buffer_occupancy(time: TimeCost, capacity: int | None = None, bins: int = 1500) -> Figure:
    """What the buffer holds over the makespan, stacked by role (weights, input activations,
    on-chip intermediates, outputs, resident tensors), with the capacity as a line. Beyond
    ``bins`` tiles, each interval of the time axis shows its fullest tile."""
    times, stacks = [], {role: [] for role in ROLES}
    for group in occupancy(time):
        times += [group.at, [group.end]]
        by_role = {role: np.zeros(len(group.at)) for role in ROLES}
        for key, values in group.contents.items():
            by_role[group.roles[key]] += values
        by_role["resident tensors"] += group.held
        for role in ROLES:
            stacks[role] += [by_role[role], [0.0]]
    at = np.concatenate(times) if times else np.zeros(0)
    stacked = np.array([np.concatenate(stacks[role]) if times else at for role in ROLES])
    if len(at) > bins:  # the fullest sample of each interval
        edges = np.searchsorted(at, np.linspace(at[0], at[-1], bins + 1)[1:-1])
        keep = [start + int(np.argmax(stacked[:, start:stop].sum(axis=0)))
                for start, stop in zip([0, *edges], [*edges, len(at)]) if stop > start]
        at, stacked = at[keep], stacked[:, keep]
    figure = Figure(figsize=(9, 4.2), layout="constrained")
    axes = figure.add_subplot()
    ms = at / (time.accelerator.clock_mhz * 1e3)
    shown = [k for k, role in enumerate(ROLES) if stacked[k].any()]
    axes.stackplot(ms, stacked[shown], labels=[ROLES[k] for k in shown], step="post",
                   colors=[f"C{k}" for k in shown], alpha=0.85)
    if capacity:
        axes.axhline(capacity, color="black", ls="--", lw=1, label=f"capacity {capacity:,}")
    axes.set_xlabel(f"time (ms at {time.accelerator.clock_mhz:g} MHz)")
    axes.set_ylabel("buffer entries")
    axes.set_xlim(0, max(float(ms[-1]) if len(ms) else 0.0, 1e-9))
    axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    axes.set_title(f"Buffer contents over time on {time.accelerator.name}"
                   f"{' (double-buffered)' if time.double_buffer else ''}")
    return figure


def save(figure: Figure, path) -> Path:
    """Write ``figure`` as PNG or SVG, by the file's suffix."""
    path = Path(path)
    kind = path.suffix.lower().lstrip(".")
    if kind not in ("png", "svg"):
        raise PolyscanError(f"a plot file must end in .png or .svg, got {path.name!r}")
    figure.savefig(path, format=kind, dpi=150)
    return path


def svg(figure: Figure) -> str:
    """The figure as an ``<svg>`` element to inline in HTML (no XML prolog or DOCTYPE)."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg")
    text = buffer.getvalue()
    return re.sub(r"^.*?(?=<svg)", "", text, flags=re.S)


def _bars(labels, series: dict[str, list[float]], names: dict[str, str], ylabel: str,
          log: bool = False) -> Figure:
    figure = Figure(figsize=(max(7.0, 0.28 * len(labels) * len(series)), 4.6),
                    layout="constrained")
    axes = figure.add_subplot()
    width = 0.8 / len(series)
    x = np.arange(len(labels))
    for k, (key, values) in enumerate(series.items()):
        axes.bar(x + (k - (len(series) - 1) / 2) * width, values, width,
                 label=names.get(key, key), color=COLORS.get(key, f"C{k}"))
    axes.set_xticks(x, labels, rotation=90, fontsize=7)
    axes.set_xlim(-0.6, len(labels) - 0.4)
    if log:
        axes.set_yscale("log")
    axes.set_ylabel(ylabel)
    axes.grid(axis="y", alpha=0.3)
    axes.legend(fontsize=8)
    return figure


def _size(entries: int) -> str:
    for unit, scale in (("M", 1 << 20), ("K", 1 << 10)):
        if entries % scale == 0:
            return f"{entries // scale}{unit}"
    return f"{entries:,}"
