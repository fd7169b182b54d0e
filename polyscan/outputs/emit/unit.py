"""The C99 translation unit of a schedule: one static buffer, DMA loops, compute loops.

Layout of the unit (docs/c_output.md): a header comment with the schedule and its predicted
traffic; per operand, its buffer window and its DRAM tensor (or, for a tensor resident across
groups, the caller's on-chip array holding it whole); per DMA kind and per layer, a small
function for one element or one iteration; the table of tile origins in traversal order;
``polyscan_run``, whose tile loop scans, for each tile, the sets of ``program`` with loops
from ISL's AST builder.
"""

from __future__ import annotations

import math
import re
import textwrap
from dataclasses import dataclass

import islpy as isl

from ...cost.traffic import traffic
from ...model.nest import ACCUMULATE, EXPORTED, READ, RESIDENT
from ...model.schedule import Schedule
from .ast import expressions, loops
from .program import CURRENT, PREVIOUS, Program, Stage

INDENT = "    "
WRAP = 96  # the header's lines, at most (names longer than that stay whole)
PRELUDE = """\
/* The per-element functions are static inline: a step with nothing to move leaves its
   function unused, which is not worth a warning. */
#include <stdint.h>
#include <string.h>

#define max(a, b) ((a) > (b) ? (a) : (b))
#define min(a, b) ((a) < (b) ? (a) : (b))
#define floord(n, d) (((n) < 0) ? -((-(n) + (d) - 1) / (d)) : (n) / (d))

"""


def signature(resident: bool) -> str:
    """The prototype of ``polyscan_run``: a unit with resident operands also takes their
    on-chip arrays; the others keep the three-argument interface."""
    return ("void polyscan_run(int32_t *const *tensors, long long *reads, long long *writes"
            + (", int32_t *const *resident" if resident else "") + ")")


@dataclass(frozen=True)
class Region:
    """An operand's window in the buffer: element ``e`` sits at
    ``base + sum((e_i mod window_i) * stride_i)``, so a tile's footprint (narrower than the
    window along every index) never collides and retained elements never move. A resident
    operand's region is instead the caller's array ``resident[j]``, the whole tensor at
    its row-major offsets: it outlives the unit, so it takes no room in its buffer."""

    key: str
    ident: str
    base: int
    window: tuple[int, ...]
    shape: tuple[int, ...]
    tensor: int | None  # index among the DRAM tensors (None: not in DRAM)
    resident: int | None = None  # index among the resident arrays

    @property
    def size(self) -> int:
        """Entries it takes in the unit's buffer."""
        return 0 if self.resident is not None else math.prod(self.window)

    def args(self) -> list[str]:
        return [f"e{i}" for i in range(len(self.shape))]

    def params(self) -> str:
        return ", ".join(f"int {a}" for a in self.args()) or "void"

    def macros(self) -> str:
        args = ", ".join(self.args())
        if self.resident is not None:
            return (f"#define {self.ident}_BUF({args}) "
                    f"ps_resident[{self.resident}][{self.linear()}]\n")
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
    order (``tensors``, ``reads``, ``writes``); resident operands are not among them."""
    program = Program(schedule)
    return _listed(program, program.external)


def c_resident(schedule: Schedule) -> list[tuple[str, tuple[int, ...]]]:
    """The on-chip arrays of ``emit_c(schedule)``'s resident operands as ``(key, shape)``, in
    argument order (``resident``): empty for a schedule without resident operands."""
    program = Program(schedule)
    return _listed(program, program.resident)


def emit_c(schedule: Schedule) -> str:
    """A C99 translation unit defining ``polyscan_run(tensors, reads, writes)`` (with a
    fourth argument, ``resident``, when the schedule has resident operands) that executes
    ``schedule`` through one on-chip buffer and moves exactly ``ps.traffic(schedule)``."""
    return CUnit(schedule).text()


class CUnit:
    """The unit of one schedule; ``buffer`` is its buffer's size in entries, ``tensors`` its
    DRAM tensors (``c_tensors``), ``resident`` its resident arrays (``c_resident``)."""

    def __init__(self, schedule: Schedule):
        self.program = program = Program(schedule)
        self.schedule = program.schedule
        self.traffic = traffic(self.schedule)
        self.regions: dict[str, Region] = {}
        base, names = 0, set()
        for key in program.operands:
            region = self.region(key, base, names)
            self.regions[key] = region
            base = max(base, region.base + region.size)
        self.buffer = base
        self.tensors = _listed(program, program.external)
        self.resident = _listed(program, program.resident)
        self.context = program.context
        self.compute = {stage.name: _identifier(stage.name, names) + "_compute"
                        for stage in program.stages}

    def region(self, key: str, base: int, names: set[str]) -> Region:
        """Where operand ``key`` sits: a further slice of a tensor in the first slice's
        region, a resident operand in its own array, any other in a window at ``base``."""
        program = self.program
        shape = program.operands[key].shape
        ident = _identifier(key, names)
        tensor = program.external.index(key) if key in program.external else None
        first = program.region_of(key)
        if first != key:
            shared = self.regions[first]
            return Region(key, ident, shared.base, shared.window, shape, tensor,
                          shared.resident)
        if key in program.resident:
            return Region(key, ident, 0, shape, shape, tensor, program.resident.index(key))
        return Region(key, ident, base, program.window(key), shape, tensor)

    def is_resident(self, key: str) -> bool:
        return self.program.operands[key].kind == RESIDENT

    def text(self) -> str:
        statics = ["static int32_t *const *ps_dram;", "static long long *ps_reads, *ps_writes;"]
        if self.resident:
            statics.append("static int32_t *const *ps_resident;  /* the resident arrays */")
        buffer = f"static int32_t ps_buffer[{self.buffer}];  /* the on-chip buffer */\n" \
            if self.buffer else "/* no buffer of its own: every operand is resident */\n"
        parts = [self.header(), PRELUDE + f"{signature(bool(self.resident))};\n\n"
                 + "\n".join(statics) + "\n", buffer]
        parts.append("".join(f"/* {_safe(r.key)}: {self.role(r.key)} */\n" + r.macros()
                             for r in self.regions.values()))
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
                  f"call: {signature(bool(self.resident))}",
                  *_wrap("predicted DRAM traffic (entries, ps.traffic) per DRAM tensor, in "
                         "argument order (tensors[i], dense row-major int32, and its DMA counts "
                         "reads[i], writes[i]):")]
        for key in self.program.external:
            lines.append(f"  {key}: {t.reads.get(key, 0)} reads, {t.writes.get(key, 0)} writes")
        lines.append(f"  total {t.total}")
        lines += self.resident_lines()
        lines.append(f"buffer: {self.buffer} entries (the model's peak: {t.peak}); windows:")
        for region in self.regions.values():
            if region.resident is None:
                lines.append(f"  {region.key}: {_dims(region.window)} at {region.base}")
        body = "\n".join(" * " + _safe(line) if line else " *" for line in lines)
        return f"/*\n{body}\n */"

    def resident_lines(self) -> list[str]:
        """The header's account of the resident arrays: what the caller passes, and why the
        unit moves none of it."""
        if not self.resident:
            return []
        lines = _wrap(
            "resident tensors: held whole in the on-chip buffer across groups (the "
            "plan holds their entries beside this unit's buffer), so this unit moves none of "
            "them to or from DRAM and counts no traffic for them; resident[j] is the caller's "
            "on-chip array of the whole tensor, dense row-major int32, indexed by the tensor's "
            "own coordinates:")
        for key, shape in self.resident:
            lines += _wrap(f"resident[{self.regions[key].resident}] {key} ({_dims(shape)}): "
                           f"{self.purpose(key)}", initial_indent="  ", subsequent_indent="    ")
        return lines

    def role(self, key: str) -> str:
        """What the unit does with operand ``key``, for comments."""
        kind = self.program.operands[key].kind
        if kind == RESIDENT:
            return f"resident, in resident[{self.regions[key].resident}]: {self.purpose(key)}"
        return {READ: "read from DRAM", ACCUMULATE: "the output: written back, partial sums "
                "read back", EXPORTED: "computed on chip, also written to DRAM once",
                }.get(kind, "computed and used on chip only")

    def purpose(self, key: str) -> str:
        """Why resident operand ``key`` moves nothing, by what the unit does with it."""
        stage = self.program.written.get(key)
        if stage is None:
            return ("an earlier group left it on chip; the caller fills the array, the unit "
                    "reads it in place and never loads it")
        if stage is self.program.stages[-1]:
            return ("the output, kept on chip for a later group: initialised and accumulated "
                    "in place (partial sums stay on chip), never written to DRAM")
        return "computed in place and kept on chip for a later group, never written to DRAM"

    # --- per operand: buffer window, DRAM tensor, DMA of one element -----------------------

    def operand_section(self, region: Region) -> str:
        kind = self.program.operands[region.key].kind
        args = ", ".join(region.args())
        flag = self.flag(region.key)
        text = f"static unsigned char {region.ident}_{flag}[{math.prod(region.shape)}];\n" \
            if flag else ""
        if kind == READ:
            text += (f"static inline void {region.ident}_load({region.params()})\n"
                     f"{{\n{INDENT}{region.ident}_BUF({args}) = {region.ident}_DRAM({args});\n"
                     f"{INDENT}ps_reads[{region.tensor}]++;\n}}\n")
        if kind == ACCUMULATE:
            text += (f"static inline void {region.ident}_store({region.params()})\n"
                     f"{{\n{INDENT}{region.ident}_DRAM({args}) = {region.ident}_BUF({args});\n"
                     f"{INDENT}ps_writes[{region.tensor}]++;\n}}\n"
                     f"/* a partial sum seen in an earlier tile comes back from DRAM; an element "
                     f"entering for the first time starts from its initial value */\n"
                     + self.enter(region, read_back=True))
        if flag == "seen" and kind == RESIDENT:
            text += ("/* resident: a partial sum seen in an earlier tile is still in the array; "
                     "an element entering for the first time starts from its initial value */\n"
                     + self.enter(region, read_back=False))
        if kind == EXPORTED:
            text += (f"/* read outside the group too: written once, when first computed */\n"
                     f"static inline void {region.ident}_export({region.params()})\n{{\n"
                     f"{INDENT}if (!{region.ident}_written[{region.linear()}]) {{\n"
                     f"{INDENT * 2}{region.ident}_written[{region.linear()}] = 1;\n"
                     f"{INDENT * 2}{region.ident}_DRAM({args}) = {region.ident}_BUF({args});\n"
                     f"{INDENT * 2}ps_writes[{region.tensor}]++;\n{INDENT}}}\n}}\n")
        return text

    def flag(self, key: str) -> str | None:
        """The DMA engine's byte per element of operand ``key``, if it needs one: ``seen``
        (the output: touched by an earlier tile) or ``written`` (an exported intermediate)."""
        kind = self.program.operands[key].kind
        if kind == EXPORTED:
            return "written"
        if kind == ACCUMULATE or (kind == RESIDENT and key == self.output_key()):
            return "seen"
        return None

    def enter(self, region: Region, read_back: bool) -> str:
        """``X_enter``: an output element entering the buffer starts from its initial value
        the first time; later, it is read back from DRAM, or (resident) still there."""
        args, seen = ", ".join(region.args()), f"{region.ident}_seen[{region.linear()}]"
        first = (f"{INDENT * 2}{seen} = 1;\n"
                 f"{INDENT * 2}{region.ident}_BUF({args}) = {self.initial(region)};\n")
        if read_back:
            body = (f"{INDENT}if ({seen}) {{\n"
                    f"{INDENT * 2}{region.ident}_BUF({args}) = {region.ident}_DRAM({args});\n"
                    f"{INDENT * 2}ps_reads[{region.tensor}]++;\n{INDENT}}} else {{\n{first}")
        else:
            body = f"{INDENT}if (!{seen}) {{\n{first}"
        return (f"static inline void {region.ident}_enter({region.params()})\n{{\n"
                f"{body}{INDENT}}}\n}}\n")

    def initial(self, region: Region) -> str:
        """The starting value of an output element: its residual, or the reduction's
        identity."""
        stage = self.program.written[region.key]
        if stage.residual is None:
            return "0" if stage.compute.op == "+" else "INT32_MIN"
        out_key, out_access = stage.accesses[stage.compute.output]
        key, access = stage.accesses[stage.residual]
        index = expressions(out_access.reverse().apply_range(access), region.args())
        return f"{self.regions[key].ident}_BUF({', '.join(index)})"

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
                         for r in self.regions.values() if (flag := self.flag(r.key)))
        resident = f"{INDENT}ps_resident = resident;\n" if self.resident else ""
        return (f"{signature(bool(self.resident))}\n"
                f"{{\n{INDENT}ps_dram = tensors;\n{INDENT}ps_reads = reads;\n"
                f"{INDENT}ps_writes = writes;\n{resident}{resets}"
                f"{INDENT}for (long t = 0; t <= TILES; t++) {{\n"
                f"{indent}const int *p = ps_origin[t], *o = ps_origin[t + 1];\n"
                + self.steps(self.leaving(), indent)
                + f"{indent}if (t == TILES)\n{indent}{INDENT}break;\n"
                + self.steps(self.entering(), indent) + f"{INDENT}}}\n}}\n")

    def leaving(self) -> list[tuple]:
        out = self.output_key()
        if self.is_resident(out):
            return [(f"{out}: resident: nothing leaves the buffer, nothing is written back", None,
                     None)]
        return [(f"{out}: write back F(p) \\ F(o), the elements leaving the buffer "
                 f"({self.traffic.writes.get(out, 0)} entries over the run)",
                 self.program.leaving(out), f"{self.regions[out].ident}_store")]

    def entering(self) -> list[tuple]:
        program, t = self.program, self.traffic
        steps = [(f"{key}: load F(o) \\ F(p), the new footprint ({t.reads.get(key, 0)} "
                  f"entries over the run)", program.entering(key),
                  f"{self.regions[key].ident}_load")
                 for key, operand in program.operands.items() if operand.kind == READ]
        steps += [(f"{key}: resident: read in place from resident[{self.regions[key].resident}]"
                   f", nothing to load", None, None) for key in program.operands
                  if self.is_resident(key) and key not in program.written]
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
            if self.is_resident(key):
                steps.append((f"{key}: resident: kept in resident["
                              f"{self.regions[key].resident}] for a later group, never written "
                              f"to DRAM", None, None))
        out, sink = self.output_key(), program.stages[-1]
        brought = "partial sums stay in the resident array, new elements initialised" \
            if self.is_resident(out) else \
            f"partial sums read back ({t.reads.get(out, 0)} entries over the run), new " \
            f"elements initialised"
        return steps + [
            (f"{out}: bring in F(o) \\ F(p): {brought}", program.entering(out),
             f"{self.regions[out].ident}_enter"),
            (f"{sink.name}: every iteration of the tile",
             program.computed(sink, program.tile(CURRENT)), self.compute[sink.name])]

    def steps(self, steps: list[tuple], indent: str) -> str:
        """Each step's comment and its loops (from ISL's AST builder) over its set (none: a
        remark alone, where a resident operand moves nothing)."""
        text = ""
        for comment, points, statement in steps:
            if comment:
                text += f"{indent}/* {_safe(comment)} */\n"
            if points is not None:
                text += loops(points, statement, self.context, indent) or \
                    f"{indent}/* (nothing) */\n"
        return text

    def output_key(self) -> str:
        return self.program.stages[-1].output_key


def _listed(program: Program, keys: list[str]) -> list[tuple[str, tuple[int, ...]]]:
    """``(key, shape)`` of operands ``keys``: the unit's DRAM tensors or resident arrays."""
    return [(key, program.operands[key].shape) for key in keys]


def _wrap(text: str, **indents) -> list[str]:
    """Header lines of ``text``, broken at spaces only (a name stays whole)."""
    return textwrap.wrap(text, WRAP, break_long_words=False, break_on_hyphens=False,
                         **indents)


def _dims(shape: tuple[int, ...]) -> str:
    return " x ".join(map(str, shape)) or "1"


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
