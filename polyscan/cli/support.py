"""What the commands share: reading models and sizes, the settings the options make, and
writing files only when the whole result is ready."""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

from rich.console import Console

from .. import zoo
from ..dram import DramSettings
from ..errors import PolyscanError
from ..onnx_import import load_onnx
from ..plan import optimize_network


class UsageError(PolyscanError):
    """A command-line argument is malformed."""


def parse_size(text: str) -> int:
    """``"64K"`` -> 65536, ``"1M"`` -> 1048576, ``"65536"`` -> 65536 (entries)."""
    match = re.fullmatch(r"\s*(\d+)\s*([kKmMgG]?)\s*", text)
    if not match or int(match.group(1)) == 0:
        raise UsageError(f"buffer size must be a positive whole number of entries such as "
                         f"65536, 64K or 1M, got {text!r}")
    return int(match.group(1)) * 1024 ** " KMG".index(match.group(2).upper() or " ")


def parse_sizes(text: str) -> list[int]:
    """``"16K,32K,64K"`` -> ``[16384, 32768, 65536]``."""
    items = [item for item in text.split(",") if item.strip()]
    if not items:
        raise UsageError(f"give buffer sizes separated by commas, e.g. 16K,32K,64K; got {text!r}")
    return [parse_size(item) for item in items]


def console() -> Console:
    return Console(width=max(120, Console().width))


def network(model: str):
    """A built-in network by name, or an ONNX file by path."""
    if model.endswith(".onnx") or Path(model).is_file():
        return load_onnx(model)
    if model not in zoo.NETWORKS:
        raise UsageError(f"unknown model {model!r} (an .onnx file or a built-in network: "
                         f"{', '.join(zoo.NETWORKS)})")
    return zoo.NETWORKS[model]()


def assignments(text: str, option: str) -> dict[str, int]:
    """``"y=8,k=32"`` -> ``{"y": 8, "k": 32}``."""
    result = {}
    for item in filter(None, text.split(",")):
        name, _, value = item.partition("=")
        if not name or not value.strip().lstrip("-").isdigit():
            raise UsageError(f"{option} wants NAME=INTEGER items, got {item!r}")
        result[name.strip()] = int(value)
    return result


def check_writable(path: str) -> None:
    """Fail before any work when an output file cannot be written."""
    folder = Path(path).parent
    if not folder.is_dir():
        raise UsageError(f"cannot write {path}: no folder {folder}")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"cannot write {path}: folder {folder} is not writable")


def write_atomically(path: str, data) -> None:
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


def dram(args) -> DramSettings:
    return DramSettings(args.dram, args.element_bits, args.layout)


def traversals(args) -> tuple[str, ...]:
    return ("lex", "scan") if args.traversal == "all" else (args.traversal,)


def progress(args) -> bool | None:
    """Progress bars on a terminal, unless ``--quiet``."""
    return False if args.quiet else None


def plan(args, buffer: int | None = None):
    """The plan the network-optimizing options ask for."""
    return optimize_network(network(args.model), buffer or parse_size(args.buffer),
                            fusion=not args.no_fusion, traversals=traversals(args),
                            progress=progress(args), objective=args.objective,
                            dram=dram(args))
