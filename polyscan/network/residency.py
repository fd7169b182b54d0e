"""Tensors kept resident in the buffer between groups (DESIGN 6b): which may be, and what the
buffer holds while a group runs.

A network tensor may stay resident when one group writes all of it (every slice of a
Concat), a later layer reads it and the network does not deliver it. From the group that
writes it to the group of its last reader it occupies its whole size in the buffer; none of
them moves it to or from DRAM. The partition search (``partition``) carries the set of
resident tensors alive across each cut as the state of its dynamic program; ``choices``
lists what a group starting in one state may do.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from ..model.nest import TensorKey
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
        fitting = [t for t in self.candidates(first, last)
                   if held + self.net.tensors[t].size < buffer]
        for count in range(len(fitting) + 1):
            for chosen in itertools.combinations(fitting, count):
                entries = held + self.size(chosen)
                if entries < buffer:
                    yield Holding(state | frozenset(chosen), entries, kept | frozenset(chosen))

    def floor_after(self, layers) -> list[int]:
        """``floor_after[i]``: entries that the layers from position ``i`` on move in any
        plan (their weights, the network inputs they read, the outputs they deliver), each
        counted once: a lower bound of what is left to pay after a cut."""
        net = self.net
        first_use: dict[str, int] = {}
        for i, layer in enumerate(layers):
            for tensor in layer.tensors:
                name = net.bindings[TensorKey(layer.name, tensor)]
                t = net.tensors[name]
                if (t.weight or not t.writers) and name not in first_use:
                    first_use[name] = i  # counted from the last cut before its first use
        for name in net.outputs:
            first_use[name] = max(i for i, layer in enumerate(layers)
                                  if layer.name in net.tensors[name].writers)
        floor = [0] * (len(layers) + 1)
        for name, i in first_use.items():
            for j in range(i + 1):
                floor[j] += net.tensors[name].size
        return floor

