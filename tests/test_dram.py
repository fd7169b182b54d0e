"""The DRAM model: hand-computable streams, presets, address runs against explicit byte
addresses, transfers against ``ps.traffic``, the energy objective, and traces."""

import gzip
import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import examples
from hypothesis import example, given, settings
from hypothesis import strategies as st
from strategies import LAYERS, fused_schedules, schedules
from test_fusion_plan import tiny_network

import polyscan as ps
from polyscan.cli import main
from polyscan.cost.dram import DramSettings
from polyscan.cost.dram.intervals import from_sorted, intersect, subtract, values
from polyscan.cost.dram.memory import Memory
from polyscan.cost.dram.model import AddressMapping, stream_cost
from polyscan.cost.dram.stream import Transfer, schedule_transfers
from polyscan.search.optimizer import default_accelerator

DDR3 = ps.load_preset("ddr3-1600")


def cost_of(runs, write=False, preset=DDR3, mapping="row:bank:column"):
    """Cost of one span of (start, length) byte runs, read (or written) in order."""
    transfers = [Transfer(write, np.array([s], dtype=np.int64), np.array([n], dtype=np.int64),
                          "T") for s, n in runs]
    return stream_cost([transfers], preset, AddressMapping(preset, mapping))


# -- hand-computable streams ---------------------------------------------------------------

def test_a_sequential_stream_misses_once_per_row():
    rows = 5
    cost = cost_of([(0, rows * DDR3.row_bytes)])
    per_row = DDR3.row_bytes // DDR3.burst_bytes
    assert cost.bursts == rows * per_row
    assert cost.activations == rows
    assert cost.row_hit_rate == pytest.approx(1 - 1 / per_row)


def test_a_stride_of_one_row_always_misses():
    # row:bank:column: consecutive rows of a bank are banks x row_bytes apart
    stride = DDR3.banks * DDR3.row_bytes
    cost = cost_of([(i * stride, DDR3.burst_bytes) for i in range(100)])
    assert cost.bursts == cost.activations == 100
    assert cost.row_hit_rate == 0


def test_interleaved_banks_keep_their_rows_open():
    # bank:row:column puts banks far apart: alternating between two open rows hits
    mapping = AddressMapping(DDR3, "bank:row:column")
    other_bank = DDR3.rows * DDR3.row_bytes
    bank, row = mapping.locate(np.array([0, other_bank]))
    assert bank.tolist() == [0, 1] and row.tolist() == [0, 0]
    runs = [(i % 2 * other_bank + i // 2 * DDR3.burst_bytes, DDR3.burst_bytes)
            for i in range(40)]
    assert cost_of(runs, mapping="bank:row:column").activations == 2


def test_energy_terms_follow_the_datasheet_equations():
    bursts, rows = 3 * DDR3.row_bytes // DDR3.burst_bytes, 3
    read = cost_of([(0, 3 * DDR3.row_bytes)])
    written = cost_of([(0, 3 * DDR3.row_bytes)], write=True)
    t, d = DDR3.timing, DDR3.power[0]
    scale = d.VDD * DDR3.devices * DDR3.tCK
    assert read.breakdown["activation"] == pytest.approx(
        rows * (d.IDD0 * t["tRC"] - d.IDD3N * t["tRAS"] - d.IDD2N * (t["tRC"] - t["tRAS"]))
        * scale)
    assert read.breakdown["read"] == pytest.approx(bursts * (d.IDD4R - d.IDD3N) * 4 * scale)
    assert written.breakdown["write"] == pytest.approx(bursts * (d.IDD4W - d.IDD3N) * 4 * scale)
    assert read.breakdown["write"] == written.breakdown["read"] == 0
    # a sequential stream runs at the bus rate: one burst per 4 cycles, plus CAS latency
    assert read.cycles == bursts * 4 + t["CL"]
    assert read.breakdown["background"] == pytest.approx(read.cycles * d.IDD3N * scale)
    assert read.seconds == pytest.approx(read.cycles * DDR3.tCK * 1e-9)
    assert read.bandwidth == pytest.approx(read.bytes / read.seconds)


@pytest.mark.parametrize("preset", ps.builtin_presets())
@pytest.mark.parametrize("write", [False, True], ids=["read", "write"])
@pytest.mark.parametrize("first, n", [(0, 1), (5, 7), (0, None)], ids=["one", "seven", "row"])
def test_bursts_in_one_row_cost_the_energy_computed_by_hand(preset, write, first, n):
    """``n`` sequential bursts inside one row (from its burst ``first``; None: the whole row),
    on a closed bank: one activation, ``n`` bursts, no refresh. The bank is busy for
    max(tRC, tRP + tRCD + BL/2 + (n - 1) max(BL/2, tCCD_L)) cycles, then CL; the energy is
    docs/dram.md's equations, summed over the supply domains, in pJ (mA x V x ns)."""
    device = ps.load_preset(preset)
    t, bl2 = device.timing, device.burst_length // 2
    n = device.row_bytes // device.burst_bytes if n is None else n
    start = 3 * device.row_bytes + first * device.burst_bytes  # bank 3 under row:bank:column
    cost = cost_of([(start, n * device.burst_bytes)], write=write, preset=device)
    assert (cost.bursts, cost.activations, cost.breakdown["refresh"]) == (n, 1, 0)
    assert (cost.write_bursts if write else cost.read_bursts) == n
    assert cost.bytes == n * device.burst_bytes
    apart = max(bl2, t["tCCD_L"])  # bursts of one bank group (DDR4): tCCD_L apart
    cycles = max(t["tRC"], t["tRP"] + t["tRCD"] + bl2 + (n - 1) * apart,
                 -(-t["tFAW"] // 4), t["tRRD"]) + t["CL"]
    assert cost.cycles == cycles
    energy = 0.0
    for d in device.power:
        burst_current = d.IDD4W if write else d.IDD4R
        charge = (d.IDD0 * t["tRC"] - d.IDD3N * t["tRAS"] - d.IDD2N * (t["tRC"] - t["tRAS"])
                  + n * (burst_current - d.IDD3N) * bl2 + cycles * d.IDD3N)  # mA x cycles
        energy += charge * d.VDD * device.devices * device.tCK
    assert cost.energy_pj == pytest.approx(energy)


def test_a_full_ddr3_1600_row_read_costs_7_778_100_pj():
    # worked by hand from ddr3-1600.toml: 16 x4 devices, VDD 1.5 V, tCK 1.25 ns (30 pJ per
    # mA x cycle); 256 bursts of 64 B; cycles 11 (tRP) + 11 (tRCD) + 256 x 4 + 11 (CL) = 1057;
    # activation 95 x 39 - 67 x 28 - 70 x 11 = 1059, reads 256 x (250 - 67) x 4 = 187,392,
    # background 1057 x 67 = 70,819: (1059 + 187,392 + 70,819) x 30 = 7,778,100 pJ
    cost = cost_of([(0, DDR3.row_bytes)])
    assert (cost.bursts, cost.activations, cost.cycles) == (256, 1, 1057)
    assert cost.energy_pj == pytest.approx(7_778_100)


def test_refresh_and_background_scale_with_time():
    short = cost_of([(0, 4 * DDR3.row_bytes)])
    assert short.cycles < DDR3.timing["tREFI"] and short.breakdown["refresh"] == 0
    long = cost_of([(0, 4000 * DDR3.row_bytes)])
    refreshes = long.cycles // (DDR3.timing["tREFI"] + DDR3.timing["tRFC"])
    assert refreshes > 0 and long.breakdown["refresh"] > 0
    d = DDR3.power[0]
    per_refresh = (d.IDD5 - d.IDD3N) * DDR3.timing["tRFC"] * d.VDD * DDR3.devices * DDR3.tCK
    assert long.breakdown["refresh"] / per_refresh == pytest.approx(
        (long.cycles - (4000 * DDR3.row_bytes // DDR3.burst_bytes * 4 + DDR3.timing["CL"]))
        / DDR3.timing["tRFC"])
    assert long.breakdown["background"] / short.breakdown["background"] == pytest.approx(
        long.cycles / short.cycles)


@pytest.mark.parametrize("preset", ps.builtin_presets())
def test_sequential_bandwidth_is_near_the_peak_and_random_rows_are_slower(preset):
    device = ps.load_preset(preset)
    peak = device.bus_width / 8 * 2 / (device.tCK * 1e-9)
    # a page's bursts are in one bank group (tCCD_L apart on DDR4) but the next page is in
    # another: the controller's queue interleaves the two over queue - 1 bursts each
    bl2, n = device.burst_length // 2, device.row_bytes // device.burst_bytes
    gaps = max(0, n - 1 - 2 * (device.queue - 1))
    row_local = peak * n * bl2 / (n * bl2 + gaps * max(0, device.timing["tCCD_L"] - bl2))
    sequential = cost_of([(0, 2000 * device.row_bytes)], preset=device)
    assert 0.9 * row_local < sequential.bandwidth <= row_local * 1.01
    stride = device.banks * device.row_bytes
    scattered = cost_of([(i * stride, device.burst_bytes) for i in range(2000)], preset=device)
    assert scattered.bandwidth < 0.5 * sequential.bandwidth
    assert scattered.energy_pj / scattered.bytes > 1.5 * sequential.energy_pj / sequential.bytes


def test_ddr4_bursts_of_one_bank_group_are_tccd_l_apart_unless_the_queue_interleaves():
    """DDR4, bank groups in the low bits of the bank: two pages in banks 0 and 4 (one
    group) take tCCD_L per burst but the first; pages in banks 0 and 1 (two groups), read
    one after the other, let the controller fill queue - 1 gaps of each with the other's
    bursts."""
    device = ps.load_preset("ddr4-2400")
    t, bl2 = device.timing, device.burst_length // 2
    n, extra, window = device.row_bytes // device.burst_bytes, t["tCCD_L"] - bl2, device.queue - 1
    page = device.row_bytes
    same = cost_of([(0, page), (4 * page, page)], preset=device)
    assert same.cycles == 2 * n * bl2 + (2 * n - 1) * extra + t["CL"]
    other = cost_of([(0, page), (page, page)], preset=device)
    assert other.cycles == 2 * n * bl2 + 2 * (n - 1 - window) * extra + t["CL"]



def test_ddr4_a_run_of_one_group_hides_among_another_groups_within_the_queue():
    """Banks 0 and 4 (group 0), then banks 1 and 5 (group 1), four bursts each: all
    sixteen in the controller's window, so it alternates the groups and no burst waits
    tCCD_L (a rule that only interleaves neighbouring segments would charge most)."""
    device = ps.load_preset("ddr4-2400")
    bl2, burst, page = device.burst_length // 2, device.burst_bytes, device.row_bytes
    cost = cost_of([(b * page, 4 * burst) for b in (0, 4, 1, 5)], preset=device)
    t = device.timing
    assert 16 * bl2 >= max(t["tRC"], t["tRP"] + t["tRCD"] + bl2 + 3 * t["tCCD_L"])
    assert cost.cycles == 16 * bl2 + t["CL"]


def window_by_burst(groups: list[int], window: int) -> int:
    """The reorder window burst by burst, literally: the unsent bursts, the first
    ``window`` of them held; send the oldest held of another group than the last sent,
    else the oldest held; count those that repeat the last's group."""
    unsent, last, repeated = list(groups), None, 0
    while unsent:
        held = unsent[:window]
        pick = next((i for i, g in enumerate(held) if g != last), 0)
        repeated += unsent[pick] == last
        last = unsent.pop(pick)
    return repeated


@settings(max_examples=examples(200))
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(1, 40)), min_size=1, max_size=30),
       st.integers(1, 40))
def test_the_reorder_window_sends_what_a_burst_by_burst_queue_sends(segments, window):
    from polyscan.cost.dram.queue import repeats

    groups = np.array([g for g, _ in segments])
    bursts = np.array([n for _, n in segments])
    by_burst = window_by_burst([g for g, n in segments for _ in range(n)], window)
    assert repeats(groups, bursts, window, 4) == by_burst

def act_energy(preset) -> float:
    """pJ of one activation (docs/dram.md's equation, over the supply domains)."""
    t = preset.timing
    return sum((d.IDD0 * t["tRC"] - d.IDD3N * t["tRAS"] - d.IDD2N * (t["tRC"] - t["tRAS"]))
               * d.VDD * preset.devices * preset.tCK for d in preset.power)


@pytest.mark.parametrize("preset", ps.builtin_presets())
@pytest.mark.parametrize("intervals", [1, 3, 7])
def test_a_refresh_closes_the_row_a_stream_keeps_reading(preset, intervals):
    """One row read again and again (a transfer per pass), for about ``intervals`` refresh
    intervals: it is activated once, and again after every refresh (a refresh precharges
    every bank, so the pass it interrupts, or the pass after it, opens the row again).
    The refreshes fall every tREFI from the stream's start: cycles // tREFI of them."""
    device = ps.load_preset(preset)
    t, per_row = device.timing, device.row_bytes // device.burst_bytes
    apart = max(device.burst_length // 2, t["tCCD_L"])
    passes = intervals * t["tREFI"] // (per_row * apart) + 1
    cost = cost_of([(3 * device.row_bytes, device.row_bytes)] * passes, preset=device)
    assert cost.bursts == passes * per_row
    assert cost.refreshes == cost.cycles // t["tREFI"] >= intervals
    assert cost.activations == 1 + cost.refreshes
    assert cost.breakdown["activation"] == pytest.approx(cost.activations * act_energy(device))


def test_refreshes_are_counted_on_the_plan_timeline_not_per_group():
    """Five groups of under 0.4 tREFI each: rounded down per group none would refresh; on
    the timeline (a refresh every tREFI from the plan's start) they fall among them."""
    t = DDR3.timing
    per_row = DDR3.row_bytes // DDR3.burst_bytes
    rows = int(0.4 * t["tREFI"]) // (per_row * DDR3.burst_length // 2)
    spans = [[Transfer(False, np.array([g * rows * DDR3.row_bytes]),
                       np.array([rows * DDR3.row_bytes]), "T")] for g in range(5)]
    cost = stream_cost(spans, DDR3, AddressMapping(DDR3))
    assert sum(g.cycles // t["tREFI"] for g in cost.groups) == 0  # the old per-group count
    assert cost.refreshes == sum(g.refreshes for g in cost.groups) == \
        cost.cycles // t["tREFI"] >= 1


def test_a_burst_asked_for_twice_in_a_row_is_moved_once():
    """Seven 10-byte rows of a 7-wide tile lie in two 64-byte bursts: a DMA engine moves
    two bursts, not eight. Back-to-back transfers in one direction share their boundary
    burst too; a write and a read of one burst are two bursts."""
    rows = [(10 * i, 10) for i in range(7)]  # bytes 0..69: bursts 0 and 1
    one = Transfer(False, np.array([s for s, _ in rows]), np.array([n for _, n in rows]), "I")
    assert stream_cost([[one]], DDR3, AddressMapping(DDR3)).read_bursts == 2
    after = Transfer(False, np.array([70]), np.array([20]), "I")  # burst 1 again
    assert stream_cost([[one, after]], DDR3, AddressMapping(DDR3)).read_bursts == 2
    written = Transfer(True, np.array([70]), np.array([20]), "O")
    cost = stream_cost([[one, written]], DDR3, AddressMapping(DDR3))
    assert (cost.read_bursts, cost.write_bursts) == (2, 1)


@given(st.lists(st.tuples(st.booleans(), st.lists(st.tuples(st.integers(0, 400),
                                                            st.integers(1, 150)),
                                                  min_size=1, max_size=6)),
                min_size=1, max_size=8))
@settings(max_examples=60, deadline=None)
def test_a_trace_never_repeats_the_burst_just_before_it(tmp_path_factory, requests):
    """On random transfers: no trace line repeats the address and direction of the line
    before it, each burst a run touches is in the trace, and the model counts its lines."""
    transfers = [Transfer(write, np.array([s for s, _ in runs]), np.array([n for _, n in runs]),
                          "T") for write, runs in requests]
    from polyscan.cost.dram.trace import write_bursts

    cost = stream_cost([transfers], DDR3, AddressMapping(DDR3))
    path = tmp_path_factory.mktemp("trace") / "t.txt"
    write_bursts([transfers], cost, DDR3.burst_bytes, path, "dramsim3")
    lines = [line.split()[:2] for line in path.read_text().splitlines()]
    assert len(lines) == cost.bursts
    assert all(a != b for a, b in zip(lines, lines[1:]))
    asked = [(f"0x{b * 64:x}", "WRITE" if t.write else "READ") for t in transfers
             for s, n in zip(t.starts, t.lengths) for b in range(s // 64, (s + n - 1) // 64 + 1)]
    assert set(map(tuple, lines)) == set(asked)


@pytest.mark.parametrize("preset", ["ddr3-1600", "ddr4-2400"])
def test_a_partial_count_stops_only_when_the_full_cost_is_over(preset):
    """Every partial count is a lower bound of the full one (DDR4: a segment whose next one
    is not counted yet is charged as if that one hid the most it can)."""
    device = ps.load_preset(preset)
    runs = [(i * 4096, 3000) for i in range(30000)]
    transfers = [Transfer(False, np.array([s]), np.array([n]), "T") for s, n in runs]
    mapping = AddressMapping(device)
    full = stream_cost([transfers], device, mapping)
    partial = []
    assert stream_cost([transfers], device, mapping,
                       over=lambda c: partial.append(c) or False) is not None
    assert all(c.energy_pj <= full.energy_pj and c.cycles <= full.cycles for c in partial)
    assert stream_cost([transfers], device, mapping,
                       over=lambda c: c.energy_pj > full.energy_pj * 1.01) is not None
    assert stream_cost([transfers], device, mapping,
                       over=lambda c: c.energy_pj > full.energy_pj * 0.5) is None


# -- presets -------------------------------------------------------------------------------

def test_builtin_presets_load_with_consistent_geometry():
    assert {"ddr3-1600", "ddr3-1333", "ddr4-2400", "lpddr4-3200"} <= set(ps.builtin_presets())
    for name in ps.builtin_presets():
        device = ps.load_preset(name)
        assert device.name == name and device.source
        t = device.timing
        assert t["tRC"] >= t["tRAS"] + t["tRP"] - 1 and t["tREFI"] > t["tRFC"]
        assert device.burst_bytes == 64 and device.row_bytes % device.burst_bytes == 0


def _preset_text(**changes) -> str:
    text = (Path(ps.__file__).parent / "cost" / "dram" / "preset_files" /
            "ddr3-1600.toml").read_text()
    for key, value in changes.items():
        text = re.sub(rf"(?m)^{key} = .*$", f"{key} = {value}", text)
    return text


def test_a_user_preset_file_loads(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(_preset_text(name='"mine"', tCK=2.5))
    device = ps.load_preset(str(path))
    assert device.name == "mine" and device.tCK == 2.5
    schedule = ps.Schedule(ps.pointwise(4, 4, 8, 8), {"y": 4}, ("y",))
    slow, fast = ps.dram_cost(schedule, preset=str(path)), ps.dram_cost(schedule)
    assert slow.cycles == fast.cycles and slow.seconds == pytest.approx(2 * fast.seconds)


@pytest.mark.parametrize("text, message", [
    (_preset_text(tRCD='"eleven"'), "tRCD"),
    (_preset_text(IDD4R=-3), "IDD4R"),
    (_preset_text(burst_length=3), "power of 2"),
    (_preset_text(tRC=30), "tRAS"),
    (_preset_text().replace("tRFC = 88\n", ""), "tRFC"),
    ("name = [", "TOML"),
    (_preset_text(columns="1024\nbank_groups = 3"), "3 bank groups"),
    (_preset_text(columns="1024\nqueue = 0"), "queue"),
    (_preset_text(tRRD="5\ntCCD_L = 2.5"), "tCCD_L"),
    (_preset_text(tRRD="5\ntWTR_L = 9"), "tWTR_L"),
])
def test_malformed_presets_are_rejected(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ps.PresetError, match=message):
        ps.load_preset(str(path))


def test_unknown_presets_and_settings_are_rejected():
    with pytest.raises(ps.PresetError, match="ddr3-1600"):
        ps.load_preset("ddr9")
    with pytest.raises(ps.PolyscanError, match="element_bits"):
        DramSettings(element_bits=12)
    with pytest.raises(ps.PolyscanError, match="layout"):
        DramSettings(layout="WHC")
    with pytest.raises(ps.PolyscanError, match="mapping"):
        DramSettings(mapping="row:row:column")


# -- address runs --------------------------------------------------------------------------

interval_sets = st.sets(st.integers(0, 40)).map(lambda s: from_sorted(np.array(sorted(s))))


@given(interval_sets, interval_sets)
def test_interval_algebra_equals_set_algebra(a, b):
    as_set = lambda intervals: set(values(intervals).tolist())  # noqa: E731
    assert as_set(intersect(a, b)) == as_set(a) & as_set(b)
    assert as_set(subtract(a, b)) == as_set(a) - as_set(b)
    assert intersect(a, b) == from_sorted(np.array(sorted(as_set(a) & as_set(b))))


@st.composite
def boxes(draw):
    dims = draw(st.integers(1, 4))
    shape = tuple(draw(st.integers(1, 7)) for _ in range(dims))
    box = [from_sorted(np.array(sorted(draw(st.sets(st.integers(0, n - 1), min_size=1)))))
           for n in shape]
    return shape, box


@settings(max_examples=examples(300))
@given(boxes(), st.sampled_from(["CHW", "HWC"]), st.sampled_from([8, 16, 32]))
def test_runs_of_a_box_are_its_element_addresses(shape_box, layout, bits):
    shape, box = shape_box
    placement = Memory(bits, layout).place("t", shape)
    order = placement.order
    strides = {d: int(np.prod([shape[e] for e in order[order.index(d) + 1:]])) for d in order}
    expected = set()
    for element in np.ndindex(*shape):
        if all(i in values(dim_set) for i, dim_set in zip(element, box)):
            first = placement.base + sum(i * strides[d] for d, i in enumerate(element)) * bits // 8
            expected.update(range(first, first + bits // 8))
    starts, lengths = placement.runs(box)
    got = [b for s, n in zip(starts.tolist(), lengths.tolist()) for b in range(s, s + n)]
    assert sorted(got) == got and len(got) == len(set(got)) and set(got) == expected
    assert np.all(starts[1:] > starts[:-1] + lengths[:-1]), "runs are maximal"
    assert [placement.runs_of(placement.linear(box))[k].tolist() for k in (0, 1)] == \
        [starts.tolist(), lengths.tolist()]


def test_tensors_are_placed_apart_and_aligned():
    memory = Memory(16, alignment=4096)
    a, b = memory.place("a", (3, 5, 7)), memory.place("b", (2, 2))
    assert a.base == 0 and b.base == 4096 and memory.place("a", (105,)).base == 0


# -- transfers against ps.traffic ----------------------------------------------------------

def per_operand_bytes(schedule, bits=8, layout="CHW"):
    moved = {}
    for transfer in schedule_transfers(schedule, Memory(bits, layout)):
        key = (transfer.operand, transfer.write)
        moved[key] = moved.get(key, 0) + int(transfer.lengths.sum())
    return moved


def assert_transfers_match_traffic(schedule, bits, layout):
    counted = ps.traffic(schedule)
    moved = per_operand_bytes(schedule, bits, layout)
    for key in set(counted.reads) | set(counted.writes):
        assert moved.get((key, False), 0) == counted.reads.get(key, 0) * bits // 8, key
        assert moved.get((key, True), 0) == counted.writes.get(key, 0) * bits // 8, key


@settings(max_examples=examples(150))
@given(st.data(), st.sampled_from(sorted(LAYERS)), st.sampled_from(["CHW", "HWC"]),
       st.sampled_from([8, 32]))
def test_transfers_move_what_traffic_counts(data, kind, layout, bits):
    layer = data.draw(LAYERS[kind])
    schedule = data.draw(schedules(layer, traversals=("lex", "scan", "explicit")))
    assert_transfers_match_traffic(schedule, bits, layout)


@settings(max_examples=examples(100))
@given(fused_schedules(), st.sampled_from(["CHW", "HWC"]))
def test_transfers_of_fused_groups_move_what_traffic_counts(schedule, layout):
    assert_transfers_match_traffic(schedule, 16, layout)


@pytest.fixture(scope="module")
def small_net():
    net = tiny_network()
    return net, ps.optimize_network(net, 700)


def test_plan_transfers_move_the_plan_traffic(small_net):
    _, plan = small_net
    cost = plan.dram_cost()
    assert len(cost.groups) == len(plan.groups)
    total = sum(ps.traffic(g.schedule).total for g in plan.groups)
    assert total == plan.total
    moved = sum(n for s in plan.dram_spans() for t in s for n in t.lengths.tolist())
    assert moved == plan.total  # 8-bit elements: one byte each
    assert cost.bytes >= moved and cost.energy_pj == pytest.approx(
        sum(g.energy_pj for g in cost.groups))


# -- the energy objective ------------------------------------------------------------------

def test_the_energy_objective_never_costs_more_energy():
    layer = ps.zoo.mobilenet_v2().layer("b2_dw")
    for buffer in (2048, 8192):
        by_traffic = ps.optimize(layer, buffer)
        by_energy = ps.optimize(layer, buffer, objective="energy")
        assert ps.traffic(by_energy).peak <= buffer
        assert ps.dram_cost(by_energy).energy_pj <= ps.dram_cost(by_traffic).energy_pj
        by_latency = ps.optimize(layer, buffer, objective="latency")
        accel = default_accelerator(buffer, DramSettings())
        assert ps.timing(by_latency, accel).cycles <= ps.timing(by_traffic, accel).cycles


@settings(max_examples=examples(40))
@given(st.sampled_from(sorted(LAYERS)).flatmap(lambda kind: LAYERS[kind]).flatmap(schedules),
       st.sampled_from(["ddr3-1600", "ddr4-2400", "lpddr4-3200"]))
@example(ps.Schedule(ps.pointwise(64, 64, 56, 56, name="pw")), "ddr3-1600")  # near the bound
def test_the_least_cost_of_the_entries_bounds_every_schedule(schedule, preset):
    """What the searches prune on: a schedule's entries at the cheapest burst cost no more
    energy, and take no more cycles, than the schedule does (an untiled layer streams its
    tensors whole, within a few percent of the bound)."""
    dram = DramSettings(preset)
    moved, cost = ps.traffic(schedule).total, dram.cost(schedule)
    assert dram.least_cost("energy", moved) <= cost.energy_pj
    assert dram.least_cost("latency", moved) <= cost.cycles


@settings(max_examples=examples(10))
@given(st.sampled_from(["conv2d", "depthwise", "pointwise", "pool"]).flatmap(
    lambda kind: LAYERS[kind]), st.sampled_from([64, 512]),
    st.sampled_from(["energy", "latency"]), st.sampled_from(["ddr3-1600", "ddr4-2400"]))
def test_pruning_the_candidates_never_changes_the_energy_or_latency_optimum(
        layer, buffer, objective, preset):
    """The search skips a candidate whose entries alone cost more than the best so far,
    and stops a count once its partial cost passes it (checked first after 1,024 runs):
    counting every candidate in full finds the same optimum."""
    from unittest import mock

    from polyscan.search.optimizer import search_layer

    dram = DramSettings(preset)
    try:
        pruned = search_layer(layer, buffer, objective=objective, dram=dram)
    except ps.BufferTooSmallError:
        return
    full_cost = DramSettings.cost
    with mock.patch.object(DramSettings, "least_cost", lambda self, objective, entries: 0), \
            mock.patch.object(DramSettings, "cost",
                              lambda self, schedule, over=None: full_cost(self, schedule)):
        full = search_layer(layer, buffer, objective=objective, dram=dram)
    assert pruned.best.figure(objective) == full.best.figure(objective)
    chosen = (pruned.schedule.tile, pruned.schedule.order, pruned.schedule.traversal)
    assert chosen == (full.schedule.tile, full.schedule.order, full.schedule.traversal)


def test_the_energy_objective_on_a_network(small_net):
    net, by_traffic = small_net
    by_energy = ps.optimize_network(net, 700, objective="energy")
    assert by_energy.energy_floor_pj <= by_energy.dram_cost().energy_pj \
        <= by_traffic.dram_cost().energy_pj
    for buffer in (300, 4000):  # the floor bounds every plan, fused or not
        for fusion in (False, True):
            plan = ps.optimize_network(net, buffer, fusion=fusion, objective="energy")
            assert plan.energy_floor_pj <= plan.dram_cost().energy_pj
    assert all(ps.traffic(g.schedule).peak <= 700 for g in by_energy.groups)
    with pytest.raises(ps.PolyscanError, match="objective"):
        ps.optimize_network(net, 700, objective="power")


# -- traces --------------------------------------------------------------------------------

LINE = {"dramsim2": re.compile(r"0x([0-9a-f]+) (READ|WRITE) (\d+)"),
        "dramsim3": re.compile(r"0x([0-9a-f]+) (READ|WRITE) (\d+)"),
        "ramulator": re.compile(r"0x([0-9a-f]+) ([RW])")}


@pytest.mark.parametrize("format, name", [("dramsim2", "mase_t.trc"),
                                          ("dramsim3", "t.txt"), ("ramulator", "t.trace.gz")])
def test_traces_have_one_line_per_burst(tmp_path, format, name):
    schedule = ps.Schedule(ps.depthwise(8, 20, 20, kernel=3, padding=1), {"y": 4, "c": 3},
                           ("c", "y"), "scan")
    cost = ps.dram_cost(schedule)
    summary = ps.write_trace(schedule, tmp_path / name, format)
    path = tmp_path / name
    text = (gzip.open(path, "rt") if name.endswith(".gz") else open(path)).read()
    lines = text.splitlines()
    assert summary.requests == len(lines) == cost.bursts and summary.cycles == cost.cycles
    matches = [LINE[format].fullmatch(line) for line in lines]
    assert all(matches)
    addresses = [int(m.group(1), 16) for m in matches]
    assert all(a % 64 == 0 for a in addresses)
    writes = sum(m.group(2) in ("WRITE", "W") for m in matches)
    assert writes == cost.write_bursts and len(lines) - writes == cost.read_bursts
    if format != "ramulator":
        cycles = [int(m.group(3)) for m in matches]
        assert cycles == sorted(cycles) and cycles[-1] < cost.cycles
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_bad_trace_targets_leave_nothing_behind(tmp_path):
    schedule = ps.Schedule(ps.pointwise(2, 2, 4, 4), {}, ())
    for path, format, message in [(tmp_path / "t.txt", "dramsim2", "mase_"),
                                  (tmp_path / "t.txt", "vcd", "format"),
                                  (tmp_path / "no" / "t.txt", "dramsim3", "no directory")]:
        with pytest.raises(ps.TraceError, match=message):
            ps.write_trace(schedule, path, format)
    assert list(tmp_path.iterdir()) == []


def test_plan_traces_cover_every_group(tmp_path, small_net):
    _, plan = small_net
    summary = plan.write_trace(tmp_path / "plan.txt", "dramsim3")
    cost = plan.dram_cost()
    assert summary.requests == cost.bursts and summary.cycles == cost.cycles


# -- command line --------------------------------------------------------------------------

def test_cli_trace_and_energy_figures(tmp_path, capsys):
    out = tmp_path / "mase_plan.trc"
    assert main(["trace", "mobilenet_v1", "--buffer", "64K", "--format", "dramsim2",
                 "--out", str(out), "--no-fusion", "--traversal", "lex"]) == 0
    assert out.exists() and LINE["dramsim2"].fullmatch(out.open().readline().strip())
    plan_json = tmp_path / "plan.json"
    assert main(["optimize", "mobilenet_v1", "--buffer", "64K", "--no-fusion", "--quiet",
                 "--dram", "lpddr4-3200", "--json", str(plan_json)]) == 0
    totals = json.loads(plan_json.read_text())["totals"]
    assert totals["energy_pj"] > 0 and totals["cycles"] > 0
    assert "mJ" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["optimize", "mobilenet_v1", "--buffer", "64K", "--dram", "ddr9"], "ddr9"),
    (["trace", "mobilenet_v1", "--buffer", "64K", "--format", "dramsim2", "--out", "x.trc"],
     "mase_"),
])
def test_cli_bad_dram_input_gives_exit_code_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
