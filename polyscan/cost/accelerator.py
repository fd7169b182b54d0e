"""An accelerator: one buffer, a ``rows x cols`` MAC array at a clock, and a DRAM behind it
(DESIGN 6c).

Built-in descriptions live in ``polyscan/cost/accelerators/*.toml`` (``zigzag-like`` is the
ZigZag peer's architecture); ``load_accelerator(path)`` reads a user's file of the same form.
Every field is checked: a typo or a wrong type is an ``AcceleratorError`` naming the field.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from pathlib import Path

from ..caches import clears
from ..errors import AcceleratorError, PolyscanError
from ..model.resources import packaged_names, read_packaged
from .dram import DramSettings

FOLDER = "cost/accelerators"
ENERGIES = ("mac", "buffer_read", "buffer_write", "register")  # pJ: per MAC, per entry


@dataclass(frozen=True)
class Accelerator:
    """``Accelerator(buffer_bytes=65536, rows=16, cols=16)``; ``unroll_rows`` and
    ``unroll_cols`` are the loop dims each side of the array may take (the search picks a
    pair per layer), ``energy`` optional on-chip energies in pJ (per MAC, per buffer entry
    read or written, per register access)."""

    buffer_bytes: int = 65536
    rows: int = 16
    cols: int = 16
    clock_mhz: float = 1000.0
    element_bits: int = 8
    dram: str = "ddr3-1600"
    unroll_rows: tuple[str, ...] = ("k", "c")
    unroll_cols: tuple[str, ...] = ("c", "x", "y")
    energy: dict[str, float] = field(default_factory=dict)
    name: str = "custom"
    source: str = ""

    def __post_init__(self):
        for key in ("buffer_bytes", "rows", "cols", "element_bits"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise AcceleratorError(f"accelerator {self.name!r}: {key} must be a positive "
                                       f"integer, got {value!r}")
        if isinstance(self.clock_mhz, bool) or not isinstance(self.clock_mhz, (int, float)) \
                or not math.isfinite(self.clock_mhz) or self.clock_mhz <= 0:
            raise AcceleratorError(f"accelerator {self.name!r}: clock_mhz must be a positive "
                                   f"number, got {self.clock_mhz!r}")
        if self.buffer_bytes * 8 % self.element_bits:
            raise AcceleratorError(f"accelerator {self.name!r}: a buffer of "
                                   f"{self.buffer_bytes} bytes holds no whole number of "
                                   f"{self.element_bits}-bit entries")
        for side in ("unroll_rows", "unroll_cols"):
            dims = getattr(self, side)
            if isinstance(dims, str) or not all(isinstance(d, str) for d in dims):
                raise AcceleratorError(f"accelerator {self.name!r}: {side} must be a list of "
                                       f"dim names, got {dims!r}")
        if not isinstance(self.energy, dict):
            raise AcceleratorError(f"accelerator {self.name!r}: energy must be a table of pJ "
                                   f"by name ({', '.join(ENERGIES)}), got {self.energy!r}")
        unknown = [k for k in self.energy if k not in ENERGIES]
        if unknown:
            raise AcceleratorError(f"accelerator {self.name!r}: energy.{unknown[0]} is not an "
                                   f"energy (expected: {', '.join(ENERGIES)})")
        for key, value in self.energy.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                    not math.isfinite(value) or value < 0:
                raise AcceleratorError(f"accelerator {self.name!r}: energy.{key} must be a "
                                       f"non-negative number of pJ, got {value!r}")
        try:
            self.dram_settings()
        except PolyscanError as problem:
            raise AcceleratorError(f"accelerator {self.name!r}: {problem}") from None

    @property
    def buffer(self) -> int:
        """The buffer's capacity in entries."""
        return self.buffer_bytes * 8 // self.element_bits

    @property
    def pes(self) -> int:
        return self.rows * self.cols

    def dram_settings(self) -> DramSettings:
        return DramSettings(self.dram, self.element_bits)

    def to_dict(self) -> dict:
        return {"name": self.name, "buffer_bytes": self.buffer_bytes, "rows": self.rows,
                "cols": self.cols, "clock_mhz": self.clock_mhz,
                "element_bits": self.element_bits, "dram": self.dram,
                "unroll": {"rows": list(self.unroll_rows), "cols": list(self.unroll_cols)},
                "energy": dict(self.energy)}


def builtin_accelerators() -> list[str]:
    return packaged_names(FOLDER)


@functools.cache
def load_accelerator(name_or_path: str | Path) -> Accelerator:
    """A built-in accelerator by name (``"zigzag-like"``) or a description file by path."""
    data, path = read_packaged(name_or_path, FOLDER, "accelerator", AcceleratorError)
    return _from_toml(data, str(path))


clears(load_accelerator.cache_clear)  # a file edited since is read again


def _from_toml(data: dict, path: str) -> Accelerator:
    known = ("name", "source", "buffer_bytes", "element_bits", "rows", "cols", "clock_mhz",
             "dram", "unroll", "energy")
    unknown = [key for key in data if key not in known]
    if unknown:
        raise AcceleratorError(f"{path}: {unknown[0]} is not an accelerator field (expected: "
                               f"{', '.join(known)})")
    for key in ("unroll", "energy"):
        if not isinstance(data.get(key, {}), dict):
            raise AcceleratorError(f"{path}: {key} must be a table, got {data[key]!r}")
    unroll = data.get("unroll", {})
    if any(key not in ("rows", "cols") for key in unroll):
        raise AcceleratorError(f"{path}: unroll takes rows and cols (lists of dims), got "
                               f"{', '.join(unroll)}")
    values = {key: data[key] for key in known[:8] if key in data}
    values.setdefault("name", Path(path).stem)
    for key in ("name", "source", "dram"):
        if key in values and not isinstance(values[key], str):
            raise AcceleratorError(f"{path}: {key} must be a string, got {values[key]!r}")
    for side in ("rows", "cols"):
        if side in unroll:
            if not isinstance(unroll[side], list):
                raise AcceleratorError(f"{path}: unroll.{side} must be a list of dim names, "
                                       f"got {unroll[side]!r}")
            values[f"unroll_{side}"] = tuple(unroll[side])
    try:
        return Accelerator(**values, energy=dict(data.get("energy", {})))
    except AcceleratorError as problem:
        raise AcceleratorError(f"{path}: {problem}") from None
