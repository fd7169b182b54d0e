"""The ``polyscan`` command line.

Every bad input ends with one line on stderr and exit code 2: no traceback, no partial file.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from . import zoo
from .dram import FORMATS, DramSettings, builtin_presets
from .dram.memory import LAYOUTS
from .dram.trace import check_trace_target
from .emit import emit_c
from .errors import PolyscanError
from .onnx_import import load_onnx
from .plan import optimize_network
from .schedule import Schedule
from .search.compare import compare_orders
from .search.optimizer import OBJECTIVES, search_layer
from .traffic import traffic

MODEL_HELP = f"an .onnx file or a built-in network ({', '.join(zoo.NETWORKS)})"


class UsageError(PolyscanError):
    """A command-line argument is malformed."""


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except PolyscanError as error:
        print(f"polyscan: error: {error}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="polyscan", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    optimize = commands.add_parser("optimize", help="optimal schedules of a whole network")
    optimize.add_argument("model", help=MODEL_HELP)
    _plan_options(optimize)
    optimize.add_argument("--json", metavar="FILE", help="also write the plan as JSON")
    optimize.add_argument("--quiet", action="store_true", help="print only the summary line")
    optimize.set_defaults(run=_run_optimize)

    trace = commands.add_parser("trace", help="the optimized plan's DRAM requests as a trace "
                                "for DRAMSim2, DRAMSim3 or Ramulator")
    trace.add_argument("model", help=MODEL_HELP)
    _plan_options(trace)
    trace.add_argument("--format", choices=FORMATS, default="dramsim3", help="trace format")
    trace.add_argument("--out", required=True, metavar="FILE",
                       help="trace file (.gz: compressed; dramsim2 names must start mase_)")
    trace.set_defaults(run=_run_trace)

    emit = commands.add_parser("emit-c", help="the schedule of a layer (the fused group "
                               "holding it, with fusion) as annotated C")
    emit.add_argument("model", help=MODEL_HELP)
    emit.add_argument("--layer", required=True, help="layer name")
    _plan_options(emit)
    emit.add_argument("--out", required=True, metavar="FILE", help="C file to write")
    emit.set_defaults(run=_run_emit)

    compare = commands.add_parser("compare-orders",
                                  help="best schedule of each traversal for one layer")
    compare.add_argument("model", help=MODEL_HELP)
    compare.add_argument("--layer", required=True, help="layer name")
    compare.add_argument("--buffer", required=True, help="on-chip buffer in entries")
    compare.add_argument("--lex-rows", type=int, default=12,
                         help="how many lex loop orders to print (all are in --json)")
    compare.add_argument("--json", metavar="FILE", help="also write every row as JSON")
    compare.set_defaults(run=_run_compare)

    count = commands.add_parser("traffic", help="exact DRAM traffic of one schedule per layer")
    count.add_argument("model", help=MODEL_HELP)
    count.add_argument("--layers", help="comma-separated layer names (default: all)")
    count.add_argument("--tile", default="", help="tile sizes, e.g. y=8,x=8,k=32; for each "
                       "layer, a dim it lacks is skipped and a size beyond its extent means "
                       "untiled")
    count.add_argument("--order", help="tiled dims outer to inner, e.g. k,y,x (default: the "
                       "layer's dim order)")
    count.add_argument("--traversal", default="lex,scan",
                       help="comma-separated traversals: lex, scan, zorder, hilbert")
    count.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    count.set_defaults(run=_run_traffic)
    return parser


def _plan_options(command):
    """Options of the commands that optimize a network."""
    command.add_argument("--buffer", required=True, help="on-chip buffer in entries: "
                         "65536, 64K, 1M")
    command.add_argument("--no-fusion", action="store_true", help="schedule layers alone")
    command.add_argument("--traversal", choices=("lex", "scan", "all"), default="all",
                         help="traversals to search (all: lex and scan)")
    command.add_argument("--objective", choices=OBJECTIVES, default="traffic",
                         help="what the search minimises: DRAM entries, or modeled DRAM "
                         "energy or time")
    command.add_argument("--dram", default="ddr3-1600", metavar="PRESET",
                         help=f"DRAM device: {', '.join(builtin_presets())} or a preset .toml")
    command.add_argument("--element-bits", type=int, default=8, choices=(8, 16, 32),
                         help="bits per tensor element in DRAM")
    command.add_argument("--layout", choices=LAYOUTS, default="CHW",
                         help="activation layout in DRAM")


def _plan(args):
    """The plan the network-optimizing options ask for."""
    buffer = parse_size(args.buffer)
    dram = DramSettings(args.dram, args.element_bits, args.layout)
    net = _network(args.model)
    traversals = ("lex", "scan") if args.traversal == "all" else (args.traversal,)
    return optimize_network(net, buffer, fusion=not args.no_fusion, traversals=traversals,
                            progress=False if getattr(args, "quiet", False) else None,
                            objective=args.objective, dram=dram)


def _run_traffic(args) -> int:
    if args.json:
        _check_writable(args.json)
    net = _network(args.model)
    layers = [net.layer(n) for n in args.layers.split(",")] if args.layers else net.layers
    tile = _assignments(args.tile, "--tile")
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
    _print_traffic_table(net.name, rows)
    if args.json:
        _write_atomically(args.json, {"network": net.name, "schedules": [
            {"layer": s.layer.name, "tile": s.tile, "order": list(s.order),
             "traversal": s.traversal, "reads": t.reads, "writes": t.writes, "peak": t.peak,
             "tiles": t.tiles, "dram_entries": t.total} for s, t in rows]})
    return 0


def _run_optimize(args) -> int:
    if args.json:
        _check_writable(args.json)
    plan = _plan(args)
    if not args.quiet:
        _console().print(plan.table())
    print(plan.summary())
    if args.json:
        _write_atomically(args.json, plan.to_json())
    return 0


def _run_trace(args) -> int:
    _check_writable(args.out)
    check_trace_target(Path(args.out), args.format)
    plan = _plan(args)
    written = plan.write_trace(args.out, args.format)
    print(f"{written.path}: {written.requests:,} requests over {written.cycles:,} cycles "
          f"({args.format}); {plan.summary()}")
    return 0


def _run_emit(args) -> int:
    _check_writable(args.out)
    net = _network(args.model)
    net.layer(args.layer)  # an unknown layer fails before the search
    if args.no_fusion:
        traversals = ("lex", "scan") if args.traversal == "all" else (args.traversal,)
        schedule = search_layer(net.layer(args.layer), parse_size(args.buffer), traversals,
                                args.objective, DramSettings(args.dram, args.element_bits,
                                                             args.layout)).schedule
    else:
        plan = _plan(args)
        schedule = next(g.schedule for g in plan.groups if args.layer in g.layers)
    unit = emit_c(schedule)
    _write_atomically(args.out, unit)
    print(f"{args.out}: {schedule}, {len(unit.splitlines()):,} lines; predicted DRAM traffic "
          f"{traffic(schedule).total:,} entries")
    return 0


def _run_compare(args) -> int:
    buffer = parse_size(args.buffer)
    if args.json:
        _check_writable(args.json)
    layer = _network(args.model).layer(args.layer)
    comparison = compare_orders(layer, buffer)
    _console().print(comparison.table(lex_rows=args.lex_rows))
    if args.json:
        _write_atomically(args.json, json.loads(comparison.to_json()))
    return 0


def parse_size(text: str) -> int:
    """``"64K"`` -> 65536, ``"1M"`` -> 1048576, ``"65536"`` -> 65536 (entries)."""
    match = re.fullmatch(r"\s*(\d+)\s*([kKmMgG]?)\s*", text)
    if not match or int(match.group(1)) == 0:
        raise UsageError(f"buffer size must be a positive whole number of entries such as "
                         f"65536, 64K or 1M, got {text!r}")
    return int(match.group(1)) * 1024 ** " KMG".index(match.group(2).upper() or " ")


def _console() -> Console:
    return Console(width=max(120, Console().width))


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
    _console().print(table)


def _network(model: str):
    """A built-in network by name, or an ONNX file by path."""
    if model.endswith(".onnx") or Path(model).is_file():
        return load_onnx(model)
    if model not in zoo.NETWORKS:
        raise UsageError(f"unknown model {model!r} (an .onnx file or a built-in network: "
                         f"{', '.join(zoo.NETWORKS)})")
    return zoo.NETWORKS[model]()


def _assignments(text: str, option: str) -> dict[str, int]:
    """``"y=8,k=32"`` -> ``{"y": 8, "k": 32}``."""
    result = {}
    for item in filter(None, text.split(",")):
        name, _, value = item.partition("=")
        if not name or not value.strip().lstrip("-").isdigit():
            raise UsageError(f"{option} wants NAME=INTEGER items, got {item!r}")
        result[name.strip()] = int(value)
    return result


def _check_writable(path: str) -> None:
    """Fail before any work when an output file cannot be written."""
    folder = Path(path).parent
    if not folder.is_dir():
        raise UsageError(f"cannot write {path}: no folder {folder}")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"cannot write {path}: folder {folder} is not writable")


def _write_atomically(path: str, data) -> None:
    """Write text (or JSON of ``data``) through a temporary file in the same folder,
    renamed into place."""
    target = Path(path)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(data if isinstance(data, str) else json.dumps(data, indent=2))
        os.replace(temporary, target)
    except BaseException:
        os.unlink(temporary)
        raise


if __name__ == "__main__":
    sys.exit(main())
