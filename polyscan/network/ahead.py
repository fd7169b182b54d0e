"""The second core for the partition search: while the planner walks the cuts forwards, a
forked helper searches the network's runs without a limit, from the last layer backwards and
the shortest runs first, and leaves what it counts in the on-disk store (``sweep.store``).
The planner finds it there: closed forms, least peaks and footprint components, and whole
optimal schedules, since an optimum searched without a limit answers a search under any
limit (``search.optimizer.search_nest``). The helper only writes what the planner would count
itself, so the plan is the same with it or without it (tests/test_ahead.py); it only saves
time.

It runs where the store is on, fork exists, this process has two cores, and
``POLYSCAN_AHEAD`` is not ``off`` (a sweep turns it off where its workers fill the cores), for
the traffic and energy objectives of single-buffered plans (the others search by branch and
bound: an unbounded optimum does not answer them).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import time

from ..caches import active_store
from ..errors import PolyscanError
from ..search.bounds import can_fit
from ..search.parallel import cores, stay_on_one_core
from .residency import NONE

STOP_WAIT = 2.0  # seconds the helper gets to finish its current write when stopped


def wanted(planner) -> bool:
    """Whether a helper would serve this search here (see the module's docstring)."""
    return (os.environ.get("POLYSCAN_AHEAD", "").lower() not in ("off", "0", "no", "false")
            and planner.objective in ("traffic", "energy") and not planner.double_buffer
            and len(planner.layers) > 1 and cores() >= 2
            and "fork" in multiprocessing.get_all_start_methods()
            and getattr(active_store(), "usable", False))


@contextlib.contextmanager
def searching_ahead(planner):
    """Run the planner's searches with a helper searching ahead of it, where ``wanted``;
    the helper is stopped (and reaped) on the way out, however the block ends."""
    if not wanted(planner):
        yield
        return
    child = os.fork()
    if child == 0:
        _help(planner)
    try:
        yield
    finally:
        _stop(child)


def search_ahead(planner) -> None:
    """What the helper does, from the network's end (the planner starts at its beginning):
    first what the planner asks of every run it considers (what the run touches, whether it
    can be tabulated, its least peak), then every run that fits, entered with nothing
    resident, searched without a limit; runs of one layer first, then of two, ..."""
    n = len(planner.layers)
    runs = [planner.run(last - length + 1, last) for length in range(1, planner.longest + 1)
            for last in range(n - 1, length - 2, -1)]
    runs = [run for run in runs if run.valid and run.feeds_later]
    fitting = []
    for run in runs:
        try:
            run.compulsory()
            if (len(run.layers) == 1 or not run.too_coupled) and \
                    can_fit(run.nest, planner.buffer):
                fitting.append(run)
        except PolyscanError:  # too large to count: the planner says so itself
            continue
    for run in fitting:
        with contextlib.suppress(PolyscanError):
            run.search(planner.buffer, planner.traversals, {}, planner.objective,
                       planner.dram, None, NONE)


def _help(planner) -> None:
    """The forked helper's whole life: search ahead, never print, exit without running the
    parent's clean-up (it shares the parent's open files)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    signal.signal(signal.SIGTERM, _stopped)
    stay_on_one_core()  # the parent has the other core
    try:
        search_ahead(planner)
    except BaseException:  # noqa: BLE001 - stopped, or failed: the planner counts alone
        pass
    os._exit(0)


def _stopped(signum, frame):
    raise SystemExit  # unwinds a write under way, which removes its temporary file


def _stop(child: int) -> None:
    """End the helper: asked first (so a write under way is finished or removed), killed if
    it does not end within ``STOP_WAIT``."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(child, signal.SIGTERM)
    deadline = time.monotonic() + STOP_WAIT
    with contextlib.suppress(ChildProcessError):  # already reaped (by a SIGCHLD handler)
        while time.monotonic() < deadline:
            done, _ = os.waitpid(child, os.WNOHANG)
            if done:
                return
            time.sleep(0.01)
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
