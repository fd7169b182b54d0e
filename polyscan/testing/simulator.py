"""The explicit-set simulator: DESIGN section 4 computed the dumb way, to check ``traffic``.

It shares nothing with the counting path but the layer's definition: it lists every loop
iteration, applies each access as an integer matrix, drops padding by comparing with the
tensor's shape, groups the touched elements into one Python set per tile, and applies the
section-4 formulas with set operations, the partial-sum read-backs included. Tile sequences
for ``lex`` and ``scan`` come from the recursive definitions written out here. It is meant
for small layers (up to some 10^5 iterations).
"""

from __future__ import annotations

import itertools
import math

import islpy as isl
import numpy as np

from ..cost.traffic import Traffic
from ..model.layer import Layer, Tensor


def simulate(layer: Layer, tile: dict[str, int], order: tuple[str, ...],
             sequence: list[tuple[int, ...]]) -> Traffic:
    """Traffic of the tiles ``sequence`` (grid coordinates over ``order``), explicitly."""
    return simulate_footprints(layer, tile_footprints(layer, tile, order), sequence)


def simulate_fused(layers: list[Layer], inputs: dict, exported: tuple[str, ...],
                   tile: dict[str, int], order: tuple[str, ...], sequence) -> Traffic:
    """A fused group's traffic (DESIGN section 5), explicitly: per tile of the last layer,
    each earlier layer's needed outputs are the union of what later layers read of them (of
    the elements it writes, when several layers write one tensor), its iterations every one
    writing a needed element; then the section-4 formulas per tensor. ``inputs`` maps a
    ``TensorKey`` (layer, tensor) to the group layers producing it (``FusedGroup.inputs``)."""
    sink = layers[-1]
    by_name = {layer.name: layer for layer in layers}
    touched = {(layer.name, t.name): elements(layer, t) for layer in layers
               for t in layer.tensors.values()}
    writers = {}  # layer -> its output element -> the iterations writing it
    for layer in layers[:-1]:
        writers[layer.name] = {}
        for i, written in enumerate(touched[layer.name, layer.output.name]):
            for element in written:
                writers[layer.name].setdefault(element, []).append(i)
    sizes = [tile.get(d, sink.extents[d]) for d in order]
    points = np.indices([sink.extents[d] for d in sink.dims]).reshape(len(sink.dims), -1).T
    tile_of = [tuple(r) for r in (points[:, [sink.dims.index(d) for d in order]]
                                  // np.array(sizes, dtype=np.int64)).tolist()]

    kinds, footprints = {}, {}
    for t in sequence:
        iterations = {sink.name: {i for i, c in enumerate(tile_of) if c == t}}
        for j in reversed(range(len(layers))):
            layer = layers[j]
            if j != len(layers) - 1:
                needed = set()
                for key, producers in inputs.items():
                    if layer.name in producers:  # same elements, row-major (a flatten)
                        shape = by_name[key.layer].tensors[key.tensor].shape
                        read = (tuple(np.unravel_index(np.ravel_multi_index(e, shape),
                                                       layer.output.shape))
                                for e in footprints[key.layer, key.tensor][t])
                        needed |= {e for e in read if e in writers[layer.name]}
                iterations[layer.name] = {i for e in needed for i in writers[layer.name][e]}
                key = (layer.name, layer.output.name)
                kinds[key] = "exported" if layer.name in exported else "onchip"
                footprints.setdefault(key, {})[t] = needed
                kinds[layer.name] = "iterations"
                footprints.setdefault(layer.name, {})[t] = iterations[layer.name]
            for tensor in layer.tensors.values():
                key = (layer.name, tensor.name)
                if tensor.role == "output" and j != len(layers) - 1:
                    continue
                kinds.setdefault(key, "accumulate" if tensor.role == "output" else "read")
                per_iteration = touched[key]
                footprints.setdefault(key, {})[t] = {e for i in iterations[layer.name]
                                                     for e in per_iteration[i]}
    for key in inputs:  # intermediates are the producers' outputs, not reads
        footprints.pop((key.layer, key.tensor)), kinds.pop((key.layer, key.tensor))
    named = {_name(key): key for key in footprints}
    return _traffic_of_sets({n: kinds[k] for n, k in named.items()},
                            {n: footprints[k] for n, k in named.items()}, sequence)


def _name(key) -> str:
    """Traffic keys as the counting path names them: ``"<layer>.<tensor>"``, a layer's
    name for its iterations (compared as strings, so the oracle needs no key type)."""
    return key if isinstance(key, str) else f"{key[0]}.{key[1]}"


def _traffic_of_sets(kinds: dict, footprints: dict, sequence) -> Traffic:
    """DESIGN sections 4 and 5, literally, over explicit per-tile sets."""
    reads, writes, recomputed = {}, {}, {}
    for key, per_tile in footprints.items():
        tiles = [per_tile.get(t, set()) for t in sequence]
        entries = len(tiles[0]) + sum(len(b - a) for a, b in zip(tiles, tiles[1:]))
        touched = len(set().union(*tiles))
        if kinds[key] == "read":
            reads[key] = entries
        elif kinds[key] == "accumulate":
            writes[key] = sum(len(a - b) for a, b in zip(tiles, tiles[1:])) + len(tiles[-1])
            seen, read_back = set(tiles[0]), 0
            for a, b in zip(tiles, tiles[1:]):
                read_back += len((b - a) & seen)
                seen |= b
            reads[key] = read_back
        elif kinds[key] == "exported":
            writes[key] = touched
        elif kinds[key] == "iterations":
            recomputed[key] = entries - touched
    peak = max(sum(len(per_tile.get(t, ())) for key, per_tile in footprints.items()
                   if kinds[key] != "iterations") for t in sequence)
    return Traffic(reads, writes, peak, len(sequence), recomputed)


def tile_footprints(layer: Layer, tile: dict[str, int], order: tuple[str, ...]) -> dict:
    """Per tensor, the set of elements each tile touches, keyed by grid coordinate."""
    sizes = {d: tile.get(d, layer.extents[d]) for d in layer.dims}
    points = np.indices([layer.extents[d] for d in layer.dims]).reshape(len(layer.dims), -1).T
    tile_of_point = [tuple(row) for row in
                     (points[:, [layer.dims.index(d) for d in order]]
                      // np.array([sizes[d] for d in order], dtype=np.int64)).tolist()]
    footprints = {}
    for name, tensor in layer.tensors.items():
        per_tile: dict[tuple[int, ...], set] = {}
        for t, touched in zip(tile_of_point, elements(layer, tensor)):
            if touched:
                per_tile.setdefault(t, set()).update(touched)
        footprints[name] = per_tile
    return footprints


def simulate_footprints(layer: Layer, footprints: dict, sequence) -> Traffic:
    """DESIGN section 4's formulas, literally, over a layer's explicit per-tile sets."""
    kinds = {name: "read" if layer.tensors[name].read_only else "accumulate"
             for name in footprints}
    return _traffic_of_sets(kinds, footprints, sequence)


def elements(layer: Layer, tensor: Tensor) -> list[list[tuple[int, ...]]]:
    """For every iteration of ``layer`` (row-major over its dims), the elements of ``tensor``
    it touches, padding dropped. An affine access is applied as an integer matrix; any other
    (floor divisions, a view into a larger tensor, several elements per iteration) by
    listing the points of the relation."""
    points = np.indices([layer.extents[d] for d in layer.dims]).reshape(len(layer.dims), -1).T
    try:
        matrix, offset = access_matrix(tensor.access)
    except ValueError:
        return _listed_elements(layer, tensor)
    rows = points @ matrix.T + offset
    inside = np.all((rows >= 0) & (rows < np.array(tensor.shape)), axis=1)
    return [[tuple(r)] if ok else [] for r, ok in zip(rows.tolist(), inside)]


def _listed_elements(layer: Layer, tensor: Tensor) -> list[list[tuple[int, ...]]]:
    relation = tensor.access.intersect_domain(layer.domain).intersect_range(tensor.space)
    n_in = relation.dim(isl.dim_type.in_)
    found: list[list[tuple[int, ...]]] = [[] for _ in range(layer.macs)]
    extents = [layer.extents[d] for d in layer.dims]

    def add(point):
        values = [point.get_coordinate_val(isl.dim_type.set, i).to_python()
                  for i in range(wrapped.dim(isl.dim_type.set))]
        found[int(np.ravel_multi_index(values[:n_in], extents))].append(tuple(values[n_in:]))

    wrapped = relation.wrap()
    wrapped.foreach_point(add)
    return found


def exhaustive_optimum(layer: Layer, buffer: int, traversals=("lex", "scan")):
    """The least ``(total, tiles, peak)`` over the whole search space of DESIGN section 4,
    every schedule simulated explicitly, and one schedule ``(tile, order, traversal)``
    reaching it; None when nothing fits. Exponential: for tiny layers only."""
    sequences = {"lex": lex_sequence, "scan": scan_sequence}
    best = None
    sizes = [sorted({-(-layer.extents[d] // n) for n in range(1, layer.extents[d] + 1)})
             for d in layer.dims]
    for combination in itertools.product(*sizes):
        tile = {d: t for d, t in zip(layer.dims, combination) if t < layer.extents[d]}
        tiled = tuple(tile)
        footprints = tile_footprints(layer, tile, tiled)
        for order in itertools.permutations(tiled):
            grid = tuple(math.ceil(layer.extents[d] / tile[d]) for d in order)
            position = [tiled.index(d) for d in order]
            for traversal in traversals:
                sequence = []
                for coordinate in sequences[traversal](grid):
                    canonical = [0] * len(tiled)
                    for p, value in zip(position, coordinate):
                        canonical[p] = value
                    sequence.append(tuple(canonical))
                result = simulate_footprints(layer, footprints, sequence)
                key = (result.total, result.tiles, result.peak)
                if result.peak <= buffer and (best is None or key < best[0]):
                    best = (key, (tile, order, traversal))
    return best


def access_matrix(access: isl.Map) -> tuple[np.ndarray, np.ndarray]:
    """``(A, b)`` with ``index = A @ iteration + b``, for an affine access without divisions
    defined on every iteration (ValueError otherwise)."""
    if not access.is_single_valued() or not access.domain().is_equal(
            isl.Set.universe(access.domain().get_space())):
        raise ValueError(f"the simulator's matrix needs an access defined everywhere, got "
                         f"{access}")
    function = isl.PwMultiAff.from_map(access)
    if not function.isa_multi_aff():
        raise ValueError(f"the simulator needs a single affine access, got {access}")
    multi = function.as_multi_aff()
    n_in, n_out = access.dim(isl.dim_type.in_), access.dim(isl.dim_type.out)
    matrix = np.zeros((n_out, n_in), dtype=np.int64)
    offset = np.zeros(n_out, dtype=np.int64)
    for j in range(n_out):
        aff = multi.get_aff(j)
        if aff.dim(isl.dim_type.div) or aff.get_denominator_val().to_python() != 1:
            raise ValueError(f"the simulator needs an access without divisions, got {access}")
        for i in range(n_in):
            matrix[j, i] = aff.get_coefficient_val(isl.dim_type.in_, i).to_python()
        offset[j] = aff.get_constant_val().to_python()
    return matrix, offset


def lex_sequence(grid: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Nested loops over the grid, the last dim innermost."""
    return list(itertools.product(*(range(n) for n in grid)))


def scan_sequence(grid: tuple[int, ...]) -> list[tuple[int, ...]]:
    """DESIGN's definition: concatenate over i1 the sequence of the rest, reversed if i1 odd."""
    if not grid:
        return [()]
    rest = scan_sequence(grid[1:])
    return [(i,) + t for i in range(grid[0]) for t in (rest[::-1] if i % 2 else rest)]


def grid_of(layer: Layer, tile: dict[str, int], order: tuple[str, ...]) -> tuple[int, ...]:
    return tuple(math.ceil(layer.extents[d] / tile.get(d, layer.extents[d])) for d in order)
