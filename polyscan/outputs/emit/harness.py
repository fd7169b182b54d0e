"""Compile an emitted unit with a small ``main`` and run it on given tensors.

The harness reads every DRAM tensor (int32, row-major, in ``c_tensors`` order) from one
binary file, calls ``polyscan_run``, and writes the tensors back followed by the per-tensor
read and write counts (int64). ``verify`` runs a schedule's unit on random tensors and
compares with the numpy reference and ``ps.traffic``; users can start from the harness to
call the code from their own program.
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
from ...model.nest import ACCUMULATE, EXPORTED
from ...testing.reference import schedule_outputs
from .unit import CUnit

FLAGS = ("-std=c99", "-O2", "-Wall", "-Werror")
SANITIZE = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g")

MAIN = """\
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

void polyscan_run(int32_t *const *tensors, long long *reads, long long *writes);

static const long long sizes[] = {%(sizes)s};
#define COUNT %(count)d

int main(int argc, char **argv)
{
    int32_t *tensors[COUNT];
    long long reads[COUNT] = {0}, writes[COUNT] = {0};
    if (argc != 3)
        return 2;
    FILE *in = fopen(argv[1], "rb");
    if (!in)
        return 2;
    for (int i = 0; i < COUNT; i++) {
        tensors[i] = malloc(sizes[i] * sizeof(int32_t));
        if (!tensors[i] || fread(tensors[i], sizeof(int32_t), sizes[i], in) != (size_t)sizes[i])
            return 2;
    }
    fclose(in);
    polyscan_run(tensors, reads, writes);
    FILE *out = fopen(argv[2], "wb");
    if (!out)
        return 2;
    for (int i = 0; i < COUNT; i++) {
        fwrite(tensors[i], sizeof(int32_t), sizes[i], out);
        free(tensors[i]);
    }
    fwrite(reads, sizeof reads[0], COUNT, out);
    fwrite(writes, sizeof writes[0], COUNT, out);
    return fclose(out) != 0;
}
"""


def compiler() -> str:
    found = shutil.which(os.environ.get("CC", "cc"))
    if found is None:
        raise CompileError("no C compiler found: install one (e.g. gcc) or set CC")
    return found


def build(unit: str, tensors: list[tuple[str, tuple[int, ...]]], directory: Path,
          sanitize: bool = False) -> Path:
    """Compile ``unit`` (from ``emit_c``) and the harness into ``directory/run``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "unit.c").write_text(unit)
    sizes = [math.prod(shape) for _, shape in tensors]
    (directory / "main.c").write_text(MAIN % {"sizes": ", ".join(map(str, sizes)),
                                              "count": len(sizes)})
    executable = directory / "run"
    command = [compiler(), *FLAGS, *(SANITIZE if sanitize else ()), "-o", str(executable),
               str(directory / "unit.c"), str(directory / "main.c")]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise CompileError(f"{' '.join(command)} failed:\n{done.stderr}")
    return executable


def run(executable: Path, tensors: list[tuple[str, tuple[int, ...]]],
        values: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, int],
                                                dict[str, int]]:
    """Run a built harness on the DRAM tensors ``values`` (by key; all of them): the tensors
    after the run, and the elements read and written per tensor."""
    directory = Path(executable).parent
    with open(directory / "in.bin", "wb") as out:
        for key, shape in tensors:
            out.write(np.ascontiguousarray(values[key], dtype=np.int32).reshape(shape).tobytes())
    done = subprocess.run([str(executable), str(directory / "in.bin"),
                           str(directory / "out.bin")], capture_output=True, text=True)
    if done.returncode:
        raise CompileError(f"{executable} exited with {done.returncode}:\n{done.stderr}")
    data = (directory / "out.bin").read_bytes()
    after, offset = {}, 0
    for key, shape in tensors:
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
    wherever the group computed it; read-only tensors must come back untouched."""
    seconds = {}
    start = time.perf_counter()
    unit = CUnit(schedule)
    source, tensors = unit.text(), unit.tensors
    seconds["emit"] = time.perf_counter() - start
    rng = np.random.default_rng(seed)
    values = {key: rng.integers(-3, 4, shape) for key, shape in tensors}
    for key, shape in tensors:
        if schedule.nest.operands[key].kind in (ACCUMULATE, EXPORTED):
            values[key] = np.full(shape, UNWRITTEN)
    expected = schedule_outputs(schedule, values, values)
    start = time.perf_counter()
    executable = build(source, tensors, directory, sanitize)
    seconds["compile"] = time.perf_counter() - start
    start = time.perf_counter()
    after, reads, writes = run(executable, tensors, values)
    seconds["run"] = time.perf_counter() - start
    wrong = []
    for key, _ in tensors:
        if key not in expected:
            same = np.array_equal(after[key], values[key])
        elif schedule.nest.operands[key].kind == ACCUMULATE:
            same = np.array_equal(after[key], expected[key].reshape(after[key].shape))
        else:
            written = after[key] != UNWRITTEN
            same = np.array_equal(after[key][written],
                                  expected[key].reshape(after[key].shape)[written])
        if not same:
            wrong.append(key)
    counted = traffic(schedule)
    return Verification(wrong, reads, writes,
                        {key: counted.reads.get(key, 0) for key, _ in tensors},
                        {key: counted.writes.get(key, 0) for key, _ in tensors}, unit.buffer,
                        source.count("\n"), seconds)
