"""Speed of exact traffic counting on every MobileNetV2 layer (issue 2's figures).

For each layer, a schedule with at least 10,000 tiles is counted under lex and scan:
  build   = first ps.traffic() call minus a warm one: the barvinok closed forms for that
            layer and its step patterns (target: <= 1 s);
  traffic = a warm ps.traffic() call, median of 5 (target: <= 50 ms).
Then the warm time for growing tile counts on three layers shows how it scales.

Run: python benchmarks/traffic_speed.py
"""

from __future__ import annotations

import math
import statistics
import time

from rich.console import Console
from rich.table import Table

import polyscan as ps
from polyscan import clear_cache

TRAVERSALS = ("lex", "scan")


def schedule_with_tiles(layer: ps.Layer, target: int, traversal: str) -> ps.Schedule:
    """Tiles spatial dims first, then channels, then the kernel window, until >= target."""
    preference = [d for d in ("y", "x", "k", "c", "r", "s") if d in layer.dims]
    tile, tiles = {}, 1
    for dim in preference:
        if tiles >= target:
            break
        extent = layer.extents[dim]
        parts = min(extent, math.ceil(target / tiles))
        tile[dim] = math.ceil(extent / parts)
        tiles *= math.ceil(extent / tile[dim])
    return ps.Schedule(layer, tile=tile, order=tuple(tile), traversal=traversal)


def timed(schedule: ps.Schedule, repeats: int = 5) -> tuple[float, float, ps.Traffic]:
    """(cold seconds, warm median seconds, traffic) of ps.traffic(schedule)."""
    clear_cache()
    start = time.perf_counter()
    result = ps.traffic(schedule)
    cold = time.perf_counter() - start
    warm = []
    for _ in range(repeats):
        start = time.perf_counter()
        ps.traffic(schedule)
        warm.append(time.perf_counter() - start)
    return cold, statistics.median(warm), result


def per_layer_table(console: Console) -> tuple[float, float]:
    table = Table(title="ps.traffic on every MobileNetV2 layer, >= 10,000 tiles")
    for column in ("layer", "kind", "extents", "tile", "tiles", "traversal", "build ms",
                   "traffic ms", "total entries"):
        table.add_column(column, justify="right" if column.endswith(("ms", "s", "entries"))
                         else "left")
    worst_build = worst_traffic = 0.0
    for layer in ps.zoo.mobilenet_v2().layers:
        for traversal in TRAVERSALS:
            schedule = schedule_with_tiles(layer, 10_000, traversal)
            cold, warm, result = timed(schedule)
            worst_build = max(worst_build, cold - warm)
            worst_traffic = max(worst_traffic, warm)
            table.add_row(layer.name, layer.kind,
                          "x".join(str(layer.extents[d]) for d in layer.dims),
                          ",".join(f"{d}{t}" for d, t in schedule.tile.items()),
                          f"{schedule.tiles:,}", traversal, f"{1e3 * (cold - warm):.0f}",
                          f"{1e3 * warm:.1f}", f"{result.total:,}")
    console.print(table)
    return worst_build, worst_traffic


def scaling_table(console: Console):
    net = ps.zoo.mobilenet_v2()
    table = Table(title="warm ps.traffic time against the number of tiles (scan)")
    for column in ("layer", "tiles", "traffic ms", "us per tile", "exponent vs previous row"):
        table.add_column(column, justify="right")
    for name in ("conv0", "b2_dw", "b2_expand"):
        layer, previous = net.layer(name), None
        for target in (100, 1_000, 10_000, 100_000, 1_000_000):
            schedule = schedule_with_tiles(layer, target, "scan")
            _, warm, _ = timed(schedule, repeats=3)
            exponent = ""  # time ~ tiles^exponent between consecutive rows; 1 is linear
            if previous:
                growth = math.log(warm / previous[1]) / math.log(schedule.tiles / previous[0])
                exponent = f"{growth:.2f}"
            table.add_row(name, f"{schedule.tiles:,}", f"{1e3 * warm:.1f}",
                          f"{1e6 * warm / schedule.tiles:.2f}", exponent)
            previous = (schedule.tiles, warm)
    console.print(table)


def every_dim_tiled_table(console: Console):
    """The hardest case for the closed forms: every dim tiled, dims interleaved, 4 orders."""
    net = ps.zoo.mobilenet_v2()
    table = Table(title="every dim tiled (kernel window included), all traversals")
    for column in ("layer", "tile", "order", "tiles", "traversal", "build ms", "traffic ms"):
        table.add_column(column, justify="right" if "ms" in column or column == "tiles"
                         else "left")
    for name, tile in (("conv0", {"k": 8, "c": 2, "y": 7, "x": 7, "r": 2, "s": 2}),
                       ("b1_dw", {"c": 8, "y": 7, "x": 7, "r": 2, "s": 2}),
                       ("b2_expand", {"k": 16, "c": 4, "y": 7, "x": 7})):
        layer = net.layer(name)
        order = tuple(sorted(tile, key=lambda d: "rkysxc".find(d)))
        for traversal in ("lex", "scan", "zorder", "hilbert"):
            schedule = ps.Schedule(layer, tile=tile, order=order, traversal=traversal)
            cold, warm, _ = timed(schedule)
            table.add_row(name, ",".join(f"{d}{t}" for d, t in tile.items()), ",".join(order),
                          f"{schedule.tiles:,}", traversal, f"{1e3 * (cold - warm):.0f}",
                          f"{1e3 * warm:.1f}")
    console.print(table)


def main():
    console = Console(width=160)
    worst_build, worst_traffic = per_layer_table(console)
    every_dim_tiled_table(console)
    scaling_table(console)
    console.print(f"slowest build: {1e3 * worst_build:.0f} ms (target <= 1000 ms); "
                  f"slowest warm traffic(): {1e3 * worst_traffic:.1f} ms (target <= 50 ms)")


if __name__ == "__main__":
    main()
