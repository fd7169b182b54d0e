"""Compile an emitted unit with a small ``main`` and run it on given tensors.

The harness reads every DRAM tensor (int32, row-major, in ``c_tensors`` order), then every
resident array (``c_resident`` order: the on-chip copies a plan keeps across groups), from one
binary file, calls ``polyscan_run``, and writes them all back followed by the per-tensor read
and write counts of the DRAM tensors (int64). ``verify`` runs a schedule's unit on random
tensors and compares with the numpy reference and ``ps.traffic``; users can start from the
harness to call the code from their own program.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...cost.traffic import traffic
from ...errors import CompileError
from ...testing.reference import schedule_outputs
from .unit import CUnit, signature

FLAGS = ("-std=c99", "-O2", "-Wall", "-Werror")
SANITIZE = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g")

MAIN = """\
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

%(signature)s;

/* the DRAM tensors, then the resident arrays (on-chip copies that outlive the unit) */
static const long long sizes[] = {%(sizes)s};
#define COUNT %(count)d
#define ARRAYS %(arrays)d

int main(int argc, char **argv)
{
    int32_t *arrays[ARRAYS];
    /* one more than needed: a unit may have no DRAM tensor at all */
    long long reads[COUNT + 1] = {0}, writes[COUNT + 1] = {0};
    if (argc != 3)
        return 2;
    FILE *in = fopen(argv[1], "rb");
    if (!in)
        return 2;
    for (int i = 0; i < ARRAYS; i++) {
        arrays[i] = malloc(sizes[i] * sizeof(int32_t));
        if (!arrays[i] || fread(arrays[i], sizeof(int32_t), sizes[i], in) != (size_t)sizes[i])
            return 2;
    }
    fclose(in);
    polyscan_run(%(arguments)s);
    FILE *out = fopen(argv[2], "wb");
    if (!out)
        return 2;
    for (int i = 0; i < ARRAYS; i++) {
        fwrite(arrays[i], sizeof(int32_t), sizes[i], out);
        free(arrays[i]);
    }
    fwrite(reads, sizeof reads[0], COUNT, out);
    fwrite(writes, sizeof writes[0], COUNT, out);
    return fclose(out) != 0;
}
"""

Shapes = list[tuple[str, tuple[int, ...]]]  # (key, shape) per array, as ``c_tensors`` lists


def compiler() -> str:
    found = shutil.which(os.environ.get("CC", "cc"))
    if found is None:
        raise CompileError("no C compiler found: install one (e.g. gcc) or set CC")
    return found


def build(unit: str, tensors: Shapes, directory: Path, sanitize: bool = False,
          resident: Shapes = ()) -> Path:
    """Compile ``unit`` (from ``emit_c``) and the harness into ``directory/run``; ``tensors``
    and ``resident`` are the unit's DRAM tensors and resident arrays (``c_tensors``,
    ``c_resident``)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "unit.c").write_text(unit)
    sizes = [math.prod(shape) for _, shape in (*tensors, *resident)]
    (directory / "main.c").write_text(MAIN % {
        "signature": signature(bool(resident)), "sizes": ", ".join(map(str, sizes)),
        "count": len(tensors), "arrays": len(sizes),
        "arguments": "arrays, reads, writes" + (", arrays + COUNT" if resident else "")})
    executable = directory / "run"
    command = [compiler(), *FLAGS, *(SANITIZE if sanitize else ()), "-o", str(executable),
               str(directory / "unit.c"), str(directory / "main.c")]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise CompileError(f"{' '.join(command)} failed:\n{done.stderr}")
    return executable


def run(executable: Path, tensors: Shapes, values: dict[str, np.ndarray],
        resident: Shapes = ()) -> tuple[dict[str, np.ndarray], dict[str, int], dict[str, int]]:
    """Run a built harness on ``values`` (by key: every DRAM tensor and resident array): the
    arrays after the run, and the elements read and written per DRAM tensor."""
    directory = Path(executable).parent
    arrays = [*tensors, *resident]
    with open(directory / "in.bin", "wb") as out:
        for key, shape in arrays:
            out.write(np.ascontiguousarray(values[key], dtype=np.int32).reshape(shape).tobytes())
    done = subprocess.run([str(executable), str(directory / "in.bin"),
                           str(directory / "out.bin")], capture_output=True, text=True)
    if done.returncode:
        raise CompileError(f"{executable} exited with {done.returncode}:\n{done.stderr}")
    data = (directory / "out.bin").read_bytes()
    after, offset = {}, 0
    for key, shape in arrays:
        count = math.prod(shape)
        after[key] = np.frombuffer(data, np.int32, count, offset).reshape(shape)
        offset += 4 * count
    counts = np.frombuffer(data, np.int64, 2 * len(tensors), offset)
    keys = [key for key, _ in tensors]
    return (after, dict(zip(keys, counts[:len(keys)].tolist())),
            dict(zip(keys, counts[len(keys):].tolist())))


UNWRITTEN = -123456789  # what DRAM outputs hold before a run


@dataclass
class Verification:
    """What a run of a schedule's C did, next to what it should have done."""

    wrong: list[str]  # tensors whose values differ from the reference
    reads: dict[str, int]
    writes: dict[str, int]
    expected_reads: dict[str, int]
    expected_writes: dict[str, int]
    buffer: int = 0  # entries of the unit's buffer
    lines: int = 0  # of C
    seconds: dict[str, float] = field(default_factory=dict)  # emit, compile, run

    @property
    def ok(self) -> bool:
        return not self.wrong and self.reads == self.expected_reads and \
            self.writes == self.expected_writes


def verify(schedule, directory: Path, seed: int = 0, sanitize: bool = False) -> Verification:
    """Emit, compile and run ``schedule`` on random tensors (values -3..3). The output must
    equal the reference everywhere (it starts as ``UNWRITTEN``); an exported intermediate,
    wherever the group computed it; read-only tensors must come back untouched. A resident
    input's array holds what its DRAM tensor would; a resident output is checked in its
    array, as a DRAM one would be (the unit has no DRAM copy of either to touch)."""
    seconds = {}
    start = time.perf_counter()
    unit = CUnit(schedule)
    program = unit.program
    source, arrays = unit.text(), [*unit.tensors, *unit.resident]
    seconds["emit"] = time.perf_counter() - start
    rng = np.random.default_rng(seed)
    values = {key: rng.integers(-3, 4, shape) for key, shape in arrays}
    for key, shape in arrays:
        if key in program.written:
            values[key] = np.full(shape, UNWRITTEN)
    held = {key: _held(program, key) for key, _ in arrays}
    inputs = {k: values[key] for key, _ in arrays for k in held[key]}
    expected = schedule_outputs(schedule, inputs, inputs)
    start = time.perf_counter()
    executable = build(source, unit.tensors, directory, sanitize, unit.resident)
    seconds["compile"] = time.perf_counter() - start
    start = time.perf_counter()
    after, reads, writes = run(executable, unit.tensors, values, unit.resident)
    seconds["run"] = time.perf_counter() - start
    wrong = [key for key, _ in arrays
             if not _correct(program, key, held[key], values[key], after[key], expected)]
    counted = traffic(schedule)
    keys = dict.fromkeys((key for key, _ in unit.tensors), 0)
    return Verification(wrong, reads, writes, {**keys, **counted.reads},
                        {**keys, **counted.writes}, unit.buffer, source.count("\n"), seconds)


def _held(program, key: str) -> tuple[str, ...]:
    """The operands whose elements array ``key`` holds: itself, and in a resident array the
    further slices of its tensor (a Concat inside a group)."""
    return program.shared.get(key, (key,)) if key in program.resident else (key,)


def _correct(program, key: str, held: tuple[str, ...], before: np.ndarray, after: np.ndarray,
             expected: dict[str, np.ndarray]) -> bool:
    """Whether array ``key`` came back right: untouched if the unit only reads it, equal to
    the reference if it is the output, and, if it is an intermediate, equal to it wherever
    the group computed it (each element from the slice that writes it)."""
    stage = program.written.get(key)
    if stage is None:
        return np.array_equal(after, before)
    if stage is program.stages[-1]:
        return np.array_equal(after, expected[key].reshape(after.shape))
    want = np.full(after.shape, UNWRITTEN)
    for k in held:
        value = expected[k].reshape(after.shape)
        want = np.where(value != UNWRITTEN, value, want)
    written = after != UNWRITTEN
    return np.array_equal(after[written], want[written])
