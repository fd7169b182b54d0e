"""A sweep grid at scale (issue 16): wall time with 1 and 2 Dask workers, with a cold and a
warm on-disk cache, and ``polyscan optimize mobilenet_v2 --buffer 64K`` cold against warm.

Every run is a fresh ``polyscan`` process (its workers too), so nothing is shared but what
the on-disk cache holds; each cold run starts from an empty cache folder of its own.

Run: python benchmarks/sweep_scale.py [--models a,b,c,d] [--buffers 16K,...] [--dram x,y]
     (default: the 4 MobileNet/EfficientNet networks of the zoo x 6 buffers x 2 DRAM)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

MODELS = "mobilenet_v2,mobilenet_v1,mobilenet_v3_large,efficientnet_b0"
BUFFERS = "16K,32K,64K,128K,256K,1M"
DRAM = "ddr3-1600,lpddr4-3200"
POLYSCAN = str(Path(sys.executable).parent / "polyscan")


def timed(command: list[str], cache: Path) -> float:
    """Wall seconds of one polyscan command using the cache folder ``cache``."""
    env = {**os.environ, "POLYSCAN_CACHE": "on", "POLYSCAN_CACHE_DIR": str(cache)}
    start = time.perf_counter()
    subprocess.run([POLYSCAN, *command], env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=MODELS)
    parser.add_argument("--buffers", default=BUFFERS)
    parser.add_argument("--dram", default=DRAM)
    args = parser.parse_args()
    points = len(args.models.split(",")) * len(args.buffers.split(",")) * \
        len(args.dram.split(","))
    folder = Path(tempfile.mkdtemp(prefix="polyscan-sweep-bench-"))
    try:
        def grid(workers: int, cache: str, table: str) -> float:
            return timed(["sweep", "--models", args.models, "--buffers", args.buffers,
                          "--dram", args.dram, "--workers", str(workers), "--out",
                          str(folder / table)], folder / cache)

        runs = [("1 worker, cold cache", grid(1, "one", "one.parquet")),
                ("1 worker, warm cache", grid(1, "one", "one-again.parquet")),
                ("2 workers, cold cache", grid(2, "two", "two.parquet")),
                ("2 workers, warm cache", grid(2, "two", "two-again.parquet"))]
        optimize = ["optimize", "mobilenet_v2", "--buffer", "64K", "--quiet"]
        single = [("optimize mobilenet_v2 64K, cold cache", timed(optimize, folder / "opt")),
                  ("optimize mobilenet_v2 64K, warm cache", timed(optimize, folder / "opt"))]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    table = Table(title=f"{points} points: {args.models} x {args.buffers} x {args.dram} "
                        f"({os.cpu_count()} cores)")
    for column in ("run", "wall s", "vs 1 worker cold"):
        table.add_column(column, justify="right")
    for label, seconds in runs:
        table.add_row(label, f"{seconds:.1f}", f"{runs[0][1] / seconds:.2f}x")
    for label, seconds in single:
        table.add_row(label, f"{seconds:.1f}", f"{single[0][1] / seconds:.2f}x (vs cold)")
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
