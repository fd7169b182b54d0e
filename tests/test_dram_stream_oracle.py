"""The DRAM address stream (``schedule_transfers``) against an element-level oracle
(``polyscan.testing.stream``): the same bytes, tile step by tile step, per direction and
operand, as multisets of byte addresses, and in order (within a step the writes the previous
tile leaves before the reads the tile needs). Byte counts alone (tests/test_dram.py) would
pass a stream that moves the right number of the wrong elements."""

from collections import Counter

import numpy as np
import pytest
from conftest import examples
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import LAYERS, fused_schedules, schedules

import polyscan as ps
from polyscan.cost.dram.memory import Memory
from polyscan.cost.dram.stream import schedule_transfers
from polyscan.testing.simulator import lex_sequence
from polyscan.testing.simulator import sequence as simulated_sequence
from polyscan.testing.stream import fused_steps, layer_steps

LAYOUTS = st.sampled_from(["CHW", "HWC"])
BITS = st.sampled_from([8, 16, 32])


def produced_steps(schedule, bits: int, layout: str) -> list[dict]:
    """The production stream in the oracle's form (per step, (write, operand) -> sorted byte
    addresses, a byte moved twice counted twice), its order checked on the way."""
    steps = [{} for _ in range(schedule.tiles + 1)]
    last = (0, 0)  # (step, 0 for writes, 1 for reads): never goes back
    for transfer in schedule_transfers(schedule, Memory(bits, layout)):
        assert transfer.step is not None and 0 <= transfer.step <= schedule.tiles, transfer
        position = (transfer.step, 0 if transfer.write else 1)
        assert position >= last, (f"{'write' if transfer.write else 'read'} of "
                                  f"{transfer.operand} at step {transfer.step} after "
                                  f"{'reads' if last[1] else 'writes'} of step {last[0]}")
        last = position
        starts, lengths = transfer.starts.tolist(), transfer.lengths.tolist()
        assert all(n > 0 for n in lengths), transfer
        moved = steps[transfer.step].setdefault((bool(transfer.write), str(transfer.operand)),
                                                [])
        for start, length in zip(starts, lengths):
            moved.extend(range(start, start + length))
    for step in steps:
        for addresses in step.values():
            addresses.sort()
    return steps


def assert_same_steps(got: list[dict], expected: list[dict], schedule):
    assert len(got) == len(expected)
    for k, (mine, oracle) in enumerate(zip(got, expected)):
        for key in sorted(set(mine) | set(oracle)):
            produced, wanted = mine.get(key, []), oracle.get(key, [])
            if produced != wanted:
                extra = sorted((_counts(produced) - _counts(wanted)).elements())
                missing = sorted((_counts(wanted) - _counts(produced)).elements())
                raise AssertionError(
                    f"{schedule}: step {k} of {len(expected) - 1}, "
                    f"{'write' if key[0] else 'read'} of {key[1]}: {len(produced)} bytes "
                    f"moved, {len(wanted)} expected; moved but not expected {extra[:12]}, "
                    f"expected but not moved {missing[:12]}")


def _counts(addresses) -> Counter:
    return Counter(addresses)


def check_layer(schedule, bits, layout):
    sequence = simulated_sequence(schedule.traversal, schedule.grid)
    expected = layer_steps(schedule.layer, schedule.tile, schedule.order, sequence, bits,
                           layout)
    assert_same_steps(produced_steps(schedule, bits, layout), expected, schedule)


def check_fused(schedule, bits, layout):
    group = schedule.group
    sequence = simulated_sequence(schedule.traversal, schedule.grid)
    expected = fused_steps(list(schedule.layers), group.inputs, group.exported, schedule.tile,
                           schedule.order, sequence, bits, layout)
    assert_same_steps(produced_steps(schedule, bits, layout), expected, schedule)


@pytest.mark.parametrize("kind", sorted(LAYERS))
@settings(max_examples=examples(10))
@given(data=st.data(), layout=LAYOUTS, bits=BITS)
def test_the_stream_moves_the_oracles_bytes_tile_by_tile(kind, data, layout, bits):
    """Every kind (views, transposed convolutions' overlapping partial sums included), any
    tiling, lex, scan, Z-order, Hilbert and explicit orders."""
    layer = data.draw(LAYERS[kind])
    check_layer(data.draw(schedules(layer)), bits, layout)


@st.composite
def any_fused_schedules(draw):
    """``fused_schedules`` (lex or scan), or the same tiling walked in Z-order, along the
    Hilbert curve or in a random explicit order."""
    schedule = draw(fused_schedules())
    traversal = draw(st.sampled_from(["as drawn", "zorder", "hilbert", "explicit"]))
    if traversal == "as drawn" or (traversal == "explicit" and schedule.tiles > 60):
        return schedule
    if traversal == "explicit":
        traversal = draw(st.permutations(lex_sequence(schedule.grid)))
    return ps.FusedSchedule(schedule.group, tile=schedule.tile, order=schedule.order,
                            traversal=traversal)


@settings(max_examples=examples(60))
@given(any_fused_schedules(), LAYOUTS, BITS)
def test_the_stream_of_fused_groups_moves_the_oracles_bytes_tile_by_tile(schedule, layout,
                                                                         bits):
    check_fused(schedule, bits, layout)


@st.composite
def flattening_schedules(draw):
    """A pool whose (c, 1, 1) output a fully connected layer reads as (c,): the gemm's input
    footprint spans several indices of the pool's output (the stream's sorted-offsets path,
    when the pool's output is exported)."""
    channels, size = draw(st.integers(1, 6)), draw(st.integers(1, 4))
    pool = ps.pool(channels, size, size, kernel=size, stride=1, name="pool")
    gemm = ps.fully_connected(channels, draw(st.integers(1, 5)), name="fc")
    tile = {d: draw(st.integers(1, gemm.extents[d])) for d in gemm.dims if draw(st.booleans())}
    return ps.FusedSchedule([pool, gemm], tile=tile, order=draw(st.permutations(list(tile))),
                            traversal=draw(st.sampled_from(["lex", "scan", "hilbert"])),
                            exported=("pool",) if draw(st.booleans()) else ())


@settings(max_examples=examples(15))
@given(flattening_schedules(), LAYOUTS, BITS)
def test_the_stream_of_a_pool_fused_into_a_gemm_through_a_flatten(schedule, layout, bits):
    check_fused(schedule, bits, layout)


def test_the_oracle_on_a_hand_counted_layer():
    """2 channels of 4x4, 3x3 kernel, pad 1, rows tiled by 2, lex over (y, c), 16-bit HWC:
    I at 0 (64 bytes), W at 4096, O at 8192. Tile (0, 0) reads input rows 0..2 of channel 0,
    element (0, h, w) at (h * 4 + w) * 2 channels * 2 bytes, and the weights of channel 0;
    the last step writes the output rows 2..3 of channel 1, ((y * 4 + x) * 2 + 1) * 2 bytes
    after 8192."""
    layer = ps.depthwise(2, 4, 4, kernel=3, padding=1)
    schedule = ps.Schedule(layer, tile={"y": 2, "c": 1}, order=("y", "c"))
    steps = produced_steps(schedule, 16, "HWC")
    assert_same_steps(steps, layer_steps(layer, schedule.tile, schedule.order,
                                         lex_sequence(schedule.grid), 16, "HWC"), schedule)
    assert steps[0][False, "I"] == sorted(a for h in range(3) for w in range(4)
                                          for a in ((h * 4 + w) * 4, (h * 4 + w) * 4 + 1))
    # W (c, r, s) is 3-d: stored (r, s, c) under HWC too
    assert steps[0][False, "W"] == sorted(4096 + ((r * 3 + s) * 2) * 2 + b for r in range(3)
                                          for s in range(3) for b in (0, 1))
    assert set(steps[0]) == {(False, "I"), (False, "W")}
    assert steps[4] == {(True, "O"): sorted(8192 + ((y * 4 + x) * 2 + 1) * 2 + b
                                            for y in (2, 3) for x in range(4) for b in (0, 1))}


def test_a_stream_with_a_wrong_element_fails():
    """The check fails on a stream moving as many bytes as it should, but one element off."""
    layer = ps.pointwise(2, 2, 3, 3)
    schedule = ps.Schedule(layer, tile={"y": 1}, order=("y",))
    steps = produced_steps(schedule, 8, "CHW")
    expected = layer_steps(layer, schedule.tile, schedule.order, lex_sequence(schedule.grid))
    assert_same_steps(steps, expected, schedule)
    shifted = [dict(step) for step in steps]
    shifted[1][False, "I"] = [a + 1 for a in shifted[1][False, "I"]]
    try:
        assert_same_steps(shifted, expected, schedule)
    except AssertionError as error:
        assert "step 1 of 3, read of I" in str(error)
    else:
        raise AssertionError("a shifted read passed")
    assert np.sum([len(a) for a in shifted[1].values()]) == \
        np.sum([len(a) for a in expected[1].values()])
