"""Running a grid: each missing point a task on ``dask.distributed`` (a local cluster of
worker processes, or the scheduler the user names), every finished row written to the table
at once, so an interrupted or failed sweep keeps what it finished and a rerun does the rest."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from ..errors import UsageError
from ..files import check_folder, check_output
from ..search.parallel import cores
from .grid import Grid, Point, run_point
from .results import read_rows, row_key, table_format, write_rows

Progress = Callable[[int, int, str], None]


def run_grid(grid: Grid, out=None, workers: int | None = None, scheduler: str | None = None,
             plans=None, progress: Progress | None = None) -> list[dict]:
    """The rows of every point of ``grid`` (in the grid's order), running those not already
    in the table ``out`` (Parquet or CSV by suffix; rows of other grids there are kept).
    ``workers``: processes of the local cluster (default: the machine's cores; 0 runs the
    points here, one after the other); ``scheduler``: the address of a running Dask
    scheduler to submit to instead. ``plans``: a folder for each new point's plan as JSON."""
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 0):
        raise UsageError(f"workers must be a whole number >= 0, got {workers!r}")
    if scheduler is not None and workers is not None:
        raise UsageError("give workers for a local cluster or a scheduler's address, not both")
    if out is not None:
        table_format(out)
        check_output(out)
    if plans is not None:
        check_folder(plans)
    points = grid.points()
    table = {row_key(row): row for row in (read_rows(out) if out is not None else [])}
    missing = [point for point in points if point.key() not in table]
    order = {point.key(): i for i, point in enumerate(points)}

    def finished(row: dict):
        table[row_key(row)] = row
        if out is not None:  # the other grids' rows first, then this grid's, in its order
            write_rows(out, sorted(table.values(), key=lambda r: order.get(row_key(r), -1)))
        if progress:
            done = sum(point.key() in table for point in points)
            progress(done, len(points), f"{Point(**_key_fields(row)).label()}")

    plans = str(Path(plans)) if plans is not None else None
    if missing and scheduler is None and (workers == 0 or len(missing) == 1):
        for point in missing:
            finished(run_point(point, grid, plans))
    elif missing:
        _on_dask(missing, grid, plans, workers, scheduler, finished)
    return [table[point.key()] for point in points]


def _key_fields(row: dict) -> dict:
    return {name: row[name] for name in Point.__dataclass_fields__}


def _on_dask(points: list[Point], grid: Grid, plans: str | None, workers: int | None,
             scheduler: str | None, finished: Callable[[dict], None]) -> None:
    """Every point a task; rows handed to ``finished`` as they complete. A worker lost
    midway has its task run again elsewhere (Dask's retries); Ctrl-C cancels what is left
    and closes the cluster."""
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is None:
        count = min(workers or cores(), len(points))
        environment = {} if count < cores() else {"POLYSCAN_AHEAD": "off"}  # no core to spare
        cluster = LocalCluster(n_workers=count, threads_per_worker=1, processes=True,
                               dashboard_address=":0", silence_logs=logging.ERROR,
                               env=environment)
        client = Client(cluster)
    else:
        try:
            client = Client(scheduler, timeout="10s")
        except OSError as problem:
            raise UsageError(f"cannot reach the Dask scheduler at {scheduler}: "
                             f"{problem}") from None
    futures = []
    try:
        futures = [client.submit(run_point, point, grid, plans, pure=False) for point in points]
        for future in as_completed(futures):
            finished(future.result())
    finally:
        client.cancel([f for f in futures if not f.done()])
        client.close()
        if cluster is not None:
            cluster.close()
