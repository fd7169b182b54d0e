"""What a schedule tiles: a box of loop dims and the operands its tiles touch.

A layer is a nest whose operands are its tensors, reached through their access maps. A fused
group (``polyscan.fusion``) is a nest over its last layer's dims whose operands are every
tensor of the group, reached through composed relations, plus the iteration sets of its
inner layers (to count recomputation). Counting (``polyscan.polyhedral``), traffic and the
search only see nests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import islpy as isl

READ = "read"  # in DRAM, read-only: read on every entry into the buffer
ACCUMULATE = "accumulate"  # in DRAM, written on every exit, read back when seen before
ONCHIP = "onchip"  # produced and consumed inside the buffer: no DRAM traffic
EXPORTED = "exported"  # on chip, but also read outside its group: written once
ITERATIONS = "iterations"  # loop iterations of an inner layer: counted, not stored
KINDS = (READ, ACCUMULATE, ONCHIP, EXPORTED, ITERATIONS)


@dataclass(frozen=True, eq=False)
class Operand:
    """What the nest's tiles touch of one tensor (or which iterations of one layer)."""

    key: str  # traffic key: "I" in a layer, "expand.I" in a fused group
    kind: str  # one of KINDS
    relation: isl.Map  # nest iteration -> element, restricted to the nest's domain
    space: isl.Set  # the elements (a box); anything outside is padding

    @property
    def in_buffer(self) -> bool:
        return self.kind != ITERATIONS

    @property
    def dram_weight(self) -> int:
        """DRAM transfers per entry into the buffer (the output: written, and read back)."""
        return {READ: 1, ACCUMULATE: 2}.get(self.kind, 0)


@dataclass(frozen=True, eq=False)
class Nest:
    name: str
    dims: tuple[str, ...]
    extents: Mapping[str, int]
    domain: isl.Set
    operands: Mapping[str, Operand]

    @cached_property
    def shape_key(self) -> tuple:
        """Equal for nests of equal loops and relations, whatever the names of their layers
        (operands correspond by position)."""
        return (self.domain.to_str(),) + tuple(
            (o.kind, o.relation.to_str(), o.space.to_str()) for o in self.operands.values())

    @property
    def output_keys(self) -> tuple[str, ...]:
        return tuple(k for k, o in self.operands.items() if o.kind == ACCUMULATE)
