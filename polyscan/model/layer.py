"""A layer: a loop nest over a box of dims and the tensors it touches, as ISL objects.

Layers are made from kernel files (``polyscan.kernel``); everything downstream (footprints,
traffic, search, fusion, C emission) reads only what is here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cached_property

import islpy as isl

from ..errors import LayerShapeError
from .nest import ACCUMULATE, READ, Nest, Operand

READ_ONLY_ROLES = ("input", "weight", "residual")
ROLES = READ_ONLY_ROLES + ("output",)


@dataclass(frozen=True, eq=False)
class Tensor:
    """One tensor of a layer: its box of elements and the access from the loop nest.

    A layer of an imported network may read or write a part of a larger tensor, or a
    permutation of one (a Concat's slice, a Split, a channel shuffle, DESIGN 6a): then
    ``space`` and ``access`` are in that network tensor's coordinates, and ``view`` maps the
    kernel's own elements (a box of ``kernel_shape``) onto them.
    """

    name: str
    role: str  # one of ROLES
    shape: tuple[int, ...]
    space: isl.Set  # the tensor's elements (a box)
    access: isl.Map  # loop iteration -> element; indices outside `space` are padding
    view: isl.Map | None = None  # kernel element -> element of `space` (None: the same)
    kernel_shape: tuple[int, ...] | None = None  # the kernel's box, when viewed

    @property
    def read_only(self) -> bool:
        return self.role in READ_ONLY_ROLES

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def viewed(self, shape: tuple[int, ...], view: isl.Map) -> Tensor:
        """This tensor seen as part of a network tensor of ``shape``: ``view`` maps each of
        its elements (the kernel's coordinates) to one element there, one to one. Padding
        stays padding: iterations reading outside the kernel's box read nothing."""
        if self.view is not None:
            raise LayerShapeError(f"tensor {self.name} is already a view")
        names = [f"e{i}" for i in range(len(shape))]
        space = isl.Set("{ %s[%s] : %s }" % (self.name, ", ".join(names), " and ".join(
            f"0 <= {n} < {extent}" for n, extent in zip(names, shape)) or "true"))
        view = view.set_tuple_name(isl.dim_type.in_, self.name) \
            .set_tuple_name(isl.dim_type.out, self.name).intersect_domain(self.space)
        if not (view.is_single_valued() and view.is_injective()
                and view.domain().is_equal(self.space) and view.range().is_subset(space)):
            raise LayerShapeError(f"tensor {self.name}: the view must map each of its "
                                  f"{self.size} elements to its own element of {shape}")
        # coalesced: a view composed of pieces (a Concat's slices) is one convex map where it
        # can be, so its footprint still splits into per-dim components
        access = self.access.intersect_range(self.space).apply_range(view).coalesce()
        return replace(self, shape=tuple(shape), space=space, access=access, view=view,
                       kernel_shape=self.shape)


@dataclass(frozen=True)
class Compute:
    """What an iteration computes: ``output op= product of factors`` (``op``: ``+`` or
    ``max``); a residual ``R`` is the output's starting value. Only C emission needs it."""

    output: str
    op: str
    factors: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.output} {self.op}= {' * '.join(self.factors)}"


@dataclass(frozen=True, eq=False)
class Layer:
    """A loop nest ``domain`` (a box over ``dims``) with its tensors.

    ``symbols`` are the shape symbols the layer was made from (kernel-file names, e.g.
    ``C``, ``IH``, ``SH``); ``extents`` the size of each dim.
    """

    name: str
    kind: str
    symbols: Mapping[str, int]
    dims: tuple[str, ...]
    extents: Mapping[str, int]
    domain: isl.Set
    tensors: Mapping[str, Tensor]
    compute: Compute | None = None
    whole: tuple[str, ...] = ()  # dims that no tile splits (kernel file: loops.whole)

    @property
    def macs(self) -> int:
        """Iterations of the loop nest (multiply-accumulates, for a convolution)."""
        return math.prod(self.extents.values())

    @cached_property
    def nest(self) -> Nest:
        """The layer as a nest to tile: its tensors reached through their accesses."""
        return Nest(self.name, self.dims, self.extents, self.domain, {
            t.name: Operand(t.name, READ if t.read_only else ACCUMULATE,
                            t.access.intersect_domain(self.domain), t.space)
            for t in self.tensors.values()}, self.whole)

    @property
    def shape_key(self) -> tuple:
        """Equal for layers of equal loop nest and accesses (whatever their names)."""
        return self.nest.shape_key

    def with_residual(self) -> Layer:
        """This layer also reading tensor ``R`` with its output's footprint (a folded Add)."""
        if "R" in self.tensors:
            return self
        if self.output.view is not None:
            raise LayerShapeError(f"layer {self.name!r}: give the residual before the views")
        residual = Tensor("R", "residual", self.output.shape,
                          self.output.space.set_tuple_name("R"),
                          self.output.access.set_tuple_name(isl.dim_type.out, "R"))
        return replace(self, tensors={**self.tensors, "R": residual})

    def with_views(self, views: Mapping[str, tuple[tuple[int, ...], isl.Map]]) -> Layer:
        """This layer with tensor ``t`` seen through ``views[t] = (shape, map)`` (see
        ``Tensor.viewed``): how an imported layer reads a slice or writes into a Concat."""
        unknown = set(views) - set(self.tensors)
        if unknown:
            raise LayerShapeError(f"layer {self.name!r} has no tensor {sorted(unknown)[0]!r}")
        return replace(self, tensors={name: t.viewed(*views[name]) if name in views else t
                                      for name, t in self.tensors.items()})

    @property
    def output(self) -> Tensor:
        return next(t for t in self.tensors.values() if t.role == "output")

    def __repr__(self) -> str:
        shape = ", ".join(f"{d}={self.extents[d]}" for d in self.dims)
        return f"<Layer {self.name!r} {self.kind} {shape}>"
