"""The on-disk cache (DESIGN 7a): a second run counts nothing again and finds the same plan
as a run without the cache; damaged, foreign and other-build entries are counted again;
several processes may write one cache at once; the size limit holds; ``polyscan cache``."""

import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import islpy as isl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_residency import small_networks

import polyscan as ps
from polyscan import caches
from polyscan.caches import MISSING
from polyscan.errors import CacheError
from polyscan.sweep import store as disk
from polyscan.sweep.store import DiskStore, parse_bytes


@pytest.fixture
def card_calls(monkeypatch):
    """How many times barvinok's ``card`` has run since the test began."""
    calls = [0]
    original = isl.Set.card

    def counted(self, *args):
        calls[0] += 1
        return original(self, *args)
    monkeypatch.setattr(isl.Set, "card", counted)
    return calls


def use(store):
    """Install ``store`` with the in-memory memos emptied (as a new process starts)."""
    caches.install_store(store)
    caches.clear_cache()


@pytest.fixture
def cache(tmp_path):
    store = DiskStore(tmp_path / "cache")
    use(store)
    yield store
    use(None)


def figures(plan) -> str:
    """A plan's record without its timings (which differ from run to run)."""
    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if "second" not in k}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value
    return json.dumps(strip(plan.to_dict()), sort_keys=True, default=str)


def test_a_second_run_counts_no_closed_form_and_finds_the_same_plan(cache, card_calls,
                                                                  monkeypatch):
    monkeypatch.setenv("POLYSCAN_AHEAD", "off")  # every entry this process's own
    net = ps.zoo.mobilenet_v2()
    first = ps.optimize_network(net, buffer=65536)
    cold = card_calls[0]
    assert cold > 0 and cache.usage().entries > 0
    made, missed = cache.usage().entries, cache.misses
    caches.clear_cache()
    second = ps.optimize_network(net, buffer=65536)
    assert card_calls[0] == cold  # barvinok never ran again
    assert (cache.usage().entries, cache.misses) == (made, missed)  # nothing made again
    assert figures(second) == figures(first)
    use(None)
    assert figures(ps.optimize_network(net, buffer=65536)) == figures(first)


@settings(max_examples=12, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(net=small_networks(), room=st.integers(0, 300),
       objective=st.sampled_from(["traffic", "energy", "latency"]),
       double_buffer=st.booleans())
def test_plans_read_from_the_cache_equal_plans_counted_afresh(tmp_path_factory, net, room,
                                                              objective, double_buffer):
    from polyscan.search.bounds import least_peak
    buffer = 2 * max(least_peak(layer.nest) for layer in net.layers) + room
    use(None)
    try:
        fresh = ps.optimize_network(net, buffer, objective=objective,
                                    double_buffer=double_buffer)
    except ps.BufferTooSmallError:
        return
    store = DiskStore(tmp_path_factory.mktemp("cache"))
    try:
        for _ in range(2):  # writing the cache, then reading it
            use(store)
            plan = ps.optimize_network(net, buffer, objective=objective,
                                       double_buffer=double_buffer)
            assert figures(plan) == figures(fresh)
        assert store.hits > 0
    finally:
        use(None)


def test_damaged_and_foreign_entries_are_counted_again(cache, card_calls):
    layer = ps.depthwise(8, 14, 14, kernel=3, padding=1, name="dw")
    expected = ps.optimize(layer, 2000)
    for path in (cache.folder / disk.build()).rglob("*"):
        if path.is_file():
            path.write_bytes(path.read_bytes()[:7])  # cut short: no whole entry is left
    caches.clear_cache()
    cold = card_calls[0]
    again = ps.optimize(layer, 2000)
    assert card_calls[0] > cold  # recounted
    assert (again.tile, again.order, again.traversal) == \
        (expected.tile, expected.order, expected.traversal)
    caches.clear_cache()
    recounted = card_calls[0]
    ps.optimize(layer, 2000)
    assert card_calls[0] == recounted  # the damaged entries were written over whole

    key = ("some", "key")
    cache.put("count", key, 5)
    path = cache._path("count", key)
    path.write_bytes(disk.MAGIC + pickle.dumps(("count", ("other", "key"), 6)))
    assert cache.get("count", key) is MISSING  # another key under the same name
    path.write_bytes(b"not an entry at all")
    assert cache.get("count", key) is MISSING


def test_an_entry_whose_value_does_not_decode_is_made_again(cache):
    cache.put("closed-form", ("a",), "this is no quasi-polynomial {")
    made = caches.stored("closed-form", ("a",), lambda: "made", decode=lambda text:
                         isl.PwQPolynomial.read_from_str(isl.DEFAULT_CONTEXT, text))
    assert made == "made" and cache.get("closed-form", ("a",)) == "made"


def test_another_build_never_reads_this_builds_entries_and_is_pruned_first(
        cache, card_calls, monkeypatch):
    layer = ps.pointwise(16, 24, 10, 10, name="pw")
    ps.optimize(layer, 3000)
    ours = cache.usage()
    monkeypatch.setattr(disk, "build", lambda: "0.0.0-other-build")
    caches.clear_cache()
    cold = card_calls[0]
    ps.optimize(layer, 3000)
    assert card_calls[0] > cold  # nothing of the first build was used
    builds = {build for build, _ in cache.usage().counts}
    assert builds == {ours.build, "0.0.0-other-build"}
    other = sum(size for (build, _), (_, size) in cache.usage().counts.items()
                if build != ours.build)
    cache.limit = int(other / 0.8) + 1  # room for one build: the older one goes
    cache.prune()
    assert {build for build, _ in cache.usage().counts} == {"0.0.0-other-build"}


def test_the_size_limit_holds(tmp_path):
    store = DiskStore(tmp_path / "cache", limit=20_000)
    for i in range(200):
        store.put("count", (i,), "x" * 1000)
    assert store.usage().bytes <= 20_000
    assert store.get("count", (199,)) == "x" * 1000  # the newest stay
    assert store.get("count", (0,)) is MISSING
    nothing = DiskStore(tmp_path / "none", limit=0)
    nothing.put("count", (1,), 1)
    assert nothing.usage().entries == 0


def test_an_unwritable_folder_only_turns_the_cache_off(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder would be")
    store = DiskStore(blocker / "cache")
    use(store)
    try:
        ps.optimize(ps.pointwise(4, 4, 6, 6, name="pw"), 500)
        assert not store.usable and store.usage().entries == 0
    finally:
        use(None)
    assert blocker.read_text() == "a file where the folder would be"


WRITER = textwrap.dedent("""
    import json, sys
    import polyscan as ps
    from polyscan.caches import active_store
    plan = ps.optimize_network(ps.zoo.mobilenet_v3_small(), buffer=32768, fusion=False)
    print(json.dumps([plan.total, [g.layers for g in plan.groups], active_store().misses]))
""")


@pytest.mark.slow
def test_two_processes_writing_one_cache_at_once_are_safe(tmp_path):
    env = {**os.environ, "POLYSCAN_CACHE": "on", "POLYSCAN_CACHE_DIR": str(tmp_path / "c")}
    writers = [subprocess.Popen([sys.executable, "-c", WRITER], env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
               for _ in range(2)]
    results = [w.communicate(timeout=600) for w in writers]
    assert all(w.returncode == 0 for w in writers), [err for _, err in results]
    first, second = (json.loads(out) for out, _ in results)
    assert first[:2] == second[:2]
    third = subprocess.run([sys.executable, "-c", WRITER], env=env, text=True,
                           capture_output=True, check=True)
    assert json.loads(third.stdout) == [*first[:2], 0]  # all read back whole: no miss
    assert not [p for p in (tmp_path / "c").rglob(".*") if p.is_file()]  # no stray temp


def test_cache_info_and_clear_on_the_command_line(tmp_path):
    env = {**os.environ, "POLYSCAN_CACHE": "on", "POLYSCAN_CACHE_DIR": str(tmp_path / "c")}
    polyscan = [str(Path(sys.executable).parent / "polyscan")]
    run = subprocess.run([*polyscan, "optimize", "mobilenet_v3_small", "--buffer", "64K",
                          "--no-fusion"], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    info = subprocess.run([*polyscan, "cache", "info"], env=env, capture_output=True,
                          text=True)
    assert info.returncode == 0, info.stderr
    assert str(tmp_path / "c") in info.stdout and disk.build() in info.stdout
    entries = DiskStore(tmp_path / "c").usage().entries
    assert entries > 0  # the command wrote what it counted
    assert f"{entries:,} entries" in info.stdout
    cleared = subprocess.run([*polyscan, "cache", "clear"], env=env, capture_output=True,
                             text=True)
    assert cleared.returncode == 0 and "removed" in cleared.stdout
    assert DiskStore(tmp_path / "c").usage().entries == 0
    bad = subprocess.run([*polyscan, "cache", "info"], capture_output=True, text=True,
                         env={**env, "POLYSCAN_CACHE_SIZE": "lots"})
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert "POLYSCAN_CACHE_SIZE" in bad.stderr and "Traceback" not in bad.stderr


def test_sizes_parse_as_bytes():
    assert parse_bytes("500M") == 500 * 1024 ** 2
    assert parse_bytes("2G") == 2 * 1024 ** 3
    assert parse_bytes("1234") == 1234
    with pytest.raises(CacheError, match="POLYSCAN_CACHE_SIZE"):
        parse_bytes("-1")
