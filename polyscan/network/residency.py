"""Tensors kept resident in the buffer between groups (DESIGN 6b): which may be, and what the
buffer holds while a group runs.

A network tensor may stay resident when one group writes all of it (every slice of a
Concat), a later layer reads it and the network does not deliver it. From the group that
writes it to the group of its last reader it occupies its whole size in the buffer; none of
them moves it to or from DRAM. The partition search (``partition``) carries the set of
resident tensors alive across each cut as the state of its dynamic program; ``choices``
lists what a group starting in one state may do, ``states`` every state a cut may have.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from .graph import Network


@dataclass(frozen=True)
class Holding:
    """One way to run a group: the tensors resident while it runs and what it leaves."""

    tensors: frozenset[str]  # network tensors in the buffer during the whole group
    entries: int  # their total size: the group's schedule gets the buffer minus this
    after: frozenset[str]  # those still resident after the group (read by a later one)


NONE = Holding(frozenset(), 0, frozenset())


class Residency:
    """What the dynamic program needs to know of the network's tensors; with
    ``enabled=False`` no tensor is ever resident (every group starts and ends empty)."""

    def __init__(self, net: Network, enabled: bool = True):
        self.net = net
        self.enabled = enabled
        position = {layer.name: i for i, layer in enumerate(net.layers)}
        delivered = set(net.outputs)
        self.last_read: dict[str, int] = {}  # tensor -> position of its last reader
        self.writers: dict[str, tuple[int, int]] = {}  # tensor -> first, last writer
        for tensor in net.tensors.values():
            if tensor.writers and tensor.readers and tensor.name not in delivered:
                self.last_read[tensor.name] = max(position[r.layer] for r in tensor.readers)
                places = [position[w] for w in tensor.writers]
                self.writers[tensor.name] = min(places), max(places)

    def size(self, tensors) -> int:
        return sum(self.net.tensors[t].size for t in tensors)

    def candidates(self, first: int, last: int) -> list[str]:
        """Tensors that a group of layers ``first..last`` (positions) may keep resident: it
        writes all of them, and a later layer reads them."""
        if not self.enabled:
            return []
        return [t for t, (a, b) in self.writers.items()
                if first <= a and b <= last < self.last_read[t]]

    def choices(self, state: frozenset[str], first: int, last: int, buffer: int):
        """Every ``Holding`` of a group ``first..last`` entered with ``state`` resident:
        the state's tensors, and any subset of its candidates, that leave room in
        ``buffer``."""
        kept = frozenset(t for t in state if self.last_read[t] > last)
        held = self.size(state)
        for chosen in self._subsets(self.candidates(first, last), buffer - held):
            yield Holding(state | chosen, held + self.size(chosen), kept | chosen)

    def states(self, cut: int, buffer: int, longest: int) -> list[frozenset[str]]:
        """Every set of tensors that may be resident across ``cut`` (between positions
        ``cut - 1`` and ``cut``), the empty set first: each written before it by one group
        of at most ``longest`` layers and read from it on, together smaller than
        ``buffer``. A superset of what ``choices`` can leave there, for the backward half
        of the partition search, which cannot know which a plan reaches."""
        if not self.enabled:
            return [frozenset()]
        alive = [t for t, (a, b) in self.writers.items()
                 if b < cut <= self.last_read[t] and b - a < longest]
        return list(self._subsets(alive, buffer))

    def _subsets(self, tensors: list[str], room: int):
        """The subsets of ``tensors`` smaller together than ``room``, the fewest first."""
        fitting = [t for t in tensors if self.net.tensors[t].size < room]
        for count in range(len(fitting) + 1):
            for chosen in itertools.combinations(fitting, count):
                if self.size(chosen) < room:
                    yield frozenset(chosen)
