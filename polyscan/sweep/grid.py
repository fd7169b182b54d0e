"""A design-space grid (DESIGN 7a): networks x buffers x DRAM presets x element sizes x
objectives x traversals, each point one ``optimize_network`` whose figures become a row of
the results table. Points are plain, picklable data, so any Dask worker can run one."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import re
import tomllib
from dataclasses import dataclass, field, fields
from importlib.metadata import version
from pathlib import Path

from ..cost.accelerator import load_accelerator
from ..cost.dram import DramSettings
from ..cost.dram.presets import load_preset
from ..errors import PolyscanError, UsageError
from ..network import zoo
from ..network.onnx_import import load_onnx
from ..network.partition import optimize_network
from ..search.optimizer import OBJECTIVES, SEARCHABLE
from .results import error_row, plan_row, write_plan

VERSION = version("polyscan")
LARGEST = 2 ** 63 - 1  # the search counts in 64-bit integers
TRAVERSAL_SETS = {"lex": ("lex",), "scan": ("scan",), "all": SEARCHABLE}


@dataclass(frozen=True)
class Point:
    """One run of the grid; its fields (with polyscan's version) are the row's key, so a
    rerun skips the points already in the table."""

    network: str  # a built-in name or an ONNX path, as given
    model_sha256: str | None  # of the ONNX file's bytes: a changed file is a new point
    buffer: int
    dram: str
    element_bits: int
    objective: str
    traversals: str  # "lex", "scan" or "lex,scan"
    fusion: bool
    resident: bool
    accel: str | None
    double_buffer: bool
    polyscan_version: str = VERSION

    def key(self) -> tuple:
        return tuple(getattr(self, f.name) for f in fields(self))

    def label(self) -> str:
        return (f"{Path(self.network).name} {self.buffer:,} {self.dram} {self.element_bits}b "
                f"{self.objective} {self.traversals}" + ("" if self.fusion else " no fusion"))


@dataclass(frozen=True)
class Grid:
    """The axes of a sweep; every combination is a point. ``traversals`` items are "lex",
    "scan" or "all"; ``fusion`` and ``resident`` are axes too (``resident=None`` follows
    fusion, as in ``optimize_network``). ``input_shapes`` and ``unknown`` apply to every
    ONNX model, ``accel`` and ``double_buffer`` to every point."""

    models: tuple[str, ...]
    buffers: tuple[int, ...]
    dram: tuple[str, ...] = ("ddr3-1600",)
    element_bits: tuple[int, ...] = (8,)
    objectives: tuple[str, ...] = ("traffic",)
    traversals: tuple[str, ...] = ("all",)
    fusion: tuple[bool, ...] = (True,)
    resident: tuple[bool | None, ...] = (None,)
    accel: str | None = None
    double_buffer: bool = False
    input_shapes: dict = field(default_factory=dict)
    unknown: str = "error"

    def __post_init__(self):
        for name in ("models", "buffers", "dram", "element_bits", "objectives", "traversals",
                     "fusion", "resident"):
            value = getattr(self, name)
            items = (value,) if isinstance(value, str | int | bool) or value is None else \
                tuple(value)
            if not items:
                raise UsageError(f"the grid's {name} is empty")
            if len(set(items)) != len(items):
                raise UsageError(f"the grid's {name} names an item twice: {list(items)}")
            object.__setattr__(self, name, items)
        _check_items("buffers", self.buffers, lambda b: isinstance(b, int) and
                     not isinstance(b, bool) and b > 0, "positive whole numbers of entries")
        _check_items("element_bits", self.element_bits, lambda b: b in (8, 16, 32),
                     "8, 16 or 32")
        _check_items("objectives", self.objectives, lambda o: o in OBJECTIVES,
                     ", ".join(OBJECTIVES))
        _check_items("traversals", self.traversals, lambda t: t in TRAVERSAL_SETS,
                     "lex, scan or all")
        _check_items("fusion", self.fusion, lambda f: isinstance(f, bool), "true or false")
        _check_items("resident", self.resident, lambda r: r is None or isinstance(r, bool),
                     "true, false or none")
        for preset in self.dram:
            load_preset(preset)  # an unknown preset or a bad file fails before any run
        if self.accel is not None:
            load_accelerator(self.accel)
        if self.unknown not in ("error", "boundary"):
            raise UsageError(f"unknown must be 'error' or 'boundary', got {self.unknown!r}")
        for model in self.models:
            if not is_model_file(model) and model not in zoo.NETWORKS:
                raise UsageError(f"unknown model {model!r} (an .onnx file or a built-in "
                                 f"network: {', '.join(zoo.NETWORKS)})")

    def points(self) -> list[Point]:
        """Every point, models outermost, in the order the axes are given."""
        hashes = {model: file_sha256(model) if is_model_file(model) else None
                  for model in self.models}
        return [Point(model, hashes[model], buffer, dram, bits, objective,
                      ",".join(TRAVERSAL_SETS[traversal]), fusion,
                      fusion if resident is None else resident, self.accel,
                      self.double_buffer)
                for model, buffer, dram, bits, objective, traversal, fusion, resident
                in itertools.product(self.models, self.buffers, self.dram,
                                     self.element_bits, self.objectives, self.traversals,
                                     self.fusion, self.resident)]


def _check_items(name: str, items, valid, wanted: str):
    bad = [item for item in items if not valid(item)]
    if bad:
        raise UsageError(f"the grid's {name} must be {wanted}, got {bad[0]!r}")


def is_model_file(model: str) -> bool:
    return model.endswith(".onnx") or Path(model).is_file()


def file_sha256(path: str) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError as problem:
        raise UsageError(f"cannot read {path!r}: {problem.strerror or problem}") from None


def load_grid(path) -> Grid:
    """A grid from a TOML file: the ``Grid`` fields as keys, sizes as numbers or "64K"."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as problem:
        raise UsageError(f"cannot read the grid {str(path)!r}: "
                         f"{problem.strerror or problem}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as problem:
        raise UsageError(f"{path}: not a TOML grid: {problem}") from None
    known = {f.name for f in fields(Grid)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise UsageError(f"{path}: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})")
    if "buffers" in data:
        items = data["buffers"] if isinstance(data["buffers"], list) else [data["buffers"]]
        data["buffers"] = [parse_size(b) if isinstance(b, str) else b for b in items]
    if "resident" in data:
        items = data["resident"] if isinstance(data["resident"], list) else [data["resident"]]
        data["resident"] = [None if r == "none" else r for r in items]
    if "input_shapes" in data:
        data["input_shapes"] = {name: tuple(dims) for name, dims in
                                dict(data["input_shapes"]).items()}
    missing = [name for name in ("models", "buffers") if name not in data]
    if missing:
        raise UsageError(f"{path}: the grid needs {missing[0]!r}")
    return Grid(**data)


def parse_size(text: str) -> int:
    """``"64K"`` -> 65536, ``"1M"`` -> 1048576, ``"65536"`` -> 65536 (entries)."""
    match = re.fullmatch(r"\s*([0-9]+)\s*([kKmMgG]?)\s*", text)
    if not match or int(match.group(1)) == 0:
        raise UsageError(f"buffer size must be a positive whole number of entries such as "
                         f"65536, 64K or 1M, got {text!r}")
    size = int(match.group(1)) * 1024 ** " KMG".index(match.group(2).upper() or " ")
    if size > LARGEST:
        raise UsageError(f"buffer size {text!r} is beyond 64-bit integers")
    return size


def load_network(point: Point, grid: Grid):
    """The network a point names (a built-in by name, an ONNX file with the grid's input
    shapes and unknown-operator policy)."""
    if is_model_file(point.network):
        return load_onnx(point.network, input_shapes=grid.input_shapes, unknown=grid.unknown)
    return zoo.NETWORKS[point.network]()


def run_point(point: Point, grid: Grid, plans: str | None = None) -> dict:
    """The row of one point (on whichever process runs it); a point the search refuses (a
    buffer too small for the network, say) is a row with its error, so a rerun skips it too.
    ``plans``: a folder to write the plan's JSON in, named by the point."""
    try:
        net = load_network(point, grid)
        plan = optimize_network(
            net, point.buffer, fusion=point.fusion,
            traversals=tuple(point.traversals.split(",")), objective=point.objective,
            dram=DramSettings(point.dram, point.element_bits), resident=point.resident,
            accel=dataclasses.replace(load_accelerator(point.accel), dram=point.dram,
                                      element_bits=point.element_bits)
            if point.accel else None,
            double_buffer=point.double_buffer)
    except PolyscanError as problem:
        return error_row(point, str(problem))
    row = plan_row(point, plan)
    if plans is not None:
        write_plan(plans, point, plan)
    return row
