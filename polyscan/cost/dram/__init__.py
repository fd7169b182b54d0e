"""DRAM energy and time: tensors placed in DRAM (``memory``), a schedule's per-tile transfers
as address runs (``stream``), the open-page row-buffer model (``model``) and the device
presets (``presets``), under one set of ``DramSettings``. See docs/dram.md."""

from ...errors import PresetError
from .model import DramCost
from .presets import DramPreset, builtin_presets, load_preset
from .settings import DramSettings

__all__ = ["DramCost", "DramPreset", "DramSettings", "PresetError", "builtin_presets",
           "load_preset"]
