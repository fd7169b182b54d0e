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

from .layer import Layer, Tensor
from .traffic import Traffic


def simulate(layer: Layer, tile: dict[str, int], order: tuple[str, ...],
             sequence: list[tuple[int, ...]]) -> Traffic:
    """Traffic of the tiles ``sequence`` (grid coordinates over ``order``), explicitly."""
    return simulate_footprints(layer, tile_footprints(layer, tile, order), sequence)


def simulate_fused(layers: list[Layer], inputs: dict[str, str], exported: tuple[str, ...],
                   tile: dict[str, int], order: tuple[str, ...], sequence) -> Traffic:
    """A fused group's traffic (DESIGN section 5), explicitly: per tile of the last layer,
    each earlier layer's needed outputs are the union of what later layers read of them, its
    iterations every one writing a needed element; then the section-4 formulas per tensor.
    ``inputs`` maps ``"<layer>.<tensor>"`` to the group layer producing it."""
    sink = layers[-1]
    points = {layer.name: np.indices([layer.extents[d] for d in layer.dims])
              .reshape(len(layer.dims), -1).T for layer in layers}
    indices = {}  # (layer, tensor) -> (element tuple or None for padding) per iteration
    for layer in layers:
        for tensor in layer.tensors.values():
            matrix, offset = access_matrix(tensor.access)
            rows = points[layer.name] @ matrix.T + offset
            inside = np.all((rows >= 0) & (rows < np.array(tensor.shape)), axis=1)
            indices[layer.name, tensor.name] = [tuple(r) if ok else None
                                                for r, ok in zip(rows.tolist(), inside)]
    writers = {}  # layer -> output element -> its iterations
    for layer in layers[:-1]:
        writers[layer.name] = {}
        for i, element in enumerate(indices[layer.name, layer.output.name]):
            writers[layer.name].setdefault(element, []).append(i)
    sizes = [tile.get(d, sink.extents[d]) for d in order]
    tile_of = [tuple(r) for r in (points[sink.name][:, [sink.dims.index(d) for d in order]]
                                  // np.array(sizes, dtype=np.int64)).tolist()]

    kinds, footprints = {}, {}
    for t in sequence:
        iterations = {sink.name: {i for i, c in enumerate(tile_of) if c == t}}
        for j in reversed(range(len(layers))):
            layer = layers[j]
            if j != len(layers) - 1:
                needed = set()
                for key, producer in inputs.items():
                    if producer == layer.name:  # same elements, row-major (a flatten)
                        consumer, _, tensor = key.partition(".")
                        shape = next(x for x in layers if x.name == consumer).tensors[
                            tensor].shape
                        needed |= {tuple(np.unravel_index(np.ravel_multi_index(e, shape),
                                                          layer.output.shape))
                                   for e in footprints[key][t]}
                iterations[layer.name] = {i for e in needed for i in writers[layer.name][e]}
                key = f"{layer.name}.{layer.output.name}"
                kinds[key] = "exported" if layer.name in exported else "onchip"
                footprints.setdefault(key, {})[t] = needed
                kinds[layer.name] = "iterations"
                footprints.setdefault(layer.name, {})[t] = iterations[layer.name]
            for tensor in layer.tensors.values():
                key = f"{layer.name}.{tensor.name}"
                if tensor.role == "output" and j != len(layers) - 1:
                    continue
                kinds.setdefault(key, "accumulate" if tensor.role == "output" else "read")
                elements = indices[layer.name, tensor.name]
                footprints.setdefault(key, {})[t] = {elements[i] for i in iterations[layer.name]
                                                     if elements[i] is not None}
    for key in inputs:  # intermediates are the producers' outputs, not reads
        footprints.pop(key), kinds.pop(key)
    return _traffic_of_sets(kinds, footprints, sequence)


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
    return {name: _footprints_per_tile(tensor, points, tile_of_point)
            for name, tensor in layer.tensors.items()}


def simulate_footprints(layer: Layer, footprints: dict, sequence) -> Traffic:
    """DESIGN section 4's formulas, literally, over a layer's explicit per-tile sets."""
    kinds = {name: "read" if layer.tensors[name].read_only else "accumulate"
             for name in footprints}
    return _traffic_of_sets(kinds, footprints, sequence)


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


def _footprints_per_tile(tensor: Tensor, points: np.ndarray, tile_of_point) -> dict:
    matrix, offset = access_matrix(tensor.access)
    indices = points @ matrix.T + offset
    inside = np.all((indices >= 0) & (indices < np.array(tensor.shape)), axis=1)
    per_tile: dict[tuple[int, ...], set] = {}
    for tile, index in zip(itertools.compress(tile_of_point, inside),
                           map(tuple, indices[inside].tolist())):
        per_tile.setdefault(tile, set()).add(index)
    return per_tile


def access_matrix(access: isl.Map) -> tuple[np.ndarray, np.ndarray]:
    """``(A, b)`` with ``index = A @ iteration + b``, for an affine access without divisions."""
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
