"""rich tables of results for the terminal: a plan's groups, an order comparison."""

from __future__ import annotations

from rich.table import Table

from ..network.plan import Plan
from ..search.compare import CANDIDATE_COMBINATIONS, OrderComparison


def plan_table(plan: Plan) -> Table:
    """One row per group: schedule, each traversal's optimum, bound, chosen, peak (with the
    resident tensors held, when some are); totals."""
    held = bool(plan.resident)
    table = Table(title=f"{plan.network} at {plan.buffer:,} entries "
                        f"({'fused' if plan.fusion else 'no fusion'}"
                        f"{f', {len(plan.resident)} tensors resident' if held else ''})")
    columns = ["group", "tile", "order", "trav.", *(f"best {t}" for t in plan.traversals),
               "lower bound", "chosen", "/ bound", "peak", *(["resident"] if held else [])]
    for column in columns:
        table.add_column(column, justify="left" if column in ("group", "tile", "order",
                                                              "trav.") else "right")
    for g in plan.groups:
        s = g.schedule
        name = g.layers[0] if len(g.layers) == 1 else \
            f"{g.layers[0]} .. {g.layers[-1]} ({len(g.layers)})"
        table.add_row(name,
                      ",".join(f"{d}{t}" for d, t in s.tile.items()) or "-",
                      ",".join(s.order) or "-", s.traversal,
                      *(f"{g.search.results[t].total:,}" for t in plan.traversals),
                      f"{g.lower_bound:,}", f"{g.total:,}",
                      f"{g.total / g.lower_bound:.3f}", f"{g.peak:,}",
                      *([f"{len(g.resident)}: {g.held:,}" if g.resident else "-"]
                        if held else []))
    bound = sum(g.lower_bound for g in plan.groups)
    table.add_section()
    table.add_row("total", "", "", "",
                  *(f"{sum(g.search.results[t].total for g in plan.groups):,}"
                    for t in plan.traversals),
                  f"{bound:,}", f"{plan.total:,}", f"{plan.total / bound:.3f}", "",
                  *([""] if held else []))
    return table


def comparison_table(comparison: OrderComparison, lex_rows: int = 12) -> Table:
    """Scan and research rows, then the ``lex_rows`` best lex loop orders."""
    rows = [(r, r.to_dict()) for r in comparison.rows]
    tensors = list(dict.fromkeys(x for _, d in rows for x in d["per_tensor"]))
    bound = comparison.bound.value
    table = Table(title=f"{comparison.layer} at {comparison.buffer:,} entries: best schedule "
                        f"per traversal (lower bound {bound:,})")
    for column in ("traversal", "loop order", "tile", *tensors, "total", "/ bound",
                   "peak", "tiles", "searched"):
        table.add_column(column, justify="right" if column in (*tensors, "total",
                                                                "/ bound", "peak", "tiles")
                         else "left")
    lex = sorted(((r, d) for r, d in rows if r.traversal == "lex"),
                 key=lambda rd: (rd[0].traffic.total, rd[0].traffic.tiles))
    for row, d in [rd for rd in rows if rd[0].traversal != "lex"] + lex[:lex_rows]:
        table.add_row(row.traversal, ",".join(row.loop_order or row.schedule.order) or "-",
                      ",".join(f"{k}{v}" for k, v in d["tile"].items()) or "-",
                      *(f"{d['per_tensor'].get(x, 0):,}" for x in tensors),
                      f"{d['dram_entries']:,}", f"{d['dram_entries'] / bound:.3f}",
                      f"{d['peak']:,}", f"{d['tiles']:,}", row.searched)
    table.caption = ("exact: optimal over every tile size (lex: for that loop order; scan: "
                     "over all orders). best of N: zorder and hilbert have no exact search; "
                     f"N schedules were counted exactly (the {CANDIDATE_COMBINATIONS} tile "
                     "sizes with least lex traffic, each with its orders).")
    if len(lex) > lex_rows:
        table.caption += f" {len(lex) - lex_rows} more lex loop orders not shown."
    return table


def time_summary(time) -> str:
    """One line of a ``TimeCost``: makespan, what bounds it, utilisation, energy."""
    share = sum(g.compute_bound * g.cycles for g in time.groups) / max(time.cycles, 1)
    energy = f"total energy {time.energy_pj / 1e9:.3f} mJ (DRAM " \
        f"{sum(time.dram_energy.values()) / 1e9:.3f}" + \
        (f", on chip {sum(time.on_chip.values()) / 1e9:.3f}" if time.on_chip else "") + ")"
    fits = "" if time.fits else f"; double-buffered peak {time.peak:,} exceeds the buffer"
    return (f"makespan {time.cycles:,} cycles ({time.seconds * 1e3:.3f} ms) on "
            f"{time.accelerator.name}{' double-buffered' if time.double_buffer else ''}: "
            f"compute {time.compute_cycles:,} cycles ({share:.0%} of the time computing), "
            f"utilisation {time.utilisation:.1%}; {energy}{fits}")


def sweep_table(rows: list[dict]) -> Table:
    """One row per grid point: its settings and figures (or why it was refused)."""
    table = Table(title="sweep")
    for column in ("network", "buffer", "DRAM", "bits", "objective", "trav.", "fusion",
                   "DRAM entries", "/ floor", "energy mJ", "DRAM ms", "groups", "search s"):
        table.add_column(column, justify="left" if column == "network" else "right")
    for row in rows:
        settings = [row["network"], f"{row['buffer']:,}", row["dram"], str(row["element_bits"]),
                    row["objective"], row["traversals"], "yes" if row["fusion"] else "no"]
        if row["error"] is not None:
            table.add_row(*settings, f"refused: {row['error']}", *[""] * 5)
            continue
        table.add_row(*settings, f"{row['dram_entries']:,}", f"{row['floor_ratio']:.3f}",
                      f"{row['energy_pj'] / 1e9:.3f}", f"{row['dram_seconds'] * 1e3:.3f}",
                      str(row["groups"]), f"{row['search_seconds']:.1f}")
    return table
