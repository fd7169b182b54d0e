"""The DRAM model held to DRAMSim2, DRAMsim3 and Ramulator: the simulators' figures for the
calibration streams, replayed like with like (``benchmarks/dram_validate.py``, docs/dram.md
"Agreement with the simulators"), are facts in ``tests/data/dram_replays.json``; the model,
costing the very same streams, must agree within the issue's tolerances. The plans' replays
are in the same file and the docs; costing them needs their searches, which this test leaves
to the benchmark."""

import json
from pathlib import Path

import pytest

from polyscan.cost.dram.calibration import STREAMS
from polyscan.cost.dram.model import AddressMapping, stream_cost
from polyscan.cost.dram.presets import load_preset

DATA = json.loads((Path(__file__).parent / "data" / "dram_replays.json").read_text())
CALIBRATION = [r for r in DATA["replays"] if r["stream"] in STREAMS]
# the gaps past the tolerances, each with its cause (docs/dram.md). DRAMSim2 precharges a bank
# as soon as no queued request targets its open row, so a sequential stream re-activates
# a row now and then where an open-page controller keeps it open (6.3% more here)
ACTIVATION_GAPS = {("DRAMSim2", "ddr3-1333", "sequential"): 0.07}
# Ramulator's FR-FCFS serves the open row's hits first, so a sequential DDR4 stream stays in
# one bank group (tCCD_L per burst) where DRAMsim3's queue, and the model after it,
# interleaves the next group's row as it enters the queue (Ramulator 14.9% slower)
CYCLE_GAPS = {("Ramulator", "ddr4-2400", "sequential"): 0.16}


def test_every_preset_was_replayed_in_each_simulator_that_has_its_part_or_a_twin():
    """DRAMSim2 and DRAMsim3: the preset's own device file; Ramulator: its built-in part
    of the same geometry, for every preset."""
    assert {(r["simulator"], r["preset"]) for r in CALIBRATION} == {
        ("DRAMSim2", "ddr3-1600"), ("DRAMSim2", "ddr3-1333"), ("DRAMsim3", "ddr4-2400"),
        ("Ramulator", "ddr3-1600"), ("Ramulator", "ddr3-1333"), ("Ramulator", "ddr4-2400"),
        ("Ramulator", "lpddr4-3200")}
    assert len(CALIBRATION) == 2 * 7


@pytest.mark.parametrize("replay", CALIBRATION,
                         ids=[f"{r['simulator']}-{r['preset']}-{r['stream']}" for r in CALIBRATION])
def test_the_model_agrees_with_the_simulator(replay):
    """Energy within 3%, cycles within 10%, activations within 5%, row-hit rate within 0.01,
    the same bursts and (a few per thousand) the same refreshes; Ramulator models time only."""
    preset = load_preset(replay["preset"])
    cost = stream_cost([STREAMS[replay["stream"]](preset)], preset, AddressMapping(preset))
    assert (cost.read_bursts, cost.write_bursts) == (replay["read_bursts"],
                                                     replay["write_bursts"])
    key = (replay["simulator"], replay["preset"], replay["stream"])
    if replay["energy_pj"] is not None:
        assert replay["energy_pj"] == pytest.approx(cost.energy_pj, rel=0.03)
    assert replay["cycles"] == pytest.approx(cost.cycles, rel=CYCLE_GAPS.get(key, 0.10))
    assert replay["activations"] == pytest.approx(cost.activations,
                                                  rel=ACTIVATION_GAPS.get(key, 0.05))
    simulated_hits = 1 - replay["activations"] / (replay["read_bursts"] + replay["write_bursts"])
    assert abs(simulated_hits - cost.row_hit_rate) <= 0.01
    if replay["refreshes"] is not None:
        assert replay["refreshes"] == pytest.approx(cost.refreshes, rel=0.1, abs=2)
