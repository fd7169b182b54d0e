"""Closed forms for the footprints of box tiles, and for the overlap of consecutive tiles.

The footprint of tensor X for the tile with origin ``o`` and size ``T`` is the ISL image
``F_X(o) = A_X({ S[d] : o_d <= d < o_d + T_d } ∩ domain) ∩ space_X``. Barvinok's ``card``
turns ``|F_X(o)|`` into a piecewise quasi-polynomial in the origins and sizes, valid for every
tile of the layer at once.

Consecutive tiles of a traversal differ by a *move* per dim: the next tile's origin is
``o_d + k_d * T_d`` for a whole number ``k_d``, or ``RESET``: from the dim's last tile back
to its first (lex does this to its inner dims; knowing the tile is the last one makes the
count simpler). For each move pattern that occurs, ``|F_X(o) ∩ F_X(next)|`` is
another closed form in ``(o, T)``; the data a tile must load is ``|F(next)| - |overlap|``.
Keeping the moves constant (rather than making the second origin a free parameter) keeps
these counts small: milliseconds each.

Tensor indices that depend on disjoint sets of loop dims are counted separately: the input
of a convolution, ``I[c, 2y + r - 1, 2x + s - 1]``, splits into the components ``{c}``,
``{y, r}`` and ``{x, s}``; a box tile maps to the product of the components' images, so
every count is the product of the components' counts.
"""

from __future__ import annotations

import functools
import weakref
from dataclasses import dataclass, field

import islpy as isl
import numpy as np

from ..caches import Memo, clears, stored
from ..errors import CountOverflowError
from ..model.nest import RESIDENT, Nest, Operand
from .closed_form import ClosedForm, count_points

GRID_CACHE = 1 << 16  # tiles of a component grid kept by ``Component.on_grid``
RESET = "reset"  # a move from the dim's last tile (o + T >= E) to its first (origin 0)


@dataclass(eq=False)
class Component:
    """Tensor indices that depend on the loop ``dims`` (and on no other loop dim).

    ``footprint`` is the component's image of the tile with origin ``o_d`` and size ``T_d``
    (ISL parameters). ``size`` takes columns ``(o_d..., T_d...)``; so does each overlap.
    """

    dims: tuple[str, ...]
    extents: tuple[int, ...]
    footprint: isl.Set
    size: ClosedForm = field(init=False)
    _overlaps: dict[tuple, ClosedForm] = field(default_factory=dict, init=False)
    _points: dict[tuple, np.ndarray] = field(default_factory=dict, init=False)
    _grids: dict[tuple, np.ndarray] = field(default_factory=dict, init=False)

    def __post_init__(self):
        self.size = self._count(self.footprint, ())

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(f"o_{d}" for d in self.dims) + tuple(f"T_{d}" for d in self.dims)

    def overlap(self, moves: tuple) -> ClosedForm:
        """``|F_c(o) ∩ F_c(next)|`` as a closed form in ``(o, T)``; ``moves`` gives, per dim,
        the next origin: ``o_d + k * T_d`` for an int ``k``, or 0 for ``RESET``."""
        if moves not in self._overlaps:
            moved = self.footprint
            for d, move in zip(self.dims, moves):
                if move == RESET:
                    moved = _move_origin(moved, d, "0")
                elif move:
                    moved = _move_origin(moved, d, f"o_{d} + {move}*T_{d}")
            resets = tuple(d for d, move in zip(self.dims, moves) if move == RESET)
            self._overlaps[moves] = self._count(self.footprint.intersect(moved), resets)
        return self._overlaps[moves]

    def on_grid(self, sizes: tuple[int, ...], moves: tuple | None = None) -> np.ndarray:
        """``size`` at every tile of the grid of this component's dims for tile ``sizes``
        (or, given ``moves``, the overlap with the tile they lead to; 0 where that tile is
        off the grid): an array indexed by tile coordinates. Cached for grids of up to
        ``GRID_CACHE`` tiles: a search checks many schedules of the same tile sizes, which
        differ only in the order they visit these tiles."""
        key = (sizes, moves)
        if key in self._grids:
            return self._grids[key]
        counts = tuple(-(-extent // size) for extent, size in zip(self.extents, sizes))
        coordinates = np.indices(counts).reshape(len(counts), -1).T if counts else \
            np.zeros((1, 0), dtype=np.int64)
        valid = np.ones(len(coordinates), dtype=bool)
        for c, n, move in zip(coordinates.T, counts, moves or ()):
            valid &= (c == n - 1) if move == RESET else (c + move >= 0) & (c + move < n)
        chosen = coordinates[valid]
        columns = np.concatenate([chosen * np.array(sizes, dtype=np.int64),
                                  np.broadcast_to(np.array(sizes, dtype=np.int64),
                                                  chosen.shape)], axis=1)
        grid = np.zeros(len(coordinates), dtype=np.int64)
        grid[valid] = (self.size if moves is None else self.overlap(moves))(columns)
        grid = grid.reshape(counts)
        if grid.size <= GRID_CACHE:
            self._grids[key] = grid
        return grid

    def points(self, values: tuple[int, ...]) -> np.ndarray:
        """The footprint's elements, ``(count, indices)``, for one tile: parameter values in
        the order of ``params`` (cached: a traversal revisits few distinct tiles per
        component)."""
        if values not in self._points:
            fixed = self.footprint
            for name, value in zip(self.params, values):
                fixed = fixed.fix_val(isl.dim_type.param,
                                      fixed.find_dim_by_name(isl.dim_type.param, name), value)
            found = []
            fixed.foreach_point(lambda point: found.append(
                [point.get_coordinate_val(isl.dim_type.set, i).to_python()
                 for i in range(fixed.dim(isl.dim_type.set))]))
            self._points[values] = np.array(sorted(found), dtype=np.int64).reshape(
                len(found), fixed.dim(isl.dim_type.set))
        return self._points[values]

    def _count(self, points: isl.Set, resets: tuple[str, ...]) -> ClosedForm:
        """``card(points)`` for the tiles that exist (origin inside the extent, size up to
        it; a dim that is reset starts from its last tile): fewer cases, faster counting."""
        bounds = [f"0 <= o_{d} < {e} and 1 <= T_{d} <= {e}"
                  for d, e in zip(self.dims, self.extents)]
        bounds += [f"o_{d} + T_{d} >= {self.extents[self.dims.index(d)]}" for d in resets]
        tiles = isl.Set("[%s] -> { : %s }" % (", ".join(self.params),
                                              " and ".join(bounds) or "true"))
        points = points.intersect_params(tiles)
        count = stored("closed-form", (points.to_str(),),
                       lambda: points.card().gist_params(tiles), encode=isl.PwQPolynomial.to_str,
                       decode=functools.partial(isl.PwQPolynomial.read_from_str,
                                                points.get_ctx()))
        try:
            return ClosedForm(count, self.params, self.extents + self.extents)
        except OverflowError as error:
            raise CountOverflowError(f"the footprints of dims {', '.join(self.dims)} (extents "
                                     f"{self.extents}) are too large to count exactly: "
                                     f"{error}") from None


@dataclass(frozen=True)
class TensorFootprint:
    """The footprint of one operand, the product of its components' footprints;
    ``positions[i]`` are the element indices component ``i`` spans."""

    tensor: str
    components: tuple[Component, ...]
    positions: tuple[tuple[int, ...], ...]


_COMPONENTS = Memo(4096)  # (image, extents) -> Component: equal shapes share closed forms
_NESTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
clears(_NESTS.clear)


def nest_footprints(nest: Nest) -> dict[str, TensorFootprint]:
    """The footprint closed forms of every operand of ``nest`` that a schedule moves or
    holds (built once per nest): all but the resident ones, which the plan holds whole."""
    if nest not in _NESTS:
        _NESTS[nest] = {key: operand_footprint(nest, operand)
                        for key, operand in nest.operands.items() if operand.kind != RESIDENT}
    return _NESTS[nest]


_OPERANDS = Memo(4096)  # (domain, relation, space) -> (components, positions)


def operand_footprint(nest: Nest, operand: Operand) -> TensorFootprint:
    """The operand's components with their closed forms; shared by every nest in which the
    same relation appears (the runs of a network that end at one layer share most)."""
    key = (nest.domain.to_str(), operand.relation.to_str(), operand.space.to_str())

    def make():
        components, positions = [], []
        for loop_dims, tensor_dims in relation_components(nest, operand):
            image = _component_footprint(nest, operand, tensor_dims, loop_dims)
            extents = tuple(nest.extents[d] for d in loop_dims)
            components.append(_COMPONENTS.get(  # equal shapes (other layers) share forms
                (image.to_str(), extents), functools.partial(Component, loop_dims, extents, image)))
            positions.append(tensor_dims)
        return tuple(components), tuple(positions)
    return TensorFootprint(operand.key, *_OPERANDS.get(key, make))


_TOUCHED = Memo(4096)  # (relation, space) -> elements


def touched_elements(operand: Operand) -> int:
    """Elements of the operand's tensor that the whole nest touches (padding excluded): what
    an untiled schedule moves, the compulsory traffic's term, the output's first entries.
    The one count of it every bound and table uses."""
    key = (operand.relation.to_str(), operand.space.to_str())
    return _TOUCHED.get(key, lambda: count_points(
        operand.relation.range().intersect(operand.space)))


_RELATIONS = Memo(4096)  # (domain, relation, space) -> components' (loop dims, positions)


def relation_components(nest: Nest, operand: Operand) -> list[tuple[tuple[str, ...],
                                                                    tuple[int, ...]]]:
    """``_relation_components``, once per relation (the search's cluster check and the
    closed forms both ask)."""
    key = (nest.domain.to_str(), operand.relation.to_str(), operand.space.to_str())
    return _RELATIONS.get(key, lambda: stored("components", key,
                                              lambda: _relation_components(nest, operand)))


def divided_window(nest: Nest, operand: Operand) -> tuple[str, ...]:
    """The loop dims of a footprint component that spreads them over more tensor indices
    through integer divisions (a flattened tensor) and touches a window of elements per
    iteration (a fused producer's pool or conv behind the flatten), or () if there is none.

    Barvinok counts the image of such a component slowly (AlexNet's last max pool fused with
    its first classifier layer, ``c -> (c // 36, 2 ((c // 6) % 6) + r, 2 (c % 6) + s)``:
    minutes for one count); the flatten alone (one element per iteration), a window alone
    and the divisions of strides or channel groups (as many indices as loop dims) count in
    milliseconds."""
    clipped = operand.relation.intersect_range(operand.space)
    for loop_dims, positions in relation_components(nest, operand):
        if not loop_dims or len(positions) <= len(loop_dims):
            continue  # a constant set, or as many indices as dims: quick to count
        component = _keep_outputs(clipped, set(positions))
        if any(b.dim(isl.dim_type.div) for b in component.get_basic_maps()) and \
                not component.is_single_valued():
            return loop_dims
    return ()


def _relation_components(nest: Nest, operand: Operand) -> list[tuple[tuple[str, ...],
                                                                     tuple[int, ...]]]:
    """Groups of element indices (positions) with the loop dims (names) they depend on, such
    that the operand's footprint of a box tile is the product of the groups' footprints.

    Two indices are in one group when they depend on a common loop dim; an index that
    depends on no loop dim is a group of its own. An access function's dependences are read
    off its affine pieces. A general relation (a fused group's) is tested dim by dim, and
    its domain, the iterations that touch the operand at all, must factor the same way:
    groups whose dims the domain couples are merged (a fused input's rows depend on the
    sink's ``y`` and ``r``, and only some of their pairs need any input at all), and dims
    that only the domain constrains form groups with no indices.
    """
    relation = operand.relation.intersect_range(operand.space)
    outputs = relation.dim(isl.dim_type.out)
    # an access function defined on the whole nest: its dependences are its expressions'
    function = operand.relation.is_single_valued() and \
        operand.relation.domain().is_equal(nest.domain)
    pieces = None if function or not relation.is_single_valued() else \
        isl.PwMultiAff.from_map(relation)
    if function:
        function = isl.PwMultiAff.from_map(operand.relation.gist_domain(nest.domain))
    uses = [_dependences(nest, relation, j, function, pieces) for j in range(outputs)]
    groups = _merge([(dims, {j}) for j, dims in enumerate(uses)])
    if not function:
        # dims only the domain constrains form groups without indices: a tile touches the
        # operand at all only if it meets the domain there (a count of 1 or 0)
        covered = set().union(*(g[0] for g in groups))
        groups += [({d}, set()) for d in nest.dims if d not in covered]
        domain = relation.domain()
        groups = _merge_coupled(nest, domain, groups)
        groups = [g for g in groups if g[1] or
                  not _cylinder(nest, domain, g[0]).is_equal(nest.domain)]
        groups = _exact_groups(nest, relation, domain, groups)
        if len(groups) > 1 and not _is_product(relation, [g[1] for g in groups]):
            groups = [(set(nest.dims), set(range(outputs)))]
    return [(tuple(d for d in nest.dims if d in dims), tuple(sorted(indices)))
            for dims, indices in groups]


def _exact_groups(nest: Nest, relation: isl.Map, domain: isl.Set, groups):
    """Merge groups until every group's indices depend on its own loop dims alone, among
    the iterations that touch the operand. Testing one dim at a time can miss a dependence
    when those iterations are coupled (an index ``4x + 2s`` where only ``(x, s) = (0, 1)``
    and ``(1, 0)`` touch: moving either dim alone leaves the touching iterations): a group
    found wrong joins the groups that only the domain makes (the coupled dims), or, if that
    is not enough, everything."""
    while len(groups) > 1:
        wrong = next((g for g in groups if g[1] and
                      not _depends_only(nest, relation, domain, g)), None)
        if wrong is None:
            return groups
        partners = [g for g in groups if g is not wrong and not g[1]] or \
            [g for g in groups if g is not wrong]
        merged = (set(wrong[0]).union(*(g[0] for g in partners)),
                  set(wrong[1]).union(*(g[1] for g in partners)))
        groups = [g for g in groups if g is not wrong and all(g is not p for p in partners)]
        groups.append(merged)
    return groups


def _depends_only(nest: Nest, relation: isl.Map, domain: isl.Set, group) -> bool:
    """Whether the group's indices are the same for touching iterations that agree on the
    group's dims."""
    dims, indices = group
    reached = _keep_outputs(relation, indices)
    other = {d for d in nest.dims if d not in dims}
    freed = reached.apply_domain(_free(nest, other)).intersect_domain(domain)
    return freed.is_equal(reached)


def _merge(groups):
    """Join groups (loop dims, indices) that share a loop dim."""
    merged: list[tuple[set[str], set[int]]] = []
    for dims, indices in groups:
        dims, indices = set(dims), set(indices)
        for group in [g for g in merged if g[0] & dims]:
            merged.remove(group)
            dims |= group[0]
            indices |= group[1]
        merged.append((dims, indices))
    return merged


def _merge_coupled(nest: Nest, domain: isl.Set, groups):
    """Merge groups until ``domain`` is the product of its projections on their dims."""
    if domain.is_equal(nest.domain):
        return groups
    cylinders = {}

    def cylinder(dims):
        key = frozenset(dims)
        if key not in cylinders:
            cylinders[key] = _cylinder(nest, domain, dims)
        return cylinders[key]

    while True:
        for a in range(len(groups)):
            for b in range(a + 1, len(groups)):
                together = cylinder(groups[a][0] | groups[b][0])
                apart = cylinder(groups[a][0]).intersect(cylinder(groups[b][0]))
                if not together.is_equal(apart):
                    first, second = groups[a], groups[b]
                    groups = [g for g in groups if g is not first and g is not second]
                    groups.append((first[0] | second[0], first[1] | second[1]))
                    break
            else:
                continue
            break
        else:
            return groups


def _cylinder(nest: Nest, domain: isl.Set, dims: set[str]) -> isl.Set:
    """Iterations whose coordinates in ``dims`` are those of some point of ``domain``."""
    return domain.apply(_free(nest, {d for d in nest.dims if d not in dims}))


def _dependences(nest: Nest, relation: isl.Map, j: int, function: isl.PwMultiAff | None,
                 pieces: isl.PwMultiAff | None) -> set[str]:
    """The loop dims that index ``j`` of the relation's elements depends on: read off the
    access ``function`` if the operand has one on the whole nest, or the relation's own
    ``pieces`` if it is single-valued and index ``j`` is one expression on all of them,
    else tested dim by dim."""
    if function:
        index = function.get_pw_aff(j)
        return {d for i, d in enumerate(nest.dims)
                if index.involves_dims(isl.dim_type.in_, i, 1)}
    if pieces is not None:
        affs = [aff for _, aff in pieces.get_pw_aff(j).get_pieces()]
        if affs and all(aff.plain_is_equal(affs[0]) for aff in affs[1:]):
            return {d for i, d in enumerate(nest.dims)
                    if affs[0].involves_dims(isl.dim_type.in_, i, 1)}
    single = _keep_outputs(relation, {j})
    touching = single.domain()
    return {d for d in nest.dims
            if not single.apply_domain(_free(nest, {d})).intersect_domain(touching)
            .is_equal(single)}


def _free(nest: Nest, dims: set[str]) -> isl.Map:
    """Loop iterations to every iteration that differs from them in ``dims`` only."""
    return _free_map(nest.domain.to_str(), nest.dims, tuple(d for d in nest.dims if d in dims))


@functools.lru_cache(maxsize=1024)
def _free_map(domain: str, dims: tuple[str, ...], free: tuple[str, ...]) -> isl.Map:
    box = isl.Set(domain)
    name = box.get_tuple_name()
    moved = [f"{d}_" if d in free else d for d in dims]
    return isl.Map("{ %s[%s] -> %s[%s] }" % (name, ", ".join(dims), name, ", ".join(moved))) \
        .intersect_domain(box).intersect_range(box)


clears(_free_map.cache_clear)


def _is_product(relation: isl.Map, groups: list[set[int]]) -> bool:
    """Whether the relation is the intersection of its projections on the index groups."""
    product = None
    for indices in groups:
        cylinder = _keep_outputs(relation, indices)
        for j in sorted(set(range(relation.dim(isl.dim_type.out))) - indices):
            cylinder = cylinder.insert_dims(isl.dim_type.out, j, 1)
        cylinder = cylinder.set_tuple_name(isl.dim_type.out,
                                           relation.get_tuple_name(isl.dim_type.out))
        product = cylinder if product is None else product.intersect(cylinder)
    return product.is_equal(relation)


def _keep_outputs(relation: isl.Map, indices: set[int]) -> isl.Map:
    for j in reversed(range(relation.dim(isl.dim_type.out))):
        if j not in indices:
            relation = relation.project_out(isl.dim_type.out, j, 1)
    return relation


def _component_footprint(nest: Nest, operand: Operand, tensor_dims: tuple[int, ...],
                         loop_dims: tuple[str, ...]) -> isl.Set:
    """``F_c`` of the tile with origins ``o_d`` and sizes ``T_d`` (ISL parameters)."""
    params = [f"o_{d}" for d in loop_dims] + [f"T_{d}" for d in loop_dims]
    bounds = [f"o_{d} <= {d} < o_{d} + T_{d}" for d in loop_dims]
    tile = isl.Set("[%s] -> { %s[%s] : %s }" % (
        ", ".join(params), nest.domain.get_tuple_name(), ", ".join(nest.dims),
        " and ".join(bounds) or "true")).intersect(nest.domain)
    # the relation clipped to the tensor BEFORE projecting: which iterations touch a real
    # element at all can couple dims that no index shows (a fused producer's rows that
    # read only padding), and a component without indices must see that
    clipped = operand.relation.intersect_range(operand.space)
    return tile.apply(_keep_outputs(clipped, set(tensor_dims)))


def _move_origin(image: isl.Set, dim: str, new_origin: str) -> isl.Set:
    """``image`` with its parameter ``o_dim`` replaced by the affine ``new_origin``."""
    position = image.find_dim_by_name(isl.dim_type.param, f"o_{dim}")
    shifted = image.set_dim_name(isl.dim_type.param, position, "shifted")
    link = isl.Set(f"[shifted, o_{dim}, T_{dim}] -> {{ : shifted = {new_origin} }}")
    shifted = shifted.intersect_params(link)
    return shifted.project_out(isl.dim_type.param,
                               shifted.find_dim_by_name(isl.dim_type.param, "shifted"), 1)
