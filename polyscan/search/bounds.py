"""``ps.lower_bound``: no schedule of a layer moves less than this, whatever its tiles and order.

Two bounds, the larger is the answer (derivations in ``docs/optimizer.md``):

- compulsory: every element a layer touches crosses the DRAM boundary once (its accessed
  input, weights and residual read once, its output written once);
- I/O (red-blue pebbling, the segment argument of Hong & Kung 1981 as made explicit by
  Irony, Toledo & Tiskin 2004, with the Loomis-Whitney inequality): cut the tile sequence
  into segments that each bring at most ``B`` new entries into the buffer. A segment can use
  at most ``2B`` distinct elements (``B`` present at its start, ``B`` brought in), and for a
  matrix-product-shaped loop nest the iterations ``V`` using elements ``A, Bm, C`` satisfy
  ``|V|^2 <= |A| |Bm| |C| <= ((|A|+|Bm|+|C|)/3)^3``. A convolution is such a product over its
  im2col matrix, each input element appearing at most ``u`` times per output position
  (``u = ceil(KH g_h / SH) * ceil(KW g_w / SW)``, ``g = gcd(stride, dilation)``), so
  ``|V| <= sqrt(u) (2B/3)^(3/2)`` and

      traffic >= B * (ceil(MACs / (sqrt(u) (2B/3)^(3/2))) - 1)

  with MACs counting only iterations that read a real (not padding) input element.
  ``u = 1`` for pointwise and fully connected layers. Depthwise convolutions and pools have
  no such reuse structure (each output needs its own window): their bound is compulsory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import islpy as isl
import numpy as np

from ..caches import Memo, stored
from ..model.layer import Layer
from ..model.nest import Nest
from ..polyhedral.closed_form import count_points
from ..polyhedral.footprint import relation_components, touched_elements
from .optimizer import checked_buffer
from .orders import Batch
from .tables import nest_tables, tables_for

PRODUCT_SHAPED = ("conv2d", "pointwise", "fully_connected")


@dataclass(frozen=True)
class LowerBound:
    """Lower bounds on a layer's DRAM traffic (entries) under a buffer of ``buffer``."""

    layer: str
    buffer: int
    compulsory: int
    io: int  # the pebbling bound (0 where the layer is not product-shaped)
    macs: int  # iterations that read a real input element (what the I/O bound counts)
    formula: str

    @property
    def value(self) -> int:
        return max(self.compulsory, self.io)


def lower_bound(layer: Layer, buffer: int) -> LowerBound:
    """The compulsory traffic and the I/O lower bound of ``layer`` for ``buffer`` entries."""
    buffer = checked_buffer(buffer)
    compulsory = tables_for(layer.nest).compulsory
    macs = _real_macs(layer)
    if layer.kind not in PRODUCT_SHAPED:
        return LowerBound(layer.name, buffer, compulsory, 0, macs,
                          "compulsory: every touched element once")
    uses = _input_uses(layer)
    per_segment = math.sqrt(uses) * (2 * buffer / 3) ** 1.5
    io = max(0, buffer * (math.ceil(macs / per_segment) - 1))
    formula = (f"B * (ceil(MACs / (sqrt(u) * (2B/3)^1.5)) - 1) with B = {buffer}, "
               f"MACs = {macs} (padding excluded), u = {uses}")
    return LowerBound(layer.name, buffer, compulsory, io, macs, formula)


def _input_uses(layer: Layer) -> int:
    """How many kernel positions can read one input element for one output position."""
    if layer.kind != "conv2d":
        return 1
    s = layer.symbols
    per_axis = [math.ceil(s[k] * math.gcd(s[stride], s[dilation]) / s[stride])
                for k, stride, dilation in (("KH", "SH", "DILH"), ("KW", "SW", "DILW"))]
    return per_axis[0] * per_axis[1]


def _real_macs(layer: Layer) -> int:
    """Iterations whose input index is a real element (padding reads nothing), counted per
    access component of the input (the count is their product) to keep ISL's sets small."""
    tensor = layer.tensors["I"]
    count = math.prod(layer.extents.values())
    for loop_dims, tensor_dims in relation_components(layer.nest, layer.nest.operands["I"]):
        access, space = tensor.access.intersect_domain(layer.domain), tensor.space
        for j in reversed(range(access.dim(isl.dim_type.out))):
            if j not in tensor_dims:
                access = access.project_out(isl.dim_type.out, j, 1)
                space = space.project_out(isl.dim_type.set, j, 1)
        real = access.intersect_range(space).domain()
        for i in reversed(range(len(layer.dims))):
            if layer.dims[i] not in loop_dims:
                real = real.project_out(isl.dim_type.set, i, 1)
        component_box = math.prod(layer.extents[d] for d in loop_dims)
        count = count // component_box * count_points(real)
    return count



_LEAST_PEAKS = Memo(4096)  # shape key -> least peak


def least_peak(nest: Nest) -> int:
    """The least buffer any schedule of ``nest`` needs: the peak of its smallest tiles (one
    iteration wide in every dim a tile may split). A larger tile's footprints contain a
    smaller one's, so every schedule's peak is at least this; cheap to count (one tile size
    per dim), it tells "buffer too small" before any search."""
    def count() -> int:
        tables = nest_tables(nest, smallest=True)
        batch = Batch(tables, [np.zeros(1, dtype=np.int64) for _ in tables.clusters])
        return int(batch.peaks()[0])
    return _LEAST_PEAKS.get(nest.shape_key, lambda: stored("least-peak", nest.shape_key, count))


def held_whole(nest: Nest) -> int:
    """Entries that every tile of ``nest`` holds, whatever the tiling: the operands whose
    footprint components are all constant (indices on no loop dim, as an inner layer's
    weights in a fused group) hold all they touch. A lower bound of ``least_peak`` that
    needs no closed form."""
    return sum(touched_elements(operand) for operand in nest.operands.values()
               if operand.in_buffer and
               all(not dims for dims, _ in relation_components(nest, operand)))


def central_peak(nest: Nest) -> int:
    """The entries the smallest tile at the centre of the iteration space holds: one
    point (whole dims whole), its footprints counted without parameters. ``least_peak``
    is the most any smallest tile holds, so at least this: a fused group whose centre
    already overflows is rejected in milliseconds, without its closed forms."""
    def count() -> int:
        centre = " and ".join(f"{d} = {nest.extents[d] // 2}" for d in nest.dims
                              if d not in nest.whole) or "true"
        tile = nest.domain.intersect(isl.Set("{ %s[%s] : %s }" % (
            nest.domain.get_tuple_name(), ", ".join(nest.dims), centre)))
        return sum(count_points(operand.relation.intersect_domain(tile).range()
                                .intersect(operand.space))
                   for operand in nest.operands.values() if operand.in_buffer)
    return _CENTRAL_PEAKS.get(nest.shape_key, count)


_CENTRAL_PEAKS = Memo(4096)  # shape key -> central peak


def can_fit(nest: Nest, buffer: int) -> bool:
    """Whether some schedule of ``nest`` fits ``buffer`` (``least_peak(nest) <= buffer``),
    answered without closed forms when ``held_whole`` or ``central_peak`` already exceeds
    it (long fused groups that the network search would otherwise count for nothing)."""
    return central_peak(nest) <= buffer and held_whole(nest) <= buffer and \
        least_peak(nest) <= buffer
