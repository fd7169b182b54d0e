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

from .nest import ACCUMULATE, READ, Nest, Operand

READ_ONLY_ROLES = ("input", "weight", "residual")
ROLES = READ_ONLY_ROLES + ("output",)


@dataclass(frozen=True, eq=False)
class Tensor:
    """One tensor of a layer: its box of elements and the access from the loop nest."""

    name: str
    role: str  # one of ROLES
    shape: tuple[int, ...]
    space: isl.Set  # the tensor's elements (a box)
    access: isl.Map  # loop iteration -> element; indices outside `space` are padding

    @property
    def read_only(self) -> bool:
        return self.role in READ_ONLY_ROLES

    @property
    def size(self) -> int:
        return math.prod(self.shape)


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
            for t in self.tensors.values()})

    @property
    def shape_key(self) -> tuple:
        """Equal for layers of equal loop nest and accesses (whatever their names)."""
        return self.nest.shape_key

    def with_residual(self) -> Layer:
        """This layer also reading tensor ``R`` with its output's footprint (a folded Add)."""
        if "R" in self.tensors:
            return self
        residual = Tensor("R", "residual", self.output.shape,
                          self.output.space.set_tuple_name("R"),
                          self.output.access.set_tuple_name(isl.dim_type.out, "R"))
        return replace(self, tensors={**self.tensors, "R": residual})

    @property
    def output(self) -> Tensor:
        return next(t for t in self.tensors.values() if t.role == "output")

    def __repr__(self) -> str:
        shape = ", ".join(f"{d}={self.extents[d]}" for d in self.dims)
        return f"<Layer {self.name!r} {self.kind} {shape}>"
