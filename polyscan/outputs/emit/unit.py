"""The C99 translation unit of a schedule: one static buffer, DMA loops, compute loops.

Layout of the unit (docs/c_output.md): a header comment with the schedule and its predicted
traffic; per operand, its buffer window and its DRAM tensor; per DMA kind and per layer, a
small function for one element or one iteration; the table of tile origins in traversal
order; ``polyscan_run``, whose tile loop scans, for each tile, the sets of ``program`` with
loops from ISL's AST builder.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import islpy as isl

from ...cost.traffic import traffic
from ...model.nest import ACCUMULATE, EXPORTED, READ
from ...model.schedule import Schedule
from .ast import expressions, loops
from .program import CURRENT, PREVIOUS, Program, Stage

INDENT = "    "
PRELUDE = """\
/* The per-element functions are static inline: a step with nothing to move leaves its
   function unused, which is not worth a warning. */
#include <stdint.h>
#include <string.h>

#define max(a, b) ((a) > (b) ? (a) : (b))
#define min(a, b) ((a) < (b) ? (a) : (b))
#define floord(n, d) (((n) < 0) ? -((-(n) + (d) - 1) / (d)) : (n) / (d))

void polyscan_run(int32_t *const *tensors, long long *reads, long long *writes);

static int32_t *const *ps_dram;
static long long *ps_reads, *ps_writes;
"""


@dataclass(frozen=True)
class Region:
    """An operand's window in the buffer: element ``e`` sits at
    ``base + sum((e_i mod window_i) * stride_i)``, so a tile's footprint (narrower than the
    window along every index) never collides and retained elements never move."""

    key: str
    ident: str
    base: int
    window: tuple[int, ...]
    shape: tuple[int, ...]
    tensor: int | None  # index among the DRAM tensors (None: on chip only)

    @property
    def size(self) -> int:
        return math.prod(self.window)

    def args(self) -> list[str]:
        return [f"e{i}" for i in range(len(self.shape))]

    def params(self) -> str:
        return ", ".join(f"int {a}" for a in self.args()) or "void"

    def macros(self) -> str:
        args = ", ".join(self.args())
        strides = [math.prod(self.window[i + 1:]) for i in range(len(self.window))]
        address = " + ".join([str(self.base)] + [f"((e{i}) % {w}) * {s}" for i, (w, s) in
                                                 enumerate(zip(self.window, strides))])
        text = f"#define {self.ident}_BUF({args}) ps_buffer[{address}]\n"
        if self.tensor is not None:
            text += f"#define {self.ident}_DRAM({args}) ps_dram[{self.tensor}][{self.linear()}]\n"
        return text

    def linear(self) -> str:
        """Row-major offset of element ``(e0, e1, ...)``."""
        offset = "(e0)" if self.shape else "0"
        for i, n in enumerate(self.shape[1:], 1):
            offset = f"({offset} * {n} + (e{i}))"
        return offset


def c_tensors(schedule: Schedule) -> list[tuple[str, tuple[int, ...]]]:
    """The DRAM tensors of ``emit_c(schedule)`` as ``(traffic key, shape)``, in argument
    order."""
    return _tensors(Program(schedule))


def emit_c(schedule: Schedule) -> str:
    """A C99 translation unit defining ``polyscan_run(tensors, reads, writes)`` that executes
    ``schedule`` through one on-chip buffer and moves exactly ``ps.traffic(schedule)``."""
    return CUnit(schedule).text()


class CUnit:
    """The unit of one schedule; ``buffer`` is its buffer's size in entries, ``tensors`` its
    DRAM tensors (``c_tensors``)."""

    def __init__(self, schedule: Schedule):
        self.program = program = Program(schedule)
        self.schedule = program.schedule
        self.traffic = traffic(self.schedule)
        self.regions: dict[str, Region] = {}
        external = program.external
        base, names = 0, set()
        for key in program.operands:
            shared = program.region_of(key)
            if shared != key:  # a further slice of a tensor: the first slice's region
                start, window = self.regions[shared].base, self.regions[shared].window
            else:
                start, window = base, program.window(key)
            region = Region(key, _identifier(key, names), start, window, _shape(program, key),
                            external.index(key) if key in external else None)
            self.regions[key] = region
            base = max(base, start + region.size)
        self.buffer = base
        self.tensors = _tensors(program)
        self.context = program.context
        self.compute = {stage.name: _identifier(stage.name, names) + "_compute"
                        for stage in program.stages}

    def text(self) -> str:
        parts = [self.header(), PRELUDE,
                 f"static int32_t ps_buffer[{self.buffer}];  /* the on-chip buffer */\n"]
        parts.append("".join(f"/* {_safe(r.key)}: {_role(self.program.operands[r.key].kind)} */\n"
                             + r.macros() for r in self.regions.values()))
        for region in self.regions.values():
            parts.append(self.operand_section(region))
        for stage in self.program.stages:
            parts.append(self.stage_section(stage))
        parts.append(self.origins())
        parts.append(self.run())
        return "\n".join(parts)

    # --- the header ------------------------------------------------------------------------

    def header(self) -> str:
        s, t = self.schedule, self.traffic
        traversal = s.traversal if isinstance(s.traversal, str) else "explicit list of tiles"
        lines = [f"polyscan: {self.program.nest.name}"]
        for stage in self.program.stages:
            layer = stage.layer
            lines.append(f"  layer {layer.name} ({layer.kind}): "
                         + ", ".join(f"{d}={layer.extents[d]}" for d in layer.dims)
                         + f"; {stage.compute}")
        lines += [f"schedule: tile {s.tile or '{}'} over dims {', '.join(s.nest.dims)}, "
                  f"order {s.order or '()'}, traversal {traversal}, {s.tiles} tiles",
                  "predicted DRAM traffic (entries, ps.traffic):"]
        for key in self.program.external:
            lines.append(f"  {key}: {t.reads.get(key, 0)} reads, {t.writes.get(key, 0)} writes")
        lines.append(f"  total {t.total}")
        lines.append(f"buffer: {self.buffer} entries (the model's peak: {t.peak}); windows:")
        for region in self.regions.values():
            lines.append(f"  {region.key}: {' x '.join(map(str, region.window)) or '1'} at "
                         f"{region.base}")
        body = "\n".join(" * " + _safe(line) if line else " *" for line in lines)
        return f"/*\n{body}\n */"

    # --- per operand: buffer window, DRAM tensor, DMA of one element -----------------------

    def operand_section(self, region: Region) -> str:
        kind = self.program.operands[region.key].kind
        args = ", ".join(region.args())
        text = ""
        if kind == READ:
            text += (f"static inline void {region.ident}_load({region.params()})\n"
                     f"{{\n{INDENT}{region.ident}_BUF({args}) = {region.ident}_DRAM({args});\n"
                     f"{INDENT}ps_reads[{region.tensor}]++;\n}}\n")
        if kind == ACCUMULATE:
            text += (f"static unsigned char {region.ident}_seen[{math.prod(region.shape)}];\n"
                     f"static inline void {region.ident}_store({region.params()})\n"
                     f"{{\n{INDENT}{region.ident}_DRAM({args}) = {region.ident}_BUF({args});\n"
                     f"{INDENT}ps_writes[{region.tensor}]++;\n}}\n"
                     f"/* a partial sum seen in an earlier tile comes back from DRAM; an element "
                     f"entering for the first time starts from its initial value */\n"
                     f"static inline void {region.ident}_enter({region.params()})\n{{\n"
                     f"{INDENT}if ({region.ident}_seen[{region.linear()}]) {{\n"
                     f"{INDENT * 2}{region.ident}_BUF({args}) = {region.ident}_DRAM({args});\n"
                     f"{INDENT * 2}ps_reads[{region.tensor}]++;\n{INDENT}}} else {{\n"
                     f"{INDENT * 2}{region.ident}_seen[{region.linear()}] = 1;\n"
                     f"{INDENT * 2}{region.ident}_BUF({args}) = {self.initial(region)};\n"
                     f"{INDENT}}}\n}}\n")
        if kind == EXPORTED:
            text += (f"static unsigned char {region.ident}_written[{math.prod(region.shape)}];\n"
                     f"/* read outside the group too: written once, when first computed */\n"
                     f"static inline void {region.ident}_export({region.params()})\n{{\n"
                     f"{INDENT}if (!{region.ident}_written[{region.linear()}]) {{\n"
                     f"{INDENT * 2}{region.ident}_written[{region.linear()}] = 1;\n"
                     f"{INDENT * 2}{region.ident}_DRAM({args}) = {region.ident}_BUF({args});\n"
                     f"{INDENT * 2}ps_writes[{region.tensor}]++;\n{INDENT}}}\n}}\n")
        return text

    def initial(self, region: Region) -> str:
        """The starting value of an output element: its residual, or the reduction's
        identity."""
        stage = self.producer(region.key)
        if stage.residual is None:
            return "0" if stage.compute.op == "+" else "INT32_MIN"
        out_key, out_access = stage.accesses[stage.compute.output]
        key, access = stage.accesses[stage.residual]
        index = expressions(out_access.reverse().apply_range(access), region.args())
        return f"{self.regions[key].ident}_BUF({', '.join(index)})"

    def producer(self, key: str) -> Stage:
        return next(s for s in self.program.stages if s.output_key == key)

    # --- per layer: one iteration --------------------------------------------------------

    def stage_section(self, stage: Stage) -> str:
        dims = [stage.domain.get_dim_name(isl.dim_type.set, i)
                for i in range(stage.domain.dim(isl.dim_type.set))]
        out = self.regions[stage.output_key]

        def element(tensor: str) -> str:
            key, access = stage.accesses[tensor]
            return f"{self.regions[key].ident}_BUF({', '.join(expressions(access, dims))})"

        product = " * ".join(element(f) for f in stage.compute.factors)
        target = element(stage.compute.output)
        if stage.compute.op == "+":
            body = f"{INDENT}{target} += {product};\n"
        else:
            body = (f"{INDENT}const int32_t value = {product};\n"
                    f"{INDENT}if (value > {target})\n{INDENT * 2}{target} = value;\n")
        params = ", ".join(f"int {d}" for d in dims) or "void"
        text = (f"/* layer {_safe(stage.name)}: {stage.compute} */\n"
                f"static inline void {self.compute[stage.name]}({params})\n"
                f"{{\n{body}}}\n")
        if stage is not self.program.stages[-1]:
            args = ", ".join(out.args())
            text += (f"static inline void {out.ident}_start({out.params()})\n"
                     f"{{\n{INDENT}{out.ident}_BUF({args}) = {self.initial(out)};\n}}\n")
        return text

    # --- the tile loop ---------------------------------------------------------------------

    def origins(self) -> str:
        dims = self.program.dims
        steps = [self.schedule.tile_size(d) for d in self.schedule.order]
        none = [0] * (len(dims) + 1)
        rows = [none] + [[c * step for c, step in zip(coordinates, steps)] + [1]
                         for coordinates in self.schedule.tile_sequence().tolist()] + [none]
        body = ",\n".join(f"{INDENT}{{{', '.join(map(str, row))}}}" for row in rows)
        names = "".join(f"#define {which}_{d} ({which}[{i}])\n" for which in (CURRENT, PREVIOUS)
                        for i, d in enumerate((*dims, "live")))
        return (f"/* tile origins ({', '.join((*dims, 'live'))}) in traversal order, between "
                f"two rows that are no tile (live 0) */\n#define TILES {self.schedule.tiles}\n"
                f"static const int ps_origin[TILES + 2][{len(dims) + 1}] = {{\n{body}\n}};\n"
                f"/* o: the tile being entered, p: the tile before it */\n{names}")

    def run(self) -> str:
        """``polyscan_run``: per step from tile ``p`` to tile ``o``, the writes ``p`` leaves
        behind, then (unless past the last tile) what ``o`` brings in and computes."""
        indent = INDENT * 2
        resets = "".join(f"{INDENT}memset({r.ident}_{flag}, 0, sizeof {r.ident}_{flag});\n"
                         for r in self.regions.values()
                         for kind, flag in ((ACCUMULATE, "seen"), (EXPORTED, "written"))
                         if self.program.operands[r.key].kind == kind)
        return ("void polyscan_run(int32_t *const *tensors, long long *reads, long long *writes)\n"
                f"{{\n{INDENT}ps_dram = tensors;\n{INDENT}ps_reads = reads;\n"
                f"{INDENT}ps_writes = writes;\n{resets}"
                f"{INDENT}for (long t = 0; t <= TILES; t++) {{\n"
                f"{indent}const int *p = ps_origin[t], *o = ps_origin[t + 1];\n"
                + self.steps(self.leaving(), indent)
                + f"{indent}if (t == TILES)\n{indent}{INDENT}break;\n"
                + self.steps(self.entering(), indent) + f"{INDENT}}}\n}}\n")

    def leaving(self) -> list[tuple]:
        out = self.output_key()
        return [(f"{out}: write back F(p) \\ F(o), the elements leaving the buffer "
                 f"({self.traffic.writes.get(out, 0)} entries over the run)",
                 self.program.leaving(out), f"{self.regions[out].ident}_store")]

    def entering(self) -> list[tuple]:
        program, t = self.program, self.traffic
        steps = [(f"{key}: load F(o) \\ F(p), the new footprint ({t.reads.get(key, 0)} "
                  f"entries over the run)", program.entering(key),
                  f"{self.regions[key].ident}_load")
                 for key, operand in program.operands.items() if operand.kind == READ]
        for stage in program.stages[:-1]:
            key = stage.output_key
            ident = self.regions[key].ident
            steps += [(f"{stage.name}: compute the elements of {key} entering the buffer, "
                       f"F(o) \\ F(p) ({t.recomputed.get(stage.name, 0)} MACs recomputed over "
                       f"the run)", program.entering(key), f"{ident}_start"),
                      (None, program.computed(stage, program.new_iterations(stage)),
                       self.compute[stage.name])]
            if program.operands[key].kind == EXPORTED:
                steps.append((f"{key}: write each element once, when first computed "
                              f"({t.writes.get(key, 0)} entries over the run)",
                              program.entering(key), f"{ident}_export"))
        out, sink = self.output_key(), program.stages[-1]
        return steps + [
            (f"{out}: bring in F(o) \\ F(p): partial sums read back ({t.reads.get(out, 0)} "
             f"entries over the run), new elements initialised", program.entering(out),
             f"{self.regions[out].ident}_enter"),
            (f"{sink.name}: every iteration of the tile",
             program.computed(sink, program.tile(CURRENT)), self.compute[sink.name])]

    def steps(self, steps: list[tuple], indent: str) -> str:
        """Each step's comment and its loops (from ISL's AST builder) over its set."""
        text = ""
        for comment, points, statement in steps:
            if comment:
                text += f"{indent}/* {_safe(comment)} */\n"
            text += loops(points, statement, self.context, indent) or \
                f"{indent}/* (nothing) */\n"
        return text

    def output_key(self) -> str:
        return self.program.stages[-1].output_key


def _role(kind: str) -> str:
    return {READ: "read from DRAM", ACCUMULATE: "the output: written back, partial sums read "
            "back", EXPORTED: "computed on chip, also written to DRAM once",
            }.get(kind, "computed and used on chip only")


def _tensors(program: Program) -> list[tuple[str, tuple[int, ...]]]:
    return [(key, _shape(program, key)) for key in program.external]


def _shape(program: Program, key: str) -> tuple[int, ...]:
    space = program.operands[key].space
    return tuple(space.dim_max_val(i).to_python() + 1 for i in range(space.dim(isl.dim_type.set)))


def _safe(text: str) -> str:
    """Text for a C comment: a layer name holding ``*/`` must not end it."""
    return str(text).replace("*/", "* /")


def _identifier(key: str, taken: set[str]) -> str:
    """A C identifier for an operand key or layer name (``expand.I`` -> ``expand_I``)."""
    name = re.sub(r"\W", "_", key)
    if not re.match(r"[A-Za-z]", name):
        name = "t_" + name
    while name in taken:
        name += "_"
    taken.add(name)
    return name
