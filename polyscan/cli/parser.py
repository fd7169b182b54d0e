"""The command-line grammar: commands, their options and help."""

from __future__ import annotations

import argparse

from ..cost.accelerator import builtin_accelerators
from ..cost.dram import builtin_presets
from ..cost.dram.memory import LAYOUTS
from ..cost.dram.trace import FORMATS
from ..errors import UsageError
from ..network import zoo
from ..search.optimizer import OBJECTIVES
from . import commands, support

MODEL_HELP = f"an .onnx file or a built-in network ({', '.join(zoo.NETWORKS)})"


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit code 2), like every other error."""

    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message} (see --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="polyscan", description="Exact DRAM traffic, energy and time of "
                     "tiled, Scan-ordered and fused CNN schedules.")
    subparsers = parser.add_subparsers(required=True, metavar="COMMAND")

    def command(name: str, run, help: str, buffer=True, json_help="also write the figures "
                "as JSON", model=None) -> argparse.ArgumentParser:
        sub = subparsers.add_parser(name, help=help, description=help)
        sub.add_argument("model", help=MODEL_HELP, nargs=model)
        sub.add_argument("--input-shape", action=_InputShapes, metavar="NAME=DIMS",
                         help="shape of an ONNX input with symbolic dims, e.g. "
                         "data=1x3x224x224 (repeat, or separate several by commas)")
        sub.add_argument("--unknown", choices=("error", "boundary"), default="error",
                         help="an unsupported ONNX operator: an error, or a layer boundary "
                         "of unknown cost")
        if buffer:
            sub.add_argument("--buffer", required=True, help="on-chip buffer in entries: "
                             "65536, 64K, 1M")
        sub.add_argument("--json", metavar="FILE", help=json_help)
        sub.add_argument("--quiet", action="store_true",
                         help="no tables or progress: the summary line only")
        sub.set_defaults(run=run)
        return sub

    optimize = command("optimize", commands.optimize, "optimal schedules of a whole network",
                       json_help="also write the plan as JSON")
    _search_options(optimize)
    _device_options(optimize)

    report = command("report", commands.report, "a self-contained HTML report: the seed paper's "
                     "four configurations, the optimized plan, figures")
    _device_options(report)
    report.add_argument("--sweep", metavar="SIZES", help="also sweep these buffer sizes, "
                        "e.g. 16K,32K,64K,128K")
    report.add_argument("--results", metavar="TABLE", help="also show the Pareto fronts of "
                        "this results table of polyscan sweep (.parquet or .csv)")
    report.add_argument("--out", required=True, metavar="FILE", help="HTML file to write")
    report.add_argument("--plots", metavar="FOLDER", help="also write every figure as PNG "
                        "and SVG there")

    sweep = command("sweep", commands.sweep, "a grid of networks x buffers x DRAM x bits x "
                    "objectives x traversals, each point optimized on a Dask cluster, a row "
                    "each in a results table", buffer=False, model="?")
    sweep.add_argument("--models", metavar="LIST", help="more models, separated by commas")
    sweep.add_argument("--grid", metavar="FILE", help="the whole grid as a TOML file (its "
                       "keys: the fields of polyscan.Grid), instead of the axis options")
    sweep.add_argument("--buffers", metavar="SIZES", help="buffer sizes, e.g. 16K,32K,64K")
    sweep.add_argument("--dram", metavar="PRESETS", default="ddr3-1600",
                       help=f"DRAM presets or preset files, separated by commas "
                       f"({', '.join(builtin_presets())})")
    sweep.add_argument("--element-bits", metavar="BITS", default="8",
                       help="bits per element in DRAM, e.g. 8,16")
    sweep.add_argument("--objective", metavar="LIST", default="traffic",
                       help=f"objectives, separated by commas ({', '.join(OBJECTIVES)})")
    sweep.add_argument("--traversal", metavar="LIST", default="all",
                       help="traversal sets, separated by commas (lex, scan, all)")
    sweep.add_argument("--no-fusion", action="store_true", help="schedule layers alone")
    sweep.add_argument("--no-resident", action="store_true",
                       help="send every tensor between groups through DRAM")
    sweep.add_argument("--accel", metavar="FILE", default=None,
                       help="the accelerator every point is timed on (and --objective "
                       "latency minimises)")
    sweep.add_argument("--double-buffer", action="store_true",
                       help="the double-buffered capacity rule at every point")
    sweep.add_argument("--out", metavar="FILE", help="the results table (.parquet or .csv): "
                       "points already in it are skipped, each new row written as it finishes")
    sweep.add_argument("--plans", metavar="FOLDER", help="also write each new point's plan as "
                       "JSON there")
    sweep.add_argument("--workers", type=_count, default=None,
                       help="worker processes of the local Dask cluster (default: the cores; "
                       "0: run the points here, one after the other)")
    sweep.add_argument("--scheduler", metavar="ADDRESS", help="a running Dask scheduler to "
                       "submit to, e.g. tcp://host:8786")
    sweep.add_argument("--plot", metavar="FILE", help="also draw the Pareto fronts (.png or .svg)")

    plot = subparsers.add_parser("plot", help="the Pareto fronts of a sweep's results table",
                                 description="the Pareto fronts of a sweep's results table")
    plot.add_argument("results", help="a results table of polyscan sweep (.parquet or .csv)")
    plot.add_argument("--out", required=True, metavar="FILE", help="figure file (.png or .svg)")
    plot.set_defaults(run=commands.plot)

    cache = subparsers.add_parser("cache", help="what the on-disk cache of closed forms and "
                                  "searches holds, or empty it", description="what the on-disk "
                                  "cache of closed forms and searches holds (info), or empty it "
                                  "(clear); POLYSCAN_CACHE_DIR, POLYSCAN_CACHE_SIZE and "
                                  "POLYSCAN_CACHE=off set it up")
    cache.add_argument("action", choices=("info", "clear"))
    cache.set_defaults(run=commands.cache)

    trace = command("trace", commands.trace, "the optimized plan's DRAM requests as a trace for "
                    "DRAMSim2, DRAMSim3 or Ramulator")
    _search_options(trace)
    _device_options(trace)
    trace.add_argument("--format", choices=FORMATS, default="dramsim3", help="trace format")
    trace.add_argument("--out", required=True, metavar="FILE",
                       help="trace file (.gz: compressed; dramsim2 names must start mase_)")

    emit = command("emit-c", commands.emit, "the schedule of a layer (the fused group holding "
                   "it, with fusion) as annotated C")
    emit.add_argument("--layer", required=True, help="layer name")
    _search_options(emit)
    _device_options(emit)
    emit.add_argument("--out", required=True, metavar="FILE", help="C file to write")

    timeline = command("timeline", commands.timeline, "the optimized plan's timeline (DMA in, "
                       "compute, DMA out, buffer contents) as a Perfetto / Chrome trace",
                       json_help="also write the time figures as JSON")
    _search_options(timeline)
    _device_options(timeline)
    timeline.add_argument("--per", choices=("tile", "group"), default="tile",
                          help="one event per tile (default) or per group")
    timeline.add_argument("--out", required=True, metavar="FILE",
                          help="trace file to write (.json; open in ui.perfetto.dev)")

    compare = command("compare-orders", commands.compare,
                      "best schedule of each traversal and loop order for one layer",
                      json_help="also write every row as JSON")
    compare.add_argument("--layer", required=True, help="layer name")
    compare.add_argument("--lex-rows", type=_count, default=12,
                         help="how many lex loop orders to print (all are in --json)")
    compare.add_argument("--plot", metavar="FILE", help="also draw the traversals (.png, .svg)")

    count = command("traffic", commands.traffic_of, "exact DRAM traffic of one schedule per layer",
                    buffer=False)
    count.add_argument("--layers", help="comma-separated layer names (default: all)")
    count.add_argument("--tile", default="", help="tile sizes, e.g. y=8,x=8,k=32; for each "
                       "layer, a dim it lacks is skipped and a size beyond its extent means "
                       "untiled")
    count.add_argument("--order", help="tiled dims outer to inner, e.g. k,y,x (default: the "
                       "layer's dim order)")
    count.add_argument("--traversal", default="lex,scan",
                       help="comma-separated traversals: lex, scan, zorder, hilbert")
    return parser


class _InputShapes(argparse.Action):
    """``--input-shape``: a dict of every option's NAME=DIMS items, each malformed or repeated
    one a usage error as the options are read, before any work."""

    def __call__(self, parser, namespace, text, option=None):
        shapes = dict(getattr(namespace, self.dest) or {})
        try:
            items = support.input_shapes(text)
        except UsageError as error:
            parser.error(f"argument {option}: {error}")
        for name, dims in items:
            if name in shapes:
                parser.error(f"argument {option}: input {name!r} is given twice")
            shapes[name] = dims
        setattr(namespace, self.dest, shapes)


def _count(text: str) -> int:
    """A whole number >= 0 (argparse turns the error into a usage line)."""
    if not text.strip().isascii() or not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"want a whole number >= 0, got {text!r}")
    return int(text)


def _search_options(command):
    command.add_argument("--no-fusion", action="store_true", help="schedule layers alone")
    command.add_argument("--no-resident", action="store_true",
                         help="send every tensor between groups through DRAM (by default "
                         "a fused plan may keep some resident in the buffer)")
    command.add_argument("--traversal", choices=("lex", "scan", "all"), default="all",
                         help="traversals to search (all: lex and scan)")


def _device_options(command):
    command.add_argument("--objective", choices=OBJECTIVES, default="traffic",
                         help="what the search minimises: DRAM entries, modeled DRAM "
                         "energy, or the makespan on the accelerator")
    command.add_argument("--dram", default=None, metavar="PRESET",
                         help=f"DRAM device: {', '.join(builtin_presets())} or a preset .toml "
                         f"(default: the accelerator's, else ddr3-1600)")
    command.add_argument("--element-bits", type=int, default=8, choices=(8, 16, 32),
                         help="bits per tensor element in DRAM")
    command.add_argument("--layout", choices=LAYOUTS, default="CHW",
                         help="activation layout in DRAM")
    command.add_argument("--accel", metavar="FILE", default=None,
                         help=f"the accelerator (MAC array, clock, on-chip energies): "
                         f"{', '.join(builtin_accelerators())} or a description .toml; "
                         f"times the plan, and is what --objective latency minimises")
    command.add_argument("--double-buffer", action="store_true",
                         help="double-buffered tiles: the capacity rule is the peak while a "
                         "tile computes beside the next one's reads and the last one's writes")
