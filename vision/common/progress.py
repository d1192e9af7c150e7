"""Progress bars and console output for long work (rich), plus logging setup.

Bars go to stderr so that stdout stays parseable; they are disabled when ``EDGEVISION_NO_PROGRESS=1``
is set (tests) and render as plain periodic lines when stderr is not a terminal.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def progress_enabled() -> bool:
    """True unless ``EDGEVISION_NO_PROGRESS`` is set to a non-empty value other than ``0``."""
    return os.environ.get("EDGEVISION_NO_PROGRESS", "0") in ("", "0")


def track(iterable: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate over ``iterable`` while showing a rich progress bar on stderr.

    Args:
        iterable: the work items.
        description: a short label, e.g. ``"embedding images"``.
        total: number of items if ``iterable`` has no ``len``.
    """
    if total is None and isinstance(iterable, Sequence):
        total = len(iterable)
    if not progress_enabled():
        yield from iterable
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False, disable=not console.is_terminal) as bar:
        task = bar.add_task(description, total=total)
        for item in iterable:
            yield item
            bar.advance(task)


def get_logger(name: str) -> logging.Logger:
    """A module logger; handlers are configured once by :func:`setup_logging` in the CLI."""
    return logging.getLogger(name)


def setup_logging(verbose: bool = False) -> None:
    """Route ``logging`` through rich on stderr (INFO, or DEBUG with ``verbose``)."""
    from rich.logging import RichHandler

    root = logging.getLogger()
    if any(isinstance(h, RichHandler) for h in root.handlers):
        return
    handler = RichHandler(show_path=False, show_time=False, markup=False, rich_tracebacks=False)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("PIL", "matplotlib", "urllib3", "fsspec", "faiss", "faiss.loader"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Print a table to stdout with rich (plain text when stdout is not a terminal)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for col in columns:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*[_fmt(v) for v in row])
    Console(width=max(100, Console().width)).print(table)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.0f}"
    return str(value)
