"""What a schedule tiles: a box of loop dims and the operands its tiles touch.

A layer is a nest whose operands are its tensors, reached through their access maps. A fused
group (``polyscan.fusion``) is a nest over its last layer's dims whose operands are every
tensor of the group, reached through composed relations, plus the iteration sets of its
inner layers (to count recomputation). Counting (``polyscan.polyhedral``), traffic and the
search only see nests.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import islpy as isl

from ..errors import ScheduleError

READ = "read"  # in DRAM, read-only: read on every entry into the buffer
ACCUMULATE = "accumulate"  # in DRAM, written on every exit, read back when seen before
ONCHIP = "onchip"  # produced and consumed inside the buffer: no DRAM traffic
EXPORTED = "exported"  # on chip, but also read outside its group: written once
ITERATIONS = "iterations"  # loop iterations of an inner layer: counted, not stored
RESIDENT = "resident"  # kept whole in the buffer across groups (DESIGN 6b): no DRAM traffic,
#                        and no footprint of its own (the plan holds its entries)
KINDS = (READ, ACCUMULATE, ONCHIP, EXPORTED, ITERATIONS, RESIDENT)
IN_DRAM = (READ, ACCUMULATE, EXPORTED)  # the kinds that may stay resident instead


class TensorKey(str):
    """The traffic key of a tensor of a fused group: layer ``layer``'s tensor ``tensor``.

    It prints, compares and hashes as the string ``"<layer>.<tensor>"`` (so ``reads["dw.W"]``
    works), but code reads ``.layer`` and ``.tensor`` and never splits the string: layer names
    are an exporter's and may hold any character. The string is unambiguous all the same,
    because tensor names are identifiers (kernel files allow nothing else): the last dot
    separates. ``tensor=""`` is the key of the layer's iterations (``"<layer>."``), which no
    tensor key can equal.
    """

    layer: str
    tensor: str

    def __new__(cls, layer: str, tensor: str):
        key = super().__new__(cls, f"{layer}.{tensor}")
        key.layer, key.tensor = layer, tensor
        return key

    def __getnewargs__(self):
        return self.layer, self.tensor

    def __repr__(self) -> str:
        return f"TensorKey({self.layer!r}, {self.tensor!r})"


def iterations_key(layer: str) -> TensorKey:
    """The operand key of an inner layer's iterations in a fused group."""
    return TensorKey(layer, "")


@dataclass(frozen=True, eq=False)
class Operand:
    """What the nest's tiles touch of one tensor (or which iterations of one layer)."""

    key: str  # traffic key: "I" in a layer, TensorKey("expand", "I") in a fused group
    kind: str  # one of KINDS
    relation: isl.Map  # nest iteration -> element, restricted to the nest's domain
    space: isl.Set  # the elements (a box); anything outside is padding

    @cached_property
    def shape(self) -> tuple[int, ...]:
        """The tensor's shape: its space is the box from 0 to these extents (asked per
        schedule by the DRAM stream and the emitter, so counted once)."""
        return tuple(self.space.dim_max_val(i).to_python() + 1
                     for i in range(self.space.dim(isl.dim_type.set)))

    @property
    def in_buffer(self) -> bool:
        """Whether the tile's footprint of it takes buffer space (a resident tensor's
        entries are held by the plan, whole, not by the schedule)."""
        return self.kind not in (ITERATIONS, RESIDENT)

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
    whole: tuple[str, ...] = ()  # dims that no tile splits

    @cached_property
    def shape_key(self) -> tuple:
        """Equal for nests of equal loops and relations, whatever the names of their layers
        (operands correspond by position)."""
        return (self.domain.to_str(), self.whole) + tuple(
            (o.kind, o.relation.to_str(), o.space.to_str()) for o in self.operands.values())

    def with_resident(self, keys) -> Nest:
        """This nest with the operands ``keys`` resident (DESIGN 6b): a group reading them
        from the buffer, or keeping what it produces there for later groups."""
        keys = set(keys)
        if not keys:
            return self
        for key in keys:
            if key not in self.operands or self.operands[key].kind not in IN_DRAM:
                raise ScheduleError(f"{self.name}: {str(key)!r} is no operand that moves "
                                    f"to or from DRAM, so it cannot stay resident")
        operands = {k: dataclasses.replace(o, kind=RESIDENT) if k in keys else o
                    for k, o in self.operands.items()}
        return dataclasses.replace(self, operands=operands)

    @property
    def resident_keys(self) -> tuple[str, ...]:
        return tuple(k for k, o in self.operands.items() if o.kind == RESIDENT)

    @property
    def output_keys(self) -> tuple[str, ...]:
        return tuple(k for k, o in self.operands.items() if o.kind == ACCUMULATE)
