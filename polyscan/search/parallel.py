"""Both cores for one search: a large batch of tile-size combinations is split in two, and a
forked child evaluates one half while this process evaluates the other.

A fork shares the tables already built (copy on write), so nothing is pickled but the
result: the best keys of the child's half, a few integers. The halves' best keys merged are
the batch's best keys, so the search stays exact. Where fork is missing (not Linux), or
inside a child, or for small batches, the batch is evaluated here, whole.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle

import numpy as np

MIN_COMBINATIONS = 20_000  # below this, forking costs more than it saves
_IN_CHILD = False


def stay_on_one_core():
    """From now on this process forks no children for its batches (it is itself a helper
    beside the main process: ``network.ahead``)."""
    global _IN_CHILD
    _IN_CHILD = True


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def evaluate_split(totals, space, flat, tiles, peaks, best):
    """``totals(space, flat, tiles, peaks, best) -> (keys, count)`` over both halves of the
    batch at once (interleaved halves: each gets combinations of every size)."""
    global _IN_CHILD
    if _IN_CHILD or len(flat) < MIN_COMBINATIONS or cores() < 2 or \
            "fork" not in multiprocessing.get_all_start_methods():
        return totals(space, flat, tiles, peaks, best)
    halves = [np.arange(start, len(flat), 2) for start in (0, 1)]
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # the child: the second half, the answer down the pipe, and out
        _IN_CHILD = True
        code = 0
        try:
            part = halves[1]
            answer = totals(space, flat[part], tiles[part], peaks[part], best)
            with os.fdopen(writer, "wb") as out:
                pickle.dump(answer, out)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(writer)
    part = halves[0]
    mine = totals(space, flat[part], tiles[part], peaks[part], best)
    with os.fdopen(reader, "rb") as stream:
        data = stream.read()
    _, status = os.waitpid(child, 0)
    if status != 0 or not data:  # the child failed: count its half here
        part = halves[1]
        theirs = totals(space, flat[part], tiles[part], peaks[part], best)
    else:
        theirs = pickle.loads(data)
    return space.merge(mine[0], theirs[0]), mine[1] + theirs[1]
