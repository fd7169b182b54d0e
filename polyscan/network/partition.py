"""The network optimizer: the layers partitioned into groups, each with its optimal schedule,
minimising the network's total cost under one buffer (docs/fusion.md)."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..cost.dram import DramSettings
from ..cost.traffic import Traffic
from ..errors import BufferTooSmallError, CountOverflowError, FusionError, PolyscanError
from ..model.fusion import FusedGroup, FusedSchedule
from ..model.nest import ACCUMULATE, EXPORTED, READ, TensorKey
from ..model.schedule import Schedule
from ..polyhedral.footprint import touched_elements
from ..search.bounds import can_fit, least_peak, lower_bound
from ..search.optimizer import (
    SEARCHABLE,
    Search,
    checked_buffer,
    checked_objective,
    search_nest,
)
from ..search.tables import too_coupled
from .graph import Network
from .plan import Group, Plan

Progress = Callable[[int, int, str], None]  # (layers done, layers, what is being searched)


def optimize_network(net: Network, buffer: int = 65536, fusion: bool = True,
                     traversals=SEARCHABLE, progress: Progress | None = None,
                     max_group: int = 8, objective: str = "traffic",
                     dram: DramSettings | None = None) -> Plan:
    """Partition the layers into groups, each with its optimal schedule, minimising the
    network's total traffic under ``buffer``.

    Groups are runs of consecutive layers in topological order in which every layer but the
    last feeds a later one; without fusion every layer is its own group. The best partition
    is a shortest path over cut points, ``best[j+1] = min_i best[i] + cost(i..j)``, each
    cost an exact optimal group schedule, runs of up to ``max_group`` layers. A run is only
    searched if ``best[i]`` plus its compulsory traffic (every element it moves to or from
    DRAM, once: an exact lower bound of its cost, cheap to count) can beat ``best[j+1]``.
    With ``objective="energy"`` or ``"latency"`` the costs are the groups' modeled DRAM
    energy or time (``search_layer``), bounded below by the bursts the compulsory traffic
    needs at the cheapest burst energy and time.
    """
    start = time.perf_counter()
    if not isinstance(net, Network):
        raise PolyscanError(f"optimize_network plans a network (ps.zoo.mobilenet_v2(), "
                            f"ps.load_onnx(path)), got {type(net).__name__}; ps.optimize "
                            f"schedules one layer")
    buffer = checked_buffer(buffer)
    objective = checked_objective(objective)
    if isinstance(max_group, bool) or not isinstance(max_group, int) or max_group < 1:
        raise PolyscanError(f"max_group must be a positive number of layers, got "
                            f"{max_group!r}")
    dram = dram or DramSettings()
    longest = max_group if fusion else 1
    layers = net.layers
    _check_feasible(net, buffer)
    best = [0] + [None] * len(layers)  # best[j]: least cost of the first j layers
    chosen: list[Group | None] = [None] * (len(layers) + 1)
    searched: dict[str, _Outcome] = {}  # by the nest's shape key: runs of one shape share
    evaluated = skipped = 0
    for last in range(len(layers)):
        if progress:
            progress(last, len(layers), f"{net.name}: groups ending at {layers[last].name}")
        for first in range(last, max(-1, last - longest), -1):
            run = _Run(net, layers[first:last + 1])
            if not run.feeds_later:
                break  # its first layer feeds no later one: no longer run works either
            if not run.valid or best[first] is None or \
                    (best[last + 1] is not None and best[first] +
                     dram.least_cost(objective, run.compulsory) >= best[last + 1]):
                continue
            if len(run.layers) > 1 and too_coupled(run.nest):
                skipped += 1  # a group the search cannot tabulate: never chosen
                continue
            try:
                if not can_fit(run.nest, buffer):
                    continue
            except CountOverflowError:  # a fused group too large to count in 64 bits
                skipped += 1  # (each layer alone was checked by _check_feasible)
                continue
            limit = None if best[last + 1] is None else best[last + 1] - best[first]
            group = run.search(buffer, traversals, searched, objective, dram, limit)
            evaluated += 1
            cost = None if group is None else group.measure(objective)
            if cost is not None and (best[last + 1] is None or
                                     best[first] + cost < best[last + 1]):
                best[last + 1], chosen[last + 1] = best[first] + cost, group
    if progress:
        progress(len(layers), len(layers), f"{net.name}: done")
    groups, end = [], len(layers)
    while end:
        groups.append(chosen[end])
        end -= len(chosen[end].layers)
    compulsory = sum(lower_bound(layer, buffer).compulsory for layer in layers)
    return Plan(net.name, buffer, tuple(dict.fromkeys(traversals)), fusion, groups[::-1],
                compulsory, net.floor(), time.perf_counter() - start, evaluated, net,
                objective, dram, skipped)


def _check_feasible(net: Network, buffer: int):
    """Every layer alone must fit (then the plan without fusion does); else say at once
    which layer needs the most, and how much (its least peak, ``search.bounds``)."""
    needs = {layer.name: least_peak(layer.nest) for layer in net.layers}
    name = max(needs, key=needs.get)
    if needs[name] > buffer:
        raise BufferTooSmallError(f"network {net.name!r} (layer {name!r} alone)", buffer,
                                  needs[name])


@dataclass(frozen=True)
class _Outcome:
    """What searching runs of one shape gave."""

    search: Search | None  # the optimum; None when nothing fits, or nothing beat ``limit``
    operands: tuple[str, ...] = ()  # the operand keys of the run searched
    limit: float | None = None  # the cost the search had to beat (None: unbounded)

    def settles(self, limit: float | None) -> bool:
        """Whether this answers a search under ``limit`` without searching again: a found
        optimum or nothing-fits always does; nothing-under-L does for limits up to L."""
        return self.search is not None or self.limit is None or \
            (limit is not None and limit <= self.limit)


class _Run:
    """Consecutive layers of a network, as one layer or a fused group.

    A run fuses when its first layer feeds a later one, every inner layer feeds a later one
    (``FusedGroup`` checks), and every tensor a layer of it reads is written either wholly
    inside the run or wholly outside it (the slices of a Concat come all from the group, or
    all from DRAM)."""

    def __init__(self, net: Network, layers):
        self.layers = layers
        self.valid = False  # a layer, or layers that fuse
        inside = {layer.name for layer in layers}
        if len(layers) == 1:
            self.feeds_later = self.valid = True
            self.make = functools.partial(Schedule, layers[0])
            self.nest, self.label = layers[0].nest, f"layer {layers[0].name!r}"
            return
        self.feeds_later = any(v in inside for _, v in net.graph.out_edges(layers[0].name))
        if not self.feeds_later:
            return
        inputs = {}
        for layer in layers:
            for tensor in layer.tensors.values():
                writers = net.sources(layer.name, tensor.name)
                if not inside.intersection(writers):
                    continue
                if not inside.issuperset(writers):
                    return  # some slices of a tensor from the run, some from DRAM
                inputs[TensorKey(layer.name, tensor.name)] = writers
        exported = [layer.name for layer in layers[:-1] if _read_outside(net, layer, inside)]
        try:
            group = FusedGroup(layers, inputs, exported)
        except FusionError:  # an inner layer that feeds none of the later ones
            return
        self.valid = True
        self.make = functools.partial(FusedSchedule, group)
        self.nest, self.label = group.nest, f"fused group {group.name!r}"

    @functools.cached_property
    def compulsory(self) -> int:
        """Elements moved to or from DRAM at least once by any schedule of the run."""
        return sum(touched_elements(o) for o in self.nest.operands.values()
                   if o.kind in (READ, ACCUMULATE, EXPORTED))

    def search(self, buffer, traversals, searched: dict[str, _Outcome], objective="traffic",
               dram=None, limit=None) -> Group | None:
        """The run's optimal schedule as a group; None if nothing fits the buffer, or if
        nothing costs less than ``limit`` (the search prunes against it)."""
        key = self.nest.shape_key
        if key not in searched or not searched[key].settles(limit):
            try:
                found = search_nest(self.nest, self.make, self.label, buffer, traversals,
                                    objective, dram, limit)
                searched[key] = _Outcome(found, tuple(self.nest.operands),
                                         None if found is not None else limit)
            except BufferTooSmallError:
                searched[key] = _Outcome(None)
        outcome = searched[key]
        if outcome.search is None:
            return None  # nothing fits, or nothing beats the limit it was searched under
        best = outcome.search.schedule
        schedule = self.make(best.tile, best.order, best.traversal)
        bound = lower_bound(self.layers[0], buffer).value if len(self.layers) == 1 \
            else self.compulsory
        return Group(tuple(layer.name for layer in self.layers), schedule,
                     _renamed(outcome.search.best.traffic,
                              dict(zip(outcome.operands, self.nest.operands))),
                     outcome.search, bound)


def _renamed(counted: Traffic, keys: dict[str, str]) -> Traffic:
    """Traffic of a run of equal shape, under this run's operand keys."""
    return Traffic({keys[k]: v for k, v in counted.reads.items()},
                   {keys[k]: v for k, v in counted.writes.items()}, counted.peak, counted.tiles,
                   {keys[k]: v for k, v in counted.recomputed.items()})


def _read_outside(net: Network, layer, inside: set[str]) -> bool:
    """Whether a layer outside ``inside`` reads ``layer``'s output, or the network delivers
    it: then a group holding ``layer`` must write it to DRAM."""
    tensor = net.tensor_of(layer.name, layer.output.name)
    return tensor.name in net.outputs or any(
        r.layer not in inside and layer.name in net.sources(r.layer, r.tensor)
        for r in tensor.readers)
