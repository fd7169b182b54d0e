"""C text from ISL: loops that scan a parametric set (ISL's AST builder), and the C
expressions of a single-valued affine map."""

from __future__ import annotations

import islpy as isl


def loops(points: isl.Set, statement: str, context: isl.Set, indent: str) -> str:
    """C loops calling ``statement(i0, i1, ...)`` once for every point of ``points``, in
    lexicographic order; empty if there are none."""
    if points.is_empty():
        return ""
    named = points.set_tuple_name(statement)
    try:
        text = _scan(named, context)
    except isl.Error:  # ISL's simplifier can fail on some strided sets with divisions
        # (a stride-3 transposed conv's rows); the same points for the parameters of
        # ``context`` (all the loops are built for), simplified against it, scan
        context = context.align_params(named.get_space().params())
        text = _scan(named.intersect_params(context).gist_params(context).coalesce(),
                     context)
    return "".join(indent + line + "\n" if line else "\n" for line in text.rstrip().split("\n"))


def _scan(named: isl.Set, context: isl.Set) -> str:
    schedule = isl.Map.identity(named.get_space().map_from_set()).intersect_domain(named) \
        .reset_tuple_id(isl.dim_type.out)
    build = isl.AstBuild.from_context(context.align_params(named.get_space().params()))
    return build.node_from_schedule_map(isl.UnionMap.from_map(schedule)).to_C_str()


def expressions(access: isl.Map, names: list[str]) -> list[str]:
    """C expressions of each output of ``access`` (single-valued) in terms of its inputs
    called ``names``; floor divisions (a reshape) come out as ISL writes them."""
    count = access.dim(isl.dim_type.in_)
    start = access.dim(isl.dim_type.param)
    moved = access.move_dims(isl.dim_type.param, start, isl.dim_type.in_, 0, count) \
        .reset_tuple_id(isl.dim_type.in_)
    for i, name in enumerate(names):
        moved = moved.set_dim_name(isl.dim_type.param, start + i, name)
    image = moved.range()
    build = isl.AstBuild.from_context(isl.Set.universe(image.get_space().params()))
    return [build.expr_from_pw_aff(image.dim_max(i)).to_C_str()
            for i in range(image.dim(isl.dim_type.set))]
