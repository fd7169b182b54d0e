"""DRAM device presets: organisation, timing (clock cycles) and currents (mA per device).

Built-in presets live in ``polyscan/cost/dram/preset_files/*.toml`` (each names its part and
the file its numbers come from); ``load_preset(path)`` reads a user's file of the same form.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

from ...caches import clears
from ...errors import PresetError
from ...model.resources import packaged_names, read_packaged

FOLDER = "cost/dram/preset_files"

TIMING = ("CL", "tRCD", "tRP", "tRAS", "tRC", "tRRD", "tFAW", "tRFC", "tREFI")
BANK_GROUP_TIMING = ("tCCD_L", "tRRD_L")  # optional (DDR4): within one bank group
CURRENTS = ("IDD0", "IDD2N", "IDD3N", "IDD4R", "IDD4W", "IDD5")
GEOMETRY = ("bus_width", "device_width", "burst_length", "banks", "rows", "columns")
TEXT = ("name", "part", "source")


@dataclass(frozen=True)
class PowerDomain:
    VDD: float  # volts
    IDD0: float  # mA: one bank activate-precharge
    IDD2N: float  # precharge standby
    IDD3N: float  # active standby
    IDD4R: float  # burst read
    IDD4W: float  # burst write
    IDD5: float  # refresh


@dataclass(frozen=True)
class DramPreset:
    name: str
    part: str
    source: str
    tCK: float  # ns
    bus_width: int  # bits
    device_width: int  # bits per device
    burst_length: int
    banks: int
    rows: int
    columns: int
    timing: dict[str, int]  # cycles; tCCD_L and tRRD_L filled in where a file has none
    power: tuple[PowerDomain, ...]
    bank_groups: int = 1  # the low bits of the bank number (DRAMsim3's default mapping)
    queue: int = 32  # requests the controller holds and reorders (DRAMsim3, DRAMSim2: 32)

    @property
    def devices(self) -> int:
        return self.bus_width // self.device_width

    @property
    def burst_bytes(self) -> int:
        return self.bus_width // 8 * self.burst_length

    @property
    def burst_cycles(self) -> int:
        """Data bus cycles per burst (double data rate)."""
        return self.burst_length // 2

    @property
    def row_bytes(self) -> int:
        """Bytes of one row across the rank (a page)."""
        return self.columns * self.device_width * self.devices // 8


def builtin_presets() -> list[str]:
    return packaged_names(FOLDER)


@functools.cache
def load_preset(name_or_path: str | Path) -> DramPreset:
    """A built-in preset by name (``"ddr3-1600"``) or a preset file by path."""
    data, path = read_packaged(name_or_path, FOLDER, "DRAM preset", PresetError)
    return _checked(data, str(path))


clears(load_preset.cache_clear)  # a file edited since is read again


def _checked(data: dict, path: str) -> DramPreset:
    """The preset of a file's TOML. Every wrong shape of input (a scalar where a table belongs
    or the reverse, a number that is not finite and positive, a missing or unknown field) is
    a PresetError naming the field: a typo is never silently ignored."""
    def fail(field: str, problem: str) -> PresetError:
        return PresetError(f"{path}: {field} {problem}")

    def table(value, field: str, keys: tuple[str, ...]) -> dict:
        if not isinstance(value, dict):
            raise fail(field, "is missing" if value is None
                       else f"must be a table, got {value!r}")
        unknown = [key for key in value if key not in keys]
        if unknown:
            raise fail(f"{field}.{unknown[0]}".lstrip("."),
                       f"is not a preset field (expected: {', '.join(keys)})")
        return value

    def numbers(table: dict, where: str, keys: tuple[str, ...], kind=float) -> dict:
        """``keys`` of ``table``, each a positive finite number (a whole one for int)."""
        result = {}
        for key in keys:
            value = table.get(key)
            if value is None:
                raise fail(where + key, "is missing")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                    not math.isfinite(value) or value <= 0 or kind is int and value != int(value):
                raise fail(where + key, f"must be a positive "
                           f"{'integer' if kind is int else 'finite number'}, got {value!r}")
            result[key] = kind(value)
        return result

    table(data, "", (*TEXT, "tCK", *GEOMETRY, "bank_groups", "queue", "timing", "power"))
    text = {key: data.get(key, Path(path).stem if key == "name" else "") for key in TEXT}
    for key, value in text.items():
        if not isinstance(value, str):
            raise fail(key, f"must be a string, got {value!r}")
    given = table(data.get("timing"), "timing", TIMING + BANK_GROUP_TIMING)
    timing = numbers(given, "timing.", TIMING, int)
    groups = numbers({"bank_groups": 1, "queue": 32} | data, "", ("bank_groups", "queue"), int)
    burst_cycles = max(1, numbers(data, "", ("burst_length",), int)["burst_length"] // 2)
    timing |= numbers({"tCCD_L": burst_cycles, "tRRD_L": timing["tRRD"]} | given, "timing.",
                      BANK_GROUP_TIMING, int)
    domains = data.get("power")
    if not isinstance(domains, list) or not domains:
        raise fail("power", "needs at least one [[power]] domain")
    power = tuple(PowerDomain(**numbers(table(d, f"power[{i}]", ("VDD", *CURRENTS)),
                                        f"power[{i}].", ("VDD", *CURRENTS)))
                  for i, d in enumerate(domains))
    preset = DramPreset(**text, **numbers(data, "", ("tCK",)),
                        **numbers(data, "", GEOMETRY, int), timing=timing, power=power,
                        **groups)
    if preset.bus_width % preset.device_width or preset.bus_width % 8:
        raise PresetError(f"{path}: bus_width must be a multiple of 8 and of device_width")
    if timing["tRC"] < timing["tRAS"] + timing["tRP"]:
        raise PresetError(f"{path}: tRC ({timing['tRC']}) must be at least tRAS + tRP")
    for domain in power:
        if domain.IDD0 < domain.IDD3N or min(domain.IDD4R, domain.IDD4W, domain.IDD5) < \
                domain.IDD3N:
            raise PresetError(f"{path}: IDD0, IDD4R, IDD4W and IDD5 must be at least IDD3N "
                              f"(the active standby current they add to)")
    if preset.banks % preset.bank_groups:
        raise PresetError(f"{path}: {preset.banks} banks do not split into "
                          f"{preset.bank_groups} bank groups")
    if not preset.burst_cycles <= timing["tCCD_L"] <= preset.burst_length:
        raise PresetError(f"{path}: tCCD_L ({timing['tCCD_L']}) must lie between "
                          f"burst_length / 2 and burst_length (the model delays only a burst "
                          f"sent right after one of its bank group)")
    if not math.log2(preset.burst_bytes).is_integer():
        raise PresetError(f"{path}: a burst of {preset.burst_bytes} bytes is not a power of 2")
    if preset.burst_length < 2:
        raise PresetError(f"{path}: burst_length must be at least 2 (a burst takes "
                          f"burst_length / 2 clocks), got {preset.burst_length}")
    return preset
