"""The second core for the partition search. The search is a shortest path over (cut,
resident state) met in the middle (``partition._Planner.best``): the planner walks the cuts
forwards to the middle while a forked helper walks them backwards from the network's end to
it. The helper sends back its half (per cut and state, the least cost to the end and the
group that starts there: a few numbers) and leaves every search it made in the on-disk store
(``sweep.store``), where the planner reads the schedules of those groups. Without a helper
the planner walks both halves itself, and the plan is the same. Once the plan's groups are
chosen, a second helper breaks the ties of half of them (``partition._Planner.groups``)
while the planner breaks the other half's.

A helper runs where the store is on, fork exists, this process has two cores, and
``POLYSCAN_AHEAD`` is not ``off`` (a sweep turns it off where its workers fill the cores),
for the traffic and energy objectives of single-buffered plans (latency and double
buffering search by branch and bound, whose results the store does not share between
limits).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

from ..caches import active_store
from ..search.parallel import cores, stay_on_one_core

STOP_WAIT = 2.0  # seconds the helper gets to finish its current write when stopped


def wanted(planner) -> bool:
    """Whether a helper would serve this search here (see the module's docstring)."""
    store = active_store()
    return (os.environ.get("POLYSCAN_AHEAD", "").lower() not in ("off", "0", "no", "false")
            and planner.objective in ("traffic", "energy") and not planner.double_buffer
            and len(planner.layers) > 1 and cores() >= 2
            and "fork" in multiprocessing.get_all_start_methods()
            and getattr(store, "usable", False) and getattr(store, "limit", 1) != 0)


@contextlib.contextmanager
def beside(planner, work: Callable[[], Any]) -> Iterator[Callable[[], tuple[Any, bool]]]:
    """Run ``work()`` in a forked helper while the block runs, where ``wanted``. The block
    gets a function that waits for the helper and gives ``(work's value, True)``, or
    ``(work(), False)`` computed here when there is no helper or it failed. The helper is
    stopped and reaped on the way out, however the block ends."""
    if not wanted(planner):
        yield lambda: (work(), False)
        return
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(reader)
        _help(planner, work, writer)
    os.close(writer)
    try:
        with os.fdopen(reader, "rb") as answers:
            yield lambda: _answer(answers, work)
    finally:
        _stop(child)


def _answer(answers, work: Callable[[], Any]) -> tuple[Any, bool]:
    """The helper's value, once it has sent it; made here if it sent nothing (it failed)."""
    try:
        return pickle.loads(answers.read()), True
    except (EOFError, pickle.UnpicklingError, OSError, ValueError):
        return work(), False


def _help(planner, work: Callable[[], Any], writer: int) -> None:
    """The forked helper's whole life: ``work()``, its value down the pipe, never printing,
    and out without running the parent's clean-up (it shares the parent's open files)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    signal.signal(signal.SIGTERM, _stopped)
    stay_on_one_core()  # the parent has the other core
    planner.progress = None  # the parent reports progress
    try:
        data = pickle.dumps(work(), protocol=pickle.HIGHEST_PROTOCOL)
        with os.fdopen(writer, "wb") as out:
            out.write(data)
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
