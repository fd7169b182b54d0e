"""The calibration streams: a sequential read of 64 MiB and 64 Ki reads of one burst in
random rows, per preset. The DRAM model is compared with DRAMSim2 and DRAMsim3 on them
(``benchmarks/dram_validate.py``, docs/dram.md); the benchmark and the test of that
agreement build them here, so both cost the very streams the simulators replayed."""

from __future__ import annotations

import numpy as np

from .presets import DramPreset
from .stream import Transfer

SEQUENTIAL_BYTES = 64 << 20
RANDOM_BURSTS = 1 << 16


def sequential(preset: DramPreset) -> list[Transfer]:
    """One DMA request per row-sized chunk, in address order."""
    starts = np.arange(0, SEQUENTIAL_BYTES, preset.row_bytes, dtype=np.int64)
    return [Transfer(False, starts, np.full(len(starts), preset.row_bytes), "seq")]


def random_rows(preset: DramPreset, seed: int = 0) -> list[Transfer]:
    """One burst per request, each in a random row of a random bank."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, preset.rows * preset.banks, RANDOM_BURSTS)
    starts = rows * preset.row_bytes + rng.integers(0, preset.row_bytes // preset.burst_bytes,
                                                    RANDOM_BURSTS) * preset.burst_bytes
    return [Transfer(False, starts.astype(np.int64),
                     np.full(RANDOM_BURSTS, preset.burst_bytes), "random")]


STREAMS = {"sequential": sequential, "random rows": random_rows}
