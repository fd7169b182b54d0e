"""One function per command: check every output target first (writable, not an input, not
named twice), compute, write each file whole (``polyscan.files``), and only then print a table
and a summary line (so a closed stdout, as in ``| head``, costs no file)."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from ..cost.dram.trace import check_trace_target
from ..cost.traffic import traffic
from ..errors import UsageError
from ..model.schedule import Schedule
from ..outputs.emit import emit_c
from ..outputs.tables import comparison_table, plan_table, sweep_table, time_summary
from ..outputs.timeline import write_timeline
from ..search.compare import compare_orders
from ..search.optimizer import search_layer
from . import support
from .support import check_distinct, check_output, check_outputs, console, save_plot, write_output


def optimize(args) -> int:
    check_outputs(args, args.json)
    plan = support.plan(args)
    timed = plan.time() if args.accel is not None or args.objective == "latency" or \
        args.double_buffer else None
    if args.json is not None:
        write_output(args.json, {**plan.to_dict(),
                                 **({"time": timed.to_dict()} if timed else {})})
    if not args.quiet:
        console().print(plan_table(plan))
    print(plan.summary())
    if timed is not None:
        print(time_summary(timed))
    return 0


def timeline(args) -> int:
    check_outputs(args, args.json, args.out)
    plan = support.plan(args)
    timed = plan.time()
    events = write_timeline(timed, args.out, args.per)
    if args.json is not None:
        write_output(args.json, timed.to_dict())
    print(f"{args.out}: {events:,} trace events (open in ui.perfetto.dev); "
          f"{time_summary(timed)}")
    return 0


def report(args) -> int:
    from ..outputs.report import build_report  # matplotlib: loaded only by the commands that draw

    check_outputs(args, args.json, args.out, plots=args.plots)
    buffer = support.parse_size(args.buffer)
    sweep_buffers = support.parse_sizes(args.sweep) if args.sweep is not None else []
    results = _results(args.results, [args.out, args.json]) if args.results else []
    built = build_report(support.network(args), buffer, args.objective,
                         support.dram(args), sweep_buffers, support.progress(args),
                         support.accelerator(args), args.double_buffer, results)
    html = built.html()  # everything is computed before the first file is written
    record = {"network": built.network, "buffer": buffer,
              "configurations": {label: plan.to_dict() for label, plan in built.plans.items()},
              "sweep": [point.to_dict() for point in built.points],
              "time": built.time.to_dict()}
    written = built.save_plots(args.plots) if args.plots is not None else []
    write_output(args.out, html)
    if args.json is not None:
        write_output(args.json, record)
    if not args.quiet:
        console().print(plan_table(built.optimized))
    print(f"{args.out}: report written{f', {len(written)} plot files' if written else ''}; "
          f"{built.optimized.summary()}")
    return 0


def sweep(args) -> int:
    from ..api import sweep as run_sweep

    grid = support.grid(args)
    check_outputs(args, args.json, args.out, plot=args.plot)
    check_distinct([m for m in grid.models if support.is_model_file(m)],
                   [p for p in (args.json, args.out, args.plot) if p is not None])
    support.read_models(grid)
    rows = run_sweep(grid, args.out, args.workers, args.scheduler, args.plans,
                     support.progress(args))
    if args.plot is not None:
        from ..outputs import plots

        save_plot(plots.pareto_fronts(rows), args.plot)
    if args.json is not None:
        write_output(args.json, {"sweep": rows})
    if not args.quiet:
        console().print(sweep_table(rows))
    failed = sum(row["error"] is not None for row in rows)
    print(f"{len(rows)} points ({failed} refused)" + (f"; table {args.out}" if args.out else ""))
    return 0


def plot(args) -> int:
    from ..outputs import plots

    check_output(args.out)
    if Path(args.out).suffix.lower() not in support.FIGURES:
        raise UsageError(f"a plot file must end in .png or .svg, got {args.out!r}")
    rows = _results(args.results, [args.out])
    save_plot(plots.pareto_fronts(rows), args.out)
    print(f"{args.out}: Pareto fronts of {len(rows)} points")
    return 0


def _results(path: str, outputs) -> list[dict]:
    """The rows of the results table at ``path``, an input none of ``outputs`` may be."""
    from ..sweep.results import read_rows

    check_distinct([path], [o for o in outputs if o is not None])
    if not Path(path).exists():
        raise UsageError(f"no results table at {path!r}")
    return read_rows(path)


def cache(args) -> int:
    from ..sweep.store import from_environment

    store = from_environment()
    if store is None:
        print("the on-disk cache is off (POLYSCAN_CACHE=off)")
        return 0
    if args.action == "clear":
        print(f"{store.folder}: removed {_megabytes(store.clear())} of cached entries")
        return 0
    usage = store.usage()
    table = Table("build", "kind", "entries", "MB", title=f"cache {usage.folder}")
    for (build, kind), (entries, size) in usage.counts.items():
        table.add_row(build + (" (this one)" if build == usage.build else ""), kind,
                      f"{entries:,}", f"{size / 1e6:.1f}")
    if usage.counts:
        console().print(table)
    print(f"{usage.folder}: {usage.entries:,} entries, {_megabytes(usage.bytes)} of "
          f"{_megabytes(usage.limit)}; this build is {usage.build}")
    return 0


def _megabytes(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


def trace(args) -> int:
    check_outputs(args, args.json, args.out)
    check_trace_target(Path(args.out), args.format)
    plan = support.plan(args)
    written = plan.write_trace(args.out, args.format)
    if args.json is not None:
        write_output(args.json, {**plan.to_dict(), "trace": {
            "file": str(written.path), "format": written.format,
            "requests": written.requests, "cycles": written.cycles}})
    print(f"{written.path}: {written.requests:,} requests over {written.cycles:,} cycles "
          f"({args.format}); {plan.summary()}")
    return 0


def emit(args) -> int:
    check_outputs(args, args.json, args.out)
    net = support.network(args)
    layer = net.layer(args.layer)  # an unknown layer fails before the search
    if args.no_fusion:
        schedule = search_layer(layer, support.parse_size(args.buffer),
                                support.traversals(args), args.objective,
                                support.dram(args)).schedule
    else:
        plan = support.plan(args, net)
        schedule = next(g.schedule for g in plan.groups if args.layer in g.layers)
    unit = emit_c(schedule)
    counted = traffic(schedule)
    write_output(args.out, unit)
    if args.json is not None:
        write_output(args.json, {
            "network": net.name, "file": args.out,
            "layers": [x.name for x in schedule.layers],
            **schedule.to_dict(), **counted.to_dict()})
    print(f"{args.out}: {schedule}, {len(unit.splitlines()):,} lines; predicted DRAM traffic "
          f"{counted.total:,} entries")
    return 0


def compare(args) -> int:
    check_outputs(args, args.json, plot=args.plot)
    buffer = support.parse_size(args.buffer)
    net = support.network(args)
    layer = net.layer(args.layer)
    comparison = compare_orders(layer, buffer)
    if args.plot is not None:
        from ..outputs import plots
        save_plot(plots.order_comparison(comparison), args.plot)
    if args.json is not None:
        write_output(args.json, {"network": net.name, **comparison.to_dict()})
    if not args.quiet:
        console().print(comparison_table(comparison, lex_rows=args.lex_rows))
    traversals = dict.fromkeys(r.traversal for r in comparison.rows)
    print(f"{layer.name} at {buffer:,} entries: " + ", ".join(
        f"best {t} {comparison.best(t).traffic.total:,}" for t in traversals)
        + f"; lower bound {comparison.bound.value:,}")
    return 0


def traffic_of(args) -> int:
    check_outputs(args, args.json)
    net = support.network(args)
    layers = [net.layer(n) for n in args.layers.split(",")] if args.layers else net.layers
    tile = support.assignments(args.tile, "--tile")
    order = tuple(args.order.split(",")) if args.order else None
    every_dim = {d for layer in layers for d in layer.dims}
    for dim in [*tile, *(order or ())]:
        if dim not in every_dim:
            raise UsageError(f"no selected layer has a dim {dim!r}")
    rows = []
    for layer in layers:
        layer_tile = {d: min(t, layer.extents[d]) for d, t in tile.items() if d in layer.extents}
        layer_order = tuple(d for d in order if d in layer.extents) if order else None
        for traversal in args.traversal.split(","):
            schedule = Schedule(layer, layer_tile, layer_order, traversal)
            rows.append((schedule, traffic(schedule)))
    if args.json is not None:
        write_output(args.json, {"network": net.name, "schedules": [
            {"layer": s.layer.name, **s.to_dict(), **t.to_dict()} for s, t in rows]})
    if not args.quiet:
        _print_traffic_table(net.name, rows)
    print(f"{net.name}: {len(rows)} schedules, {sum(t.total for _, t in rows):,} DRAM entries")
    return 0


def _print_traffic_table(network: str, rows):
    table = Table(title=f"{network}: exact DRAM traffic (entries)")
    for column in ("layer", "tile", "order", "traversal", "reads", "writes", "total", "peak",
                   "tiles"):
        table.add_column(column, justify="right" if column in ("total", "peak", "tiles")
                         else "left")
    for schedule, result in rows:
        table.add_row(schedule.layer.name,
                      ",".join(f"{d}={t}" for d, t in schedule.tile.items()) or "-",
                      ",".join(schedule.order) or "-", schedule.traversal,
                      " ".join(f"{k}:{v:,}" for k, v in result.reads.items()),
                      " ".join(f"{k}:{v:,}" for k, v in result.writes.items()),
                      f"{result.total:,}", f"{result.peak:,}", f"{result.tiles:,}")
    console().print(table)
