"""The results table of a sweep: one row per grid point, Parquet (or CSV by the file's
suffix), always written whole through a temporary file so a reader, or a sweep stopped
midway, never sees half a table; read back to resume a grid."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ..errors import OutputError, UsageError
from ..files import written_path, written_text

KEY = pa.schema([  # a point's fields (sweep.grid.Point): what a rerun matches rows by
    ("network", pa.string()), ("model_sha256", pa.string()), ("buffer", pa.int64()),
    ("dram", pa.string()), ("element_bits", pa.int64()), ("objective", pa.string()),
    ("traversals", pa.string()), ("fusion", pa.bool_()), ("resident", pa.bool_()),
    ("accel", pa.string()), ("double_buffer", pa.bool_()), ("polyscan_version", pa.string()),
])
FIGURES = pa.schema([  # null where the point failed (``error`` says why)
    ("dram_entries", pa.int64()), ("compulsory_unfused", pa.int64()), ("floor", pa.int64()),
    ("floor_ratio", pa.float64()), ("energy_pj", pa.float64()),
    ("energy_floor_pj", pa.float64()), ("dram_cycles", pa.int64()),
    ("dram_seconds", pa.float64()), ("row_hit_rate", pa.float64()),
    ("makespan_cycles", pa.int64()), ("makespan_seconds", pa.float64()),
    ("groups", pa.int64()), ("resident_tensors", pa.int64()),
    ("search_seconds", pa.float64()), ("error", pa.string()),
])
SCHEMA = pa.schema(list(KEY) + list(FIGURES))
FORMATS = {".parquet": "parquet", ".csv": "csv"}


def row_key(row: dict) -> tuple:
    return tuple(row[name] for name in KEY.names)


def plan_row(point, plan) -> dict:
    """The figures of a point's plan: traffic, floor, DRAM energy and time, and the
    makespan where the plan was made for an accelerator (or for latency)."""
    cost = plan.dram_cost()
    timed = plan.time() if plan.accel is not None else None
    return {**asdict(point), "dram_entries": plan.total,
            "compulsory_unfused": plan.compulsory_unfused, "floor": plan.floor,
            "floor_ratio": plan.total / plan.floor, "energy_pj": cost.energy_pj,
            "energy_floor_pj": plan.energy_floor_pj, "dram_cycles": cost.cycles,
            "dram_seconds": cost.seconds, "row_hit_rate": cost.row_hit_rate,
            "makespan_cycles": timed.cycles if timed else None,
            "makespan_seconds": timed.seconds if timed else None,
            "groups": len(plan.groups), "resident_tensors": len(plan.resident),
            "search_seconds": plan.seconds, "error": None}


def error_row(point, message: str) -> dict:
    return {**asdict(point), **dict.fromkeys(FIGURES.names), "error": message}


def table_format(path) -> str:
    """"parquet" or "csv", from the file's suffix."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise UsageError(f"a results table ends in .parquet or .csv, got {str(path)!r}")
    return FORMATS[suffix]


def read_rows(path) -> list[dict]:
    """The rows of an existing results table (none if there is no file); anything else at
    the path is refused, never overwritten."""
    path = Path(path)
    if not path.exists():
        return []
    try:
        if table_format(path) == "parquet":
            table = pq.read_table(path)
        else:
            table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
                column_types=SCHEMA, strings_can_be_null=True))
    except (pa.ArrowException, OSError) as problem:
        raise UsageError(f"{path} exists and is not a readable results table ({problem}); "
                         f"name another file") from None
    if table.schema.names != SCHEMA.names:
        raise UsageError(f"{path} exists and is not a polyscan results table (its columns "
                         f"differ); name another file")
    return table.cast(SCHEMA).to_pylist()


def write_rows(path, rows: list[dict]) -> None:
    """The whole table, replacing the file at once (``files.written_path``)."""
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    with written_path(path) as target:
        if table_format(path) == "parquet":
            pq.write_table(table, target)
        else:
            pacsv.write_csv(table, target)


def write_plan(folder, point, plan) -> Path:
    """The plan's JSON in ``folder``, named by its point, whole."""
    name = "_".join(str(part) for part in filter(None, (
        Path(point.network).stem, point.buffer, point.dram, f"{point.element_bits}b",
        point.objective, point.traversals.replace(",", "+"),
        "fused" if point.fusion else "unfused", "resident" if point.resident else "dram",
        point.model_sha256[:12] if point.model_sha256 else "",
        Path(point.accel).stem if point.accel else "", "db" if point.double_buffer else "")))
    path = Path(folder) / f"{name}.json"
    try:
        with written_text(path) as stream:
            json.dump(plan.to_dict(), stream, indent=2, allow_nan=False)
    except ValueError:
        raise OutputError(f"cannot write {path}: a figure is not a finite number") from None
    return path
