"""The DRAM address stream computed the dumb way, to check ``polyscan.cost.dram.stream``.

From the explicit-set simulator's per-tile element sets (``simulator.Footprints``) and a tile
sequence, it lists for every step of the execution which bytes of which tensor move, in
which direction, with Python set operations (DESIGN sections 4 and 5; docs/dram.md):

- step k (k = 0 .. n-1, before tile k runs): first the writes the previous tile leaves, then
  the reads tile k needs. Step n (after the last tile): the final writes.
- a read-only tensor X is read ``F_X(t_k) \\ F_X(t_{k-1})`` (the whole footprint at k = 0);
- an output O writes ``F_O(t_{k-1}) \\ F_O(t_k)`` (at step n: all of ``F_O(t_{n-1})``) and
  reads back ``(F_O(t_k) \\ F_O(t_{k-1})) ∩ (F_O(t_0) ∪ ... ∪ F_O(t_{k-1}))``, the partial sums;
- an exported intermediate (read outside its group) writes at step k the elements first
  computed in tile k-1 (in ``F(t_{k-1})`` and in no earlier footprint), each once.

Elements become bytes through a placement of its own, which shares nothing with
``polyscan.cost.dram.memory``: tensors get base addresses one after the other in the order
the nest first meets them (a layer's tensors in its kernel's order; a fused group's by layer
and then tensor name), each base aligned up to ``alignment`` bytes and the next one after the
tensor's last byte; an element's offset is row-major in its index, except ``(h, w, c)`` order
for the 3-d tensors of layout ``HWC``; an element is ``element_bits / 8`` bytes. Only the
layer definitions (``polyscan.model``) are shared with the production code.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from ..model.layer import Layer
from .simulator import (
    ACCUMULATE,
    EXPORTED,
    READ,
    Footprints,
    fused_footprints,
    layer_footprints,
)

IN_DRAM = (READ, ACCUMULATE, EXPORTED)

# per step: (write, operand) -> the sorted byte addresses moved (a multiset: a byte moved
# twice appears twice); directions and operands that move nothing are left out
Steps = list[dict[tuple[bool, str], list[int]]]


@dataclass(frozen=True)
class Placed:
    """Where one operand's elements are: its tensor's base and the operand's view of it."""

    base: int  # bytes
    shape: tuple[int, ...]
    element_bytes: int
    layout: str

    def offset(self, element: tuple[int, ...]) -> int:
        """The element's position in the tensor, in elements."""
        if self.layout == "HWC" and len(self.shape) == 3:
            c, h, w = element
            channels, _, width = self.shape
            return (h * width + w) * channels + c
        offset = 0
        for index, extent in zip(element, self.shape):
            offset = offset * extent + index
        return offset

    def addresses(self, elements) -> list[int]:
        """Every byte of ``elements``."""
        size = self.element_bytes
        return [self.base + self.offset(e) * size + b for e in elements for b in range(size)]


def placements(operands: list[tuple[str, tuple[int, ...]]], element_bits: int = 8,
               layout: str = "CHW", alignment: int = 4096,
               tensor_of: Callable[[str], str] | None = None) -> dict[str, Placed]:
    """``operands`` (name, shape) in the order the nest meets them, placed: each DRAM tensor
    (``tensor_of(name)``, default the operand's own) on first sight, at the first multiple of
    ``alignment`` at or after the end of the tensor placed before it."""
    element_bytes = element_bits // 8
    bases, end, placed = {}, 0, {}
    for name, shape in operands:
        tensor = tensor_of(name) if tensor_of else name
        if tensor not in bases:
            bases[tensor] = (end + alignment - 1) // alignment * alignment
            end = bases[tensor] + math.prod(shape) * element_bytes
        placed[name] = Placed(bases[tensor], tuple(shape), element_bytes, layout)
    return placed


def layer_operands(layer: Layer, footprints: Footprints) -> list[tuple[str, tuple[int, ...]]]:
    """A layer's DRAM operands in its nest's order: its tensors, as its kernel lists them."""
    return [(name, footprints.shapes[name]) for name in layer.tensors
            if footprints.kinds[name] in IN_DRAM]


def group_operands(layers: list[Layer], inputs: dict, exported,
                   footprints: Footprints) -> list[tuple[str, tuple[int, ...]]]:
    """A fused group's DRAM operands in its nest's order: layer by layer (execution order),
    each layer's tensors by name; intermediates (``inputs``' keys) are their producers'
    outputs, and an inner layer's output is in DRAM only when exported."""
    intermediates = {(key.layer, key.tensor) for key in inputs}
    found = []
    for j, layer in enumerate(layers):
        for tensor in sorted(layer.tensors):
            if (layer.name, tensor) in intermediates:
                continue
            if layer.tensors[tensor].role == "output" and j < len(layers) - 1 \
                    and layer.name not in exported:
                continue
            name = f"{layer.name}.{tensor}"
            assert footprints.kinds[name] in IN_DRAM, (name, footprints.kinds[name])
            found.append((name, footprints.shapes[name]))
    return found


def expected_steps(footprints: Footprints, sequence: list[tuple[int, ...]],
                   placed: dict[str, Placed]) -> Steps:
    """The bytes each step moves (see the module's docstring), for the operands ``placed``."""
    n = len(sequence)
    steps: Steps = [{} for _ in range(n + 1)]

    def move(k: int, write: bool, name: str, elements: set):
        if elements:
            steps[k][write, name] = sorted(placed[name].addresses(elements))

    for name in placed:
        kind, per_tile = footprints.kinds[name], footprints.sets[name]
        tiles = [per_tile.get(t, set()) for t in sequence] + [set()]  # nothing after the end
        seen, previous, fresh = set(), set(), set()
        for k, current in enumerate(tiles):
            if kind == READ:
                move(k, False, name, current - previous)
            elif kind == ACCUMULATE:
                move(k, True, name, previous - current)
                move(k, False, name, (current - previous) & seen)
            elif kind == EXPORTED:
                move(k, True, name, fresh)
                fresh = current - seen
            else:
                raise ValueError(f"{name} is {kind}: it does not move")
            seen |= current
            previous = current
    return steps


def layer_steps(layer: Layer, tile: dict[str, int], order: tuple[str, ...],
                sequence: list[tuple[int, ...]], element_bits: int = 8, layout: str = "CHW",
                alignment: int = 4096) -> Steps:
    """The bytes each step of a layer's schedule moves."""
    footprints = layer_footprints(layer, tile, order)
    placed = placements(layer_operands(layer, footprints), element_bits, layout, alignment)
    return expected_steps(footprints, sequence, placed)


def fused_steps(layers: list[Layer], inputs: dict, exported, tile: dict[str, int],
                order: tuple[str, ...], sequence: list[tuple[int, ...]],
                element_bits: int = 8, layout: str = "CHW", alignment: int = 4096) -> Steps:
    """The bytes each step of a fused group's schedule moves (``inputs`` and ``exported`` as
    in ``simulator.fused_footprints``)."""
    footprints = fused_footprints(layers, inputs, exported, tile, order, sequence)
    placed = placements(group_operands(layers, inputs, exported, footprints), element_bits,
                        layout, alignment)
    return expected_steps(footprints, sequence, placed)
