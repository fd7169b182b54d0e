"""The controller's reorder window over DDR4 bank groups: how many bursts follow one of
their own group on the data bus (each of those waits tCCD_L instead of BL/2).

The controller holds the next ``window`` requests of the stream and puts on the bus the
oldest one of another bank group than the burst just sent, or, when every request it holds
is in that group, the oldest of them: a repeat. After k bursts sent it holds exactly the
unsent ones among the stream's first k + window, so the order it sends is a function of
the stream alone. This is what DRAMsim3's per-bank queues and round robin do with a
row-local stream (pages alternate their groups at their ends, a page's middle repeats) and
with a plan's short runs across tensors (a run of one group hidden among the others' within
the window). A burst two places after one of its group is never delayed: tCCD_L <= BL,
which presets check.
"""

from __future__ import annotations

import numpy as np

NONE = 1 << 62  # a group with nothing left to send


def repeats(groups: np.ndarray, bursts: np.ndarray, window: int, count: int) -> int:
    """Bursts sent right after one of their own group, for segments in stream order (the
    bank group and the number of bursts of each) and ``count`` bank groups."""
    if not len(groups):
        return 0
    change = np.ones(len(groups), dtype=bool)
    change[1:] = groups[1:] != groups[:-1]
    first = np.flatnonzero(change)
    group, length = groups[first], np.add.reduceat(bursts, first)
    start = np.concatenate([[0], np.cumsum(length)[:-1]])
    # per group, its runs (first stream index, bursts) and how far it has been sent
    runs = [(start[group == g].tolist(), length[group == g].tolist()) for g in range(count)]
    run, sent_of_run = [0] * count, [0] * count
    head = [r[0][0] if r[0] else NONE for r in runs]  # stream index of each group's next
    total, sent, last, repeated = int(length.sum()), 0, -1, 0
    while sent < total:
        end = sent + window
        pick = -1
        for g in range(count):
            if g != last and head[g] < end and (pick < 0 or head[g] < head[pick]):
                pick = g
        if pick >= 0:
            g, n = pick, 1
        else:  # the window holds only the last group: send until another's enters it
            g = last
            others = min((head[h] for h in range(count) if h != g), default=NONE)
            n = others - end + 1 if others < NONE else total - sent
            repeated += n
        sent += n
        last = g
        starts, lengths = runs[g]
        while n:
            take = min(n, lengths[run[g]] - sent_of_run[g])
            sent_of_run[g] += take
            n -= take
            if sent_of_run[g] == lengths[run[g]]:
                run[g], sent_of_run[g] = run[g] + 1, 0
            head[g] = starts[run[g]] + sent_of_run[g] if run[g] < len(starts) else NONE
    return repeated
