"""A schedule as the integer sets its C code scans, parametric in two tile origins.

The tile being entered has origin ``o_d`` and the one before it ``p_d`` along each tiled dim
(ISL parameters). DESIGN section 4 then reads as set differences that hold for every pair
of consecutive tiles at once: what a tile loads of a read-only tensor is ``F(o) \\ F(p)``,
what it evicts of the output ``F(p) \\ F(o)``, what an inner layer of a fused group computes
anew ``F(o) \\ F(p)`` of its output. ``o_live`` and ``p_live`` are 0 where there is no such
tile (before the first tile, after the last), which makes its footprints empty.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import islpy as isl

from ...errors import EmitError
from ...model.fusion import FusedSchedule
from ...model.layer import Compute, Layer
from ...model.nest import IN_DRAM, ONCHIP, RESIDENT, TensorKey
from ...model.schedule import Schedule

CURRENT, PREVIOUS = "o", "p"


@dataclass(frozen=True)
class Stage:
    """One layer of the schedule: its iterations and, per tensor, the operand it reads or
    writes and the access from its iterations into that operand's elements."""

    layer: Layer
    domain: isl.Set  # the layer's iterations (tuple named as in the group's relations)
    accesses: dict[str, tuple[str, isl.Map]]  # tensor -> (operand key, access)
    bounds: dict[str, isl.Map]  # tensor -> access into its own tensor box (padding test)

    @property
    def name(self) -> str:
        return self.layer.name

    @property
    def compute(self) -> Compute:
        return self.layer.compute

    @property
    def residual(self) -> str | None:
        """The tensor holding the output's starting value."""
        return next((t.name for t in self.layer.tensors.values() if t.role == "residual"),
                    None)

    @property
    def output_key(self) -> str:
        return self.accesses[self.compute.output][0]


class Program:
    """The sets of a schedule; stages in execution order, the sink (tiled) last."""

    def __init__(self, schedule: Schedule):
        self.schedule = schedule
        self.nest = schedule.nest
        self.dims = schedule.order  # the tiled dims: the others span their whole extent
        self.params = [f"{which}_{name}" for which in (CURRENT, PREVIOUS)
                       for name in (*self.dims, "live")]
        self.stages = _stages(schedule)
        self.shared = _shared(schedule)  # first slice -> every slice of one tensor
        self.operands = {k: o for k, o in self.nest.operands.items()
                         if o.kind in (*IN_DRAM, ONCHIP, RESIDENT)}
        self._check_resident_slices()
        self._sets: dict[tuple, isl.Set] = {}

    @property
    def external(self) -> list[str]:
        """Operands that live in DRAM, in argument order."""
        return [k for k, o in self.operands.items() if o.kind in IN_DRAM]

    @property
    def resident(self) -> list[str]:
        """Operands held whole on chip across groups, one array each (the slices of one
        tensor share the first slice's), in argument order."""
        return [k for k, o in self.operands.items()
                if o.kind == RESIDENT and self.region_of(k) == k]

    @property
    def written(self) -> dict[str, Stage]:
        """Operand -> the stage writing it (the sink's output and the intermediates)."""
        return {stage.output_key: stage for stage in self.stages}

    def _check_resident_slices(self):
        """The slices of one tensor share one region, so they are resident all or none (a
        plan keeps a whole tensor resident, never part of one)."""
        for keys in self.shared.values():
            if len({self.operands[k].kind == RESIDENT for k in keys}) > 1:
                raise EmitError(f"{', '.join(map(str, keys))} are slices of one tensor: keep "
                                f"all of them resident or none")

    @functools.cached_property
    def context(self) -> isl.Set:
        """What the parameters can be: origins of tiles of the grid, live flags 0 or 1."""
        return isl.Set("[%s] -> { : %s }" % (", ".join(self.params), " and ".join(
            [f"0 <= {which}_live <= 1" for which in (CURRENT, PREVIOUS)]
            + [self._origin(which, d) for which in (CURRENT, PREVIOUS) for d in self.dims])))

    def _kept(self, key: tuple, make) -> isl.Set:
        """``make()``, computed once per program: each step of the unit and the windows
        use the same few sets."""
        if key not in self._sets:
            self._sets[key] = make()
        return self._sets[key]

    def tile(self, which: str) -> isl.Set:
        """Iterations of the sink's tile with origin ``which``."""
        return self._kept(("tile", which), lambda: self._tile(which))

    def _tile(self, which: str) -> isl.Set:
        name = self.nest.domain.get_tuple_name()
        bounds = [f"{which}_live = 1"] + [
            f"{which}_{d} <= {d} < {which}_{d} + {self.schedule.tile_size(d)}" for d in self.dims]
        box = isl.Set(f"[{', '.join(self.params)}] -> {{ {name}[{', '.join(self.nest.dims)}] : "
                      f"{' and '.join(bounds)} }}")
        return box.intersect(self.nest.domain.align_params(box.get_space()))

    def footprint(self, key: str, which: str) -> isl.Set:
        return self._kept(("footprint", key, which), lambda: self._footprint(key, which))

    def _footprint(self, key: str, which: str) -> isl.Set:
        operand = self.operands[key]
        tile = self.tile(which)
        return tile.apply(operand.relation.align_params(tile.get_space())) \
            .intersect(operand.space.align_params(tile.get_space()))

    def entering(self, key: str) -> isl.Set:
        return self._kept(("entering", key), lambda: self.footprint(key, CURRENT).subtract(
            self.footprint(key, PREVIOUS)))

    def leaving(self, key: str) -> isl.Set:
        return self.footprint(key, PREVIOUS).subtract(self.footprint(key, CURRENT))

    def new_iterations(self, stage: Stage) -> isl.Set:
        """Iterations of an inner stage computing the elements of its output that enter."""
        _, access = stage.accesses[stage.compute.output]
        return self.entering(stage.output_key).apply(access.reverse().align_params(
            self.context.get_space())).intersect(stage.domain)

    def computed(self, stage: Stage, iterations: isl.Set) -> isl.Set:
        """``iterations`` minus those whose factors fall in padding (they add nothing) or
        whose output falls outside the output (a transposed conv's cropped border)."""
        for tensor in (*stage.compute.factors, stage.compute.output):
            inside = stage.bounds[tensor].domain()
            iterations = iterations.intersect(inside.align_params(iterations.get_space()))
        return iterations

    def region_of(self, key: str) -> str:
        """The operand whose buffer region ``key`` uses (the first slice of its tensor)."""
        return next((first for first, keys in self.shared.items() if key in keys), key)

    def window(self, key: str) -> tuple[int, ...]:
        """Per index of operand ``key``, the widest extent its footprint spans in any tile
        (with every other slice of its tensor): modular addresses over these widths never
        collide within one tile."""
        footprint = self.footprint(key, CURRENT).reset_tuple_id()
        for other in self.shared.get(key, ()):  # slices of one tensor: one coordinate space
            footprint = footprint.union(self.footprint(other, CURRENT).reset_tuple_id())
        footprint = footprint.intersect_params(self.context)
        if footprint.is_empty():  # only padding is ever touched: one unused entry
            return (1,) * footprint.dim(isl.dim_type.set)
        widths = []
        rank = footprint.dim(isl.dim_type.set)
        for i in range(rank):
            # the largest distance between two elements of one tile along index i (as a
            # set of differences: quasi-affine footprints, an upsampling's, have no affine
            # bounds to subtract)
            along = footprint.project_out(isl.dim_type.set, i + 1, rank - i - 1) \
                .project_out(isl.dim_type.set, 0, i)
            distances = isl.Map.from_domain_and_range(along, along).deltas()
            distances = distances.project_out(isl.dim_type.param, 0,
                                              distances.dim(isl.dim_type.param))
            widths.append(distances.dim_max_val(0).to_python() + 1)
        return tuple(widths)

    def _origin(self, which: str, d: str) -> str:
        size, extent = self.schedule.tile_size(d), self.nest.extents[d]
        tiles = math.ceil(extent / size)
        return f"(exists n: {which}_{d} = {size}n and 0 <= n < {tiles})"


def _stages(schedule: Schedule) -> list[Stage]:
    if isinstance(schedule, FusedSchedule):
        group = schedule.group
        stages = []
        for j, layer in enumerate(group.layers):
            accesses, bounds = {}, {}
            for tensor in layer.tensors:
                key = TensorKey(layer.name, tensor)
                access = group.access(j, tensor)
                bounds[tensor] = access.intersect_range(group.space(j, tensor))
                producers = group.inputs.get(key)
                if producers is not None:  # read from the buffer region of its producers
                    p = group.position[producers[0]]
                    key = TensorKey(producers[0], group.layers[p].output.name)
                    access = access.apply_range(group.reshape(j, tensor, p))
                accesses[tensor] = (key, access)
            stages.append(_stage(layer, group.domain(j), accesses, bounds))
        return stages
    layer = schedule.layer
    return [_stage(layer, layer.domain,
                   {t.name: (t.name, t.access) for t in layer.tensors.values()},
                   {t.name: t.access.intersect_range(t.space) for t in layer.tensors.values()})]


def _shared(schedule: Schedule) -> dict[str, tuple[str, ...]]:
    """Output operands that are slices of one tensor (a Concat inside a group), keyed by
    the first: they share one buffer region, so that their reader finds every slice."""
    if not isinstance(schedule, FusedSchedule):
        return {}
    group = schedule.group
    shared = {}
    for producers in group.inputs.values():
        keys = tuple(TensorKey(p, group.layers[group.position[p]].output.name)
                     for p in sorted(producers, key=group.position.get))
        shared[keys[0]] = keys
    return shared


def _stage(layer, domain, accesses, bounds) -> Stage:
    if layer.compute is None:
        raise EmitError(f"layer {layer.name!r} ({layer.kind}) has no compute statement: add "
                        f"compute = \"O += W * I\" (or the like) to its kernel file")
    return Stage(layer, domain, accesses, bounds)
