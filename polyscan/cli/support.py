"""What the commands share: reading models and sizes, the settings the options make, and
the rules for output files (``polyscan.files``: checked first, written whole at the end)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
from pathlib import Path

from rich.console import Console

from ..api import optimize_network
from ..cost.accelerator import Accelerator, load_accelerator
from ..cost.dram import DramSettings
from ..errors import OutputError, UsageError
from ..files import check_distinct, check_folder, check_output, written_path, written_text
from ..network import zoo
from ..network.onnx_import import load_onnx
from ..sweep.grid import LARGEST, is_model_file, parse_size

FIGURES = (".png", ".svg")


def parse_sizes(text: str) -> list[int]:
    """``"16K,32K,64K"`` -> ``[16384, 32768, 65536]``."""
    items = [item for item in text.split(",") if item.strip()]
    if not items:
        raise UsageError(f"give buffer sizes separated by commas, e.g. 16K,32K,64K; got {text!r}")
    return [parse_size(item) for item in items]


def console() -> Console:
    return Console(width=max(120, Console().width))


def network(args):
    """A built-in network by name, or an ONNX file by path (with ``--input-shape`` and
    ``--unknown``, which only an ONNX file can use)."""
    shapes = args.input_shape or {}
    if is_model_file(args.model):
        return load_onnx(args.model, input_shapes=shapes, unknown=args.unknown)
    if args.model not in zoo.NETWORKS:
        raise UsageError(f"unknown model {args.model!r} (an .onnx file or a built-in network: "
                         f"{', '.join(zoo.NETWORKS)})")
    if shapes or args.unknown != "error":
        option = "--input-shape" if shapes else "--unknown boundary"
        raise UsageError(f"{option} applies to .onnx models only: {args.model!r} is a "
                         f"built-in network with fixed shapes and no unknown operators")
    return zoo.NETWORKS[args.model]()


_SHAPE = re.compile(r"(.+?)=([0-9]+(?:x[0-9]+)*)(?:,|$)")


def input_shapes(text: str) -> list[tuple[str, tuple[int, ...]]]:
    """``"a=1x8,b=1x4"`` -> ``[("a", (1, 8)), ("b", (1, 4))]`` (one ``--input-shape``). A
    name may hold any character, even ``,`` or ``=``: it ends at the ``=`` before the dims."""
    shapes, position = [], 0
    while position < len(text):
        match = _SHAPE.match(text, position)
        if not match:
            raise UsageError(f"want NAME=DIMS such as data=1x3x224x224 (several separated by "
                             f"commas), got {text!r}")
        name, dims = match.group(1), tuple(map(int, match.group(2).split("x")))
        if not all(0 < dim <= LARGEST for dim in dims):
            raise UsageError(f"input {name!r}: every dim must be positive and within 64 bits, "
                             f"got {match.group(2)}")
        shapes.append((name, dims))
        position = match.end()
    return shapes


def assignments(text: str, option: str) -> dict[str, int]:
    """``"y=8,k=32"`` -> ``{"y": 8, "k": 32}``."""
    result = {}
    for item in filter(None, text.split(",")):
        name, _, value = item.partition("=")
        if not name or not re.fullmatch(r"\s*-?[0-9]+\s*", value):
            raise UsageError(f"{option} wants NAME=INTEGER items, got {item!r}")
        if name.strip() in result:
            raise UsageError(f"{option} gives {name.strip()!r} twice")
        result[name.strip()] = int(value)
    return result


def check_outputs(args, *paths, plot=None, plots=None) -> None:
    """Fail before any work when an output cannot be written, is an input (the model, a
    preset file) or is named twice. ``plot``: a figure file (.png or .svg); ``plots``: a
    folder for the report's figure files, so no other file may be a .png or .svg in it."""
    outputs = [path for path in (*paths, plot) if path is not None]
    for path in outputs:
        check_output(path)
    if plot is not None and Path(plot).suffix.lower() not in FIGURES:
        raise UsageError(f"a plot file must end in .png or .svg, got {plot!r}")
    inputs = [args.model] if args.model and is_model_file(args.model) else []
    for given in (getattr(args, "dram", None), getattr(args, "accel", None)):
        if given is not None and Path(given).suffix == ".toml":
            inputs.append(given)  # a preset or accelerator file is an input
    check_distinct(inputs, outputs)
    if plots is not None:
        check_folder(plots)
        folder = Path(os.path.realpath(plots))
        for path in [*inputs, *outputs]:  # the figure files' names are the report's choice
            if Path(path).suffix.lower() in FIGURES and \
                    Path(os.path.realpath(path)).parent == folder:
                raise UsageError(f"--plots {plots}: its figure files could overwrite {path}; "
                                 f"name another folder")


def write_output(path: str, data) -> None:
    """Write text, or ``data`` as strict JSON, whole (``files.written_text``)."""
    try:
        text = data if isinstance(data, str) else \
            json.dumps(data, indent=2, allow_nan=False) + "\n"
    except ValueError:  # NaN or infinity: not JSON, and not a figure anyone should get
        raise OutputError(f"cannot write {path!r}: a figure is not a finite number") from None
    with written_text(path) as stream:
        stream.write(text)


def save_plot(figure, path: str) -> None:
    """Draw ``figure`` into ``path`` whole, as ``write_output`` does text."""
    from ..outputs import plots  # matplotlib: loaded only by the commands that draw

    with written_path(path) as target:
        plots.save(figure, target)


def accelerator(args) -> Accelerator | None:
    """``--accel``, with ``--dram`` and ``--element-bits`` where given; None without it (and
    without ``--objective latency``, which then assumes ``search.optimizer``'s default)."""
    if getattr(args, "accel", None) is None:
        return None
    accel = load_accelerator(args.accel)
    return dataclasses.replace(accel, dram=args.dram or accel.dram,
                               element_bits=args.element_bits)


def dram(args) -> DramSettings:
    accel = accelerator(args)
    return DramSettings(args.dram or (accel.dram if accel else "ddr3-1600"),
                        args.element_bits, args.layout)


def traversals(args) -> tuple[str, ...]:
    return ("lex", "scan") if args.traversal == "all" else (args.traversal,)


def progress(args) -> bool | None:
    """Progress bars on a terminal, unless ``--quiet``."""
    return False if args.quiet else None


def plan(args, net=None):
    """The plan the network-optimizing options ask for (of ``net`` when already read)."""
    buffer = parse_size(args.buffer)  # a malformed size fails before the model is read
    return optimize_network(net or network(args), buffer,
                            fusion=not args.no_fusion, traversals=traversals(args),
                            progress=progress(args), objective=args.objective,
                            dram=dram(args), resident=False if args.no_resident else None,
                            accel=accelerator(args),
                            double_buffer=getattr(args, "double_buffer", False))


def grid(args):
    """The grid of ``polyscan sweep``: from ``--grid FILE``, or from MODEL, ``--models`` and
    the axis options (comma lists)."""
    from ..sweep.grid import Grid, load_grid

    axes = [option for option, given in (("MODEL", args.model), ("--models", args.models),
                                         ("--buffers", args.buffers)) if given]
    if args.grid is not None:
        if axes:
            raise UsageError(f"--grid gives the whole grid: drop {axes[0]}")
        grid = load_grid(args.grid)
    else:
        models = [args.model] if args.model else []
        models += [m.strip() for m in (args.models or "").split(",") if m.strip()]
        if not models:
            raise UsageError("name a model (MODEL or --models), or a grid file (--grid)")
        if args.buffers is None:
            raise UsageError("the following arguments are required: --buffers")
        grid = Grid(models=tuple(models), buffers=tuple(parse_sizes(args.buffers)),
                    dram=_items(args.dram), element_bits=tuple(
                        _bits(b) for b in _items(args.element_bits)),
                    objectives=_items(args.objective), traversals=_items(args.traversal),
                    fusion=(not args.no_fusion,),
                    resident=(False,) if args.no_resident else (None,), accel=args.accel,
                    double_buffer=args.double_buffer, input_shapes=args.input_shape or {},
                    unknown=args.unknown)
    return grid


def read_models(grid) -> None:
    """Read every model of the grid once, so a bad one fails before any point runs."""
    for model in grid.models:
        file = is_model_file(model)
        network(argparse.Namespace(model=model, input_shape=grid.input_shapes if file else {},
                                   unknown=grid.unknown if file else "error"))


def _items(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _bits(text: str) -> int:
    if not text.isdigit():
        raise UsageError(f"--element-bits wants whole numbers such as 8,16, got {text!r}")
    return int(text)
