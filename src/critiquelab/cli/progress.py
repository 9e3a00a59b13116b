"""One progress bar style for long CLI work (generation batches, critiques, teacher requests):
done/total, elapsed and time left, on stderr; transient, so a finished bar leaves the terminal
(and an error's single line) as it was, and piped output gets none."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


@contextlib.contextmanager
def progress_bar(description: str, total: int, enabled: bool = True,
                 console: Console | None = None) -> Iterator[Callable[[int], None]]:
    """Yields advance(k): k more of `total` done (thread-safe, so worker threads may call it)."""
    if not enabled:
        yield lambda k=1: None
        return
    lock = threading.Lock()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn())
    with Progress(*columns, console=console or Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)

        def advance(k: int = 1) -> None:
            with lock:
                bar.advance(task, k)

        yield advance
