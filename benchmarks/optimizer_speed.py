"""Speed of the provably optimal per-layer search on MobileNetV2 (issue 3's figures).

Every layer (53 conv/gemm and the pool) is searched at a 64K-entry buffer, lex and scan,
from a cold start (no closed forms, no tables), in one process, the way
``ps.optimize_network(..., fusion=False)`` does it (layers of one shape share a search).
Per layer: time, tile-size combinations, feasible ones, combinations the exact lex program
evaluated (each covering all m! loop orders at once), those the (tiles, peak) ranking
proved unable to win, and the exact scan evaluations left after the scan bound.
A second table repeats the whole network at other buffer sizes. Peak memory is the
process's maximum resident set.

Run: python benchmarks/optimizer_speed.py
"""

from __future__ import annotations

import resource
import time

from rich.console import Console
from rich.table import Table

import polyscan as ps


def per_layer(console: Console, buffer: int) -> float:
    table = Table(title=f"MobileNetV2, per layer, {buffer:,}-entry buffer, lex and scan "
                        f"(cold start)")
    for column in ("layer", "kind", "ms", "combinations", "feasible", "lex evaluated",
                   "pruned", "scan exact", "orders each", "best", "traffic"):
        table.add_column(column, justify="left" if column in ("layer", "kind", "best")
                         else "right")
    start = time.perf_counter()
    searched = {}
    for layer in ps.zoo.mobilenet_v2().layers:
        t0 = time.perf_counter()
        shared = layer.shape_key in searched
        if not shared:
            searched[layer.shape_key] = ps.search_layer(layer, buffer)
        found = searched[layer.shape_key]
        ms = 1e3 * (time.perf_counter() - t0)
        lex, scan = found.results["lex"], found.results["scan"]
        table.add_row(layer.name, layer.kind, f"{ms:.0f}" + (" (shared)" if shared else ""),
                      f"{found.combinations:,}", f"{found.feasible:,}",
                      f"{lex.exact_evaluations:,}",
                      f"{found.feasible - lex.exact_evaluations:,}",
                      f"{scan.exact_evaluations:,}", f"{found.orders:,}",
                      found.best.traversal, f"{found.best.total:,}")
    total = time.perf_counter() - start
    console.print(table)
    return total


def sweep(console: Console):
    table = Table(title="whole network (54 layers), lex and scan, warm closed forms")
    for column in ("buffer", "seconds", "total traffic", "lex only", "scan only"):
        table.add_column(column, justify="right")
    net = ps.zoo.mobilenet_v2()
    for buffer in (1024, 4096, 16384, 65536, 262144, 1 << 20):
        start = time.perf_counter()
        plan = ps.optimize_network(net, buffer, fusion=False, progress=False)
        seconds = time.perf_counter() - start
        lex = sum(g.search.results["lex"].total for g in plan.groups)
        scan = sum(g.search.results["scan"].total for g in plan.groups)
        table.add_row(f"{buffer:,}", f"{seconds:.1f}", f"{plan.total:,}", f"{lex:,}",
                      f"{scan:,}")
    console.print(table)


def main():
    console = Console(width=160)
    total = per_layer(console, 65536)
    memory = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    console.print(f"all 54 layers at 64K, lex and scan, cold: {total:.1f} s (target <= 10 s); "
                  f"peak memory {memory:.0f} MB (target < 2048 MB)")
    sweep(console)


if __name__ == "__main__":
    main()
