"""A progress bar for long searches, on stderr, shown when it is a terminal (or when asked)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn


@contextlib.contextmanager
def progress_bar(enabled: bool | None = None) -> Iterator[Callable[[int, int, str], None] | None]:
    """Yields the ``(done, total, description)`` callback a search reports to, or None when
    the bar is off; the bar disappears when the block ends."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(),
               TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("", total=None)
        yield lambda done, total, description: bar.update(
            task, completed=done, total=total, description=description)
