"""The network optimizer: the layers partitioned into groups, each with its optimal schedule,
minimising the network's total cost under one buffer (docs/fusion.md)."""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from ..cost.accelerator import Accelerator
from ..cost.compute import least_macs
from ..cost.dram import DramSettings
from ..cost.traffic import Traffic
from ..errors import BufferTooSmallError, CountOverflowError, FusionError, PolyscanError
from ..model.fusion import FusedGroup, FusedSchedule
from ..model.nest import IN_DRAM, TensorKey
from ..model.schedule import Schedule
from ..polyhedral.footprint import touched_elements
from ..search.bounds import can_fit, least_peak, lower_bound
from ..search.optimizer import (
    SEARCHABLE,
    Search,
    checked_buffer,
    checked_objective,
    default_accelerator,
    least_cost,
    search_nest,
)
from ..search.tables import balanced_sizes, too_coupled
from .ahead import beside, wanted
from .graph import Network
from .plan import Group, Plan
from .residency import NONE, Holding, Residency

Progress = Callable[[int, int, str], None]  # (layers done, layers, what is being searched)


def optimize_network(net: Network, buffer: int = 65536, fusion: bool = True,
                     traversals=SEARCHABLE, progress: Progress | None = None,
                     max_group: int = 8, objective: str = "traffic",
                     dram: DramSettings | None = None, resident: bool | None = None,
                     accel: Accelerator | None = None, double_buffer: bool = False) -> Plan:
    """Partition the layers into groups, each with its optimal schedule, and choose which
    tensors stay resident in the buffer between groups (DESIGN 6b), minimising the
    network's total traffic (or DRAM energy, or time) under ``buffer``.

    Groups are runs of consecutive layers in topological order in which every layer but the
    last feeds a later one; without fusion every layer is its own group. The best plan is a
    shortest path over (cut, resident tensors alive across it), each step a run of up to
    ``max_group`` layers entered with some tensors resident and keeping some of the tensors
    it writes, its cost the exact optimal schedule of the run with those operands resident
    under the buffer left beside them (docs/fusion.md). The path is walked forwards to a
    middle cut and backwards from the end to it (the second half by a helper on the second
    core where there is one), then joined. A step is only searched if it can beat the best
    path known to its end (or from its start) state: its compulsory traffic, every element
    it moves once, is an exact lower bound, cheap to count. With
    ``objective="energy"`` the costs are the groups' modeled DRAM energy, with
    ``"latency"`` their makespans on ``accel`` (docs/time.md), bounded below by the bursts
    those entries need at the cheapest burst (or at the burst time). ``double_buffer``
    holds every group to the double-buffered capacity rule.
    ``resident`` defaults to ``fusion``: without fusion, every tensor goes through DRAM
    (the layer-by-layer baseline) unless ``resident=True`` asks for residency alone.
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
    if resident is not None and not isinstance(resident, bool):
        raise PolyscanError(f"resident must be True, False or None (as fusion), got "
                            f"{resident!r}")
    if not isinstance(double_buffer, bool):
        raise PolyscanError(f"double_buffer must be True or False, got {double_buffer!r}")
    _check_feasible(net, buffer)
    dram = dram or DramSettings()
    if objective == "latency" and accel is None:
        accel = default_accelerator(buffer, dram)
    planner = _Planner(net, buffer, traversals, max_group if fusion else 1, objective,
                       dram, progress, accel, double_buffer)
    resident = fusion if resident is None else resident
    groups = planner.groups(planner.best(Residency(net, enabled=resident)))
    if progress:
        progress(len(net.layers), len(net.layers), f"{net.name}: done")
    compulsory = sum(lower_bound(layer, buffer).compulsory for layer in net.layers)
    return Plan(net.name, buffer, tuple(dict.fromkeys(traversals)), fusion, groups,
                compulsory, net.floor(), time.perf_counter() - start, planner.evaluated,
                net, planner.objective, planner.dram, len(planner.too_large), resident, accel,
                double_buffer)


@dataclass(frozen=True)
class _Step:
    """The best path found to a (cut, resident state): its cost, its last group, and where
    that group started."""

    cost: float
    group: Group | None = None
    first: int = 0
    before: frozenset[str] = frozenset()  # the state the group was entered with
    run: _Run | None = None
    holding: Holding = NONE


class _Span(NamedTuple):
    """A group ``first..last`` entered with ``before`` resident and held as ``holding``,
    between a path costing ``ahead`` to its first cut and one costing ``behind`` from its
    end."""

    first: int
    last: int
    before: frozenset[str]
    holding: Holding
    ahead: float
    behind: float


@dataclass(frozen=True)
class _Tail:
    """The backward half of the partition search (``_Planner.to_end``), as the helper
    sends it."""

    best: list  # per cut: state -> (least cost from it to the end, its group's last, Holding)
    evaluated: int  # searches made
    too_large: list  # (first, last) of the runs found too coupled or too large to count


class _Planner:
    """The shortest-path search over cuts and resident states, met in the middle; runs and
    their searches are kept, so that the join and the plan's groups reuse them."""

    def __init__(self, net: Network, buffer: int, traversals, longest: int, objective: str,
                 dram: DramSettings, progress: Progress | None, accel: Accelerator | None,
                 double_buffer: bool):
        self.net, self.buffer, self.traversals = net, buffer, traversals
        self.accel, self.double_buffer = accel, double_buffer
        self.longest, self.objective, self.dram, self.progress = longest, objective, dram, \
            progress
        self.layers = net.layers
        self.runs: dict[tuple[int, int], _Run] = {}
        self.searched: dict[tuple, _Outcome] = {}  # by shape key and buffer left
        self.tied: dict[tuple, _Outcome] = {}  # the same, for ties broken by energy
        self.evaluated = 0
        self.too_large: set[_Run] = set()  # runs too coupled or too large to count
        self.rejected: set[tuple] = set()  # (run, resident operands, buffer) that cannot fit

    def run(self, first: int, last: int) -> _Run:
        if (first, last) not in self.runs:
            self.runs[first, last] = _Run(self.net, self.layers[first:last + 1])
        return self.runs[first, last]

    def groupable(self, first: int, last: int) -> bool:
        """Whether the layers ``first..last`` may form a group (checked before the
        states and choices of resident tensors are enumerated for it)."""
        run = self.run(first, last)
        return run.valid and run.feeds_later

    @functools.cached_property
    def middle(self) -> int:
        """The cut where the search's halves meet: half of the search work before it,
        counted as the tile-size combinations of the layers of distinct shapes (a shape's
        runs are searched once: its later layers come cheap). It depends on the network
        alone, so the plan does not depend on who walks which half."""
        seen, work = set(), []
        for layer in self.layers:
            new = layer.nest.shape_key not in seen
            seen.add(layer.nest.shape_key)
            work.append(new * math.prod(len(balanced_sizes(extent))
                                        for extent in layer.nest.extents.values()))
        total, done = sum(work), 0
        for cut, amount in enumerate(work, 1):
            done += amount
            if 2 * done >= total:
                return min(cut, len(self.layers) - 1)
        return 0

    def best(self, residency: Residency) -> list[_Step]:
        """The steps of the least-cost plan, a shortest path over (cut, resident state)
        met in the middle: the best paths from the start to every state up to ``middle``
        (``_forward``), the best from every state from ``middle`` on to the end
        (``to_end``, by a helper on the second core where ``ahead.wanted``), joined at the
        middle cut or across it by a group that spans it (``_joined``)."""
        with beside(self, lambda: self.to_end(residency, self.middle)) as backward:
            frontier = self._forward(residency, self.middle)
            tail, remote = backward()
        if remote:  # what the helper counted, as if counted here
            self.evaluated += tail.evaluated
            self.too_large.update(self.run(first, last) for first, last in tail.too_large)
        return self._joined(residency, frontier, tail.best)

    def _forward(self, residency: Residency, cut: int):
        """The best paths from the start to every (cut, resident state) up to ``cut``: per
        cut, state -> ``_Step``; each group into a state searched under the limit that the
        best path known to that state leaves."""
        n = len(self.layers)
        frontier: list[dict[frozenset, _Step]] = [{} for _ in range(n + 1)]
        frontier[0][frozenset()] = _Step(0)
        for last in range(cut):
            if self.progress:
                self.progress(last, n, f"{self.net.name}: groups ending at "
                                       f"{self.layers[last].name}")
            into: dict[frozenset, list[_Span]] = {}  # end state -> the groups reaching it
            for first in range(last, max(-1, last - self.longest), -1):
                if not self.groupable(first, last):
                    continue
                for state, step in frontier[first].items():
                    for holding in residency.choices(state, first, last, self.buffer):
                        into.setdefault(holding.after, []).append(
                            _Span(first, last, state, holding, step.cost, 0))
            for state, spans in into.items():
                found = self._best_span(spans)
                if found is not None:
                    cost, span, group = found
                    frontier[last + 1][state] = _Step(cost, group, span.first, span.before,
                                                      self.run(span.first, last),
                                                      span.holding)
        return frontier

    def to_end(self, residency: Residency, middle: int) -> _Tail:
        """Per cut from ``middle`` on and per state that may be resident across it
        (``Residency.states``), the least cost from it to the network's end, with the
        group starting there: the search backwards, each run searched under the limit
        that the best path known from its state leaves."""
        n = len(self.layers)
        evaluated = self.evaluated
        best: list[dict] = [{} for _ in range(n)] + [{frozenset(): (0, None, NONE)}]
        for first in range(n - 1, middle - 1, -1):
            if self.progress:
                self.progress(n - 1 - first + middle, n, f"{self.net.name}: groups starting "
                                                         f"at {self.layers[first].name}")
            for state in residency.states(first, self.buffer, self.longest):
                found = self._best_span(
                    _Span(first, last, state, holding, 0, best[last + 1][holding.after][0])
                    for last in range(first, min(n, first + self.longest))
                    if self.groupable(first, last)
                    for holding in residency.choices(state, first, last, self.buffer)
                    if holding.after in best[last + 1])
                if found is not None:
                    best[first][state] = found[0], found[1].last, found[1].holding
        too_large = [key for key, run in self.runs.items() if run in self.too_large]
        return _Tail(best, self.evaluated - evaluated, too_large)

    def _best_span(self, spans, best=None):
        """The cheapest of ``spans`` (groupable runs) as ``(total cost, span, its group)``,
        or ``best`` if none costs less. Each run's search is bounded by the best found so
        far, and skipped where its lower bound (``_bound``) cannot beat it: the likeliest
        best first (a layer alone, cheap to search, then by lower bound); the order changes
        what is searched, never what is found."""
        candidates = []
        for span in spans:
            run = self.run(span.first, span.last)
            bound = span.ahead + span.behind + self._bound(run, span.holding)
            candidates.append((span.first < span.last, bound, len(candidates), span, run))
        for _, bound, _, span, run in sorted(candidates, key=lambda c: c[:3]):
            if best is not None and bound >= best[0]:
                continue
            keys = run.keys_of(span.holding.tensors)
            if not self._fits(run, keys, self.buffer - span.holding.entries):
                continue
            group = run.search(self.buffer, self.traversals, self.searched, self.objective,
                               self.dram,
                               None if best is None else best[0] - span.ahead - span.behind,
                               span.holding, accel=self.accel,
                               double_buffer=self.double_buffer)
            self.evaluated += 1
            if group is not None:
                cost = span.ahead + group.measure(self.objective) + span.behind
                if best is None or cost < best[0]:
                    best = (cost, span, group)
        return best

    def _joined(self, residency: Residency, frontier, tail: list) -> list[_Step]:
        """The best whole path: through a state at the middle cut (an empty span there),
        or across the cut by one group from a cut before it to one after it."""
        middle, n = self.middle, len(self.layers)
        best = None
        for state, step in frontier[middle].items():
            if state in tail[middle] and (best is None or
                                          step.cost + tail[middle][state][0] < best[0]):
                best = (step.cost + tail[middle][state][0],
                        _Span(middle, middle - 1, state, NONE, step.cost, 0), None)
        best = self._best_span(
            (_Span(first, last, state, holding, step.cost, tail[last + 1][holding.after][0])
             for first in range(max(0, middle - self.longest + 1), middle)
             for state, step in frontier[first].items()
             for last in range(middle, min(n, first + self.longest))
             if self.groupable(first, last)
             for holding in residency.choices(state, first, last, self.buffer)
             if holding.after in tail[last + 1]), best)
        if best is None:
            raise PolyscanError(f"no plan of {self.net.name!r} fits (a layer that fits "
                                f"alone should always give one)")
        span, group = best[1:]
        steps = self._path(frontier, span.first, span.before)
        cut, state = span.first, span.before
        if group is not None:  # the group across the middle
            steps.append(_Step(span.ahead + group.measure(self.objective), group, span.first,
                               span.before, self.run(span.first, span.last), span.holding))
            cut, state = span.last + 1, span.holding.after
        while cut < n:
            _, last, holding = tail[cut][state]
            self._rebuilt(steps, _Span(cut, last, state, holding, 0, 0))
            cut, state = last + 1, holding.after
        return steps

    def _rebuilt(self, steps: list[_Step], span: _Span) -> None:
        """Append the step of the group of ``span`` (its schedule searched again, which the
        searches kept answer)."""
        run = self.run(span.first, span.last)
        group = run.search(self.buffer, self.traversals, self.searched, self.objective,
                           self.dram, None, span.holding, accel=self.accel,
                           double_buffer=self.double_buffer)
        cost = (steps[-1].cost if steps else 0) + group.measure(self.objective)
        steps.append(_Step(cost, group, span.first, span.before, run, span.holding))

    @staticmethod
    def _path(frontier, cut: int, state: frozenset) -> list[_Step]:
        """The steps of the best path to ``(cut, state)``, first to last."""
        steps = []
        while cut:
            step = frontier[cut][state]
            steps.append(step)
            cut, state = step.first, step.before
        return steps[::-1]

    def groups(self, steps: list[_Step]) -> list[Group]:
        """The plan's groups (``group``); for traffic, where a helper is ``wanted``, the
        ties of the second half of them broken by it (``ahead.beside``) while the planner
        breaks the first half's, the helper's then found here in the store."""
        if self.objective != "traffic" or not wanted(self):
            return [self.group(step) for step in steps]
        half = len(steps) // 2
        with beside(self, lambda: self._break_ties(steps[half:])) as second:
            first = [self.group(step) for step in steps[:half]]
            second()
        return first + [self.group(step) for step in steps[half:]]

    def _break_ties(self, steps: list[_Step]) -> None:
        """The helper's share of ``groups``: the tie searches, left in the store."""
        for step in steps:
            self.group(step)

    def group(self, step: _Step) -> Group:
        """The group of a step of the plan; for traffic, with the schedule of least DRAM
        energy among those of its least traffic (the search keeps the fewest tiles: a
        scattered tiling costs bursts and row misses that an equal-traffic one need not),
        searched only for the groups of the plan."""
        if self.objective != "traffic":
            return step.group
        return step.run.search(self.buffer, self.traversals, self.tied, "traffic", self.dram,
                               step.group.total + 1, step.holding, ties=True,
                               double_buffer=self.double_buffer)

    def least(self, entries: int, macs: int) -> float:
        """The least cost of moving ``entries`` and computing ``macs``
        (``search.optimizer.least_cost``)."""
        return least_cost(self.objective, entries, self.dram, self.accel, macs,
                          self.double_buffer)

    def _bound(self, run: _Run, holding: Holding) -> float:
        """A lower bound of the run's cost held as ``holding``: every element it moves, once
        (``least``), and for latency the fewest MACs it performs."""
        return self.least(run.compulsory(run.keys_of(holding.tensors)),
                          run.macs if self.objective == "latency" else 0)

    def _fits(self, run: _Run, keys: frozenset, budget: int) -> bool:
        """Whether some schedule of the run with ``keys`` resident fits ``budget`` (a group
        too coupled to tabulate, or too large to count, never does: counted as skipped)."""
        if (run, keys, budget) in self.rejected:
            return False
        fits = False
        if len(run.layers) > 1 and run.too_coupled:
            self.too_large.add(run)
        else:
            try:  # a resident operand only frees room: what fits without it fits with it
                fits = can_fit(run.nest, budget) or \
                    bool(keys) and can_fit(run.nest.with_resident(keys), budget)
            except CountOverflowError:  # a fused group too large to count in 64 bits
                self.too_large.add(run)  # (each layer alone was checked by _check_feasible)
        if not fits:
            self.rejected.add((run, keys, budget))
        return fits


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
        self.net = net
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
    def macs(self) -> int:
        """The fewest MACs a schedule of the run performs (``cost.compute.least_macs``)."""
        return least_macs(self.nest)

    @functools.cached_property
    def too_coupled(self) -> str | None:
        return too_coupled(self.nest)

    @functools.cached_property
    def tensors(self) -> dict[str, str]:
        """Operand key -> network tensor, for the operands that move to or from DRAM."""
        return {key: self.net.bindings[key if len(self.layers) > 1 else
                                       TensorKey(self.layers[0].name, key)]
                for key, o in self.nest.operands.items() if o.kind in IN_DRAM}

    def keys_of(self, tensors: frozenset[str]) -> frozenset:
        """The operands of the run bound to the network tensors ``tensors``."""
        return frozenset(k for k, t in self.tensors.items() if t in tensors)

    @functools.cached_property
    def _touched(self) -> dict[str, int]:
        return {key: touched_elements(self.nest.operands[key]) for key in self.tensors}

    def compulsory(self, resident=frozenset()) -> int:
        """Elements moved to or from DRAM at least once by any schedule of the run with the
        operands ``resident`` resident."""
        return sum(n for key, n in self._touched.items() if key not in resident)

    def search(self, buffer: int, traversals, searched: dict[tuple, _Outcome],
               objective="traffic", dram=None, limit=None, holding: Holding = NONE,
               ties: bool = False, accel=None, double_buffer: bool = False) -> Group | None:
        """The run's optimal schedule as a group, held as ``holding`` says (its operands
        bound to resident tensors resident, under the buffer the resident tensors leave);
        None if nothing fits, or if nothing costs less than ``limit`` (the search prunes
        against it). ``ties`` as in ``search_nest``."""
        resident = self.keys_of(holding.tensors)
        buffer -= holding.entries
        nest = self.nest.with_resident(resident)
        make = functools.partial(self.make, resident=resident)
        key = nest.shape_key, buffer
        if key not in searched or not searched[key].settles(limit):
            try:
                found = search_nest(nest, make, self.label, buffer, traversals, objective,
                                    dram, limit, ties, accel, double_buffer)
                searched[key] = _Outcome(found, tuple(nest.operands),
                                         None if found is not None else limit)
            except BufferTooSmallError:
                searched[key] = _Outcome(None)
        outcome = searched[key]
        if outcome.search is None:
            return None  # nothing fits, or nothing beats the limit it was searched under
        best = outcome.search.schedule
        schedule = make(best.tile, best.order, best.traversal)
        bound = lower_bound(self.layers[0], buffer).value \
            if len(self.layers) == 1 and not resident else self.compulsory(resident)
        return Group(tuple(layer.name for layer in self.layers), schedule,
                     _renamed(outcome.search.best.traffic,
                              dict(zip(outcome.operands, nest.operands))),
                     outcome.search, bound, tuple(sorted(holding.tensors)), holding.entries)


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
