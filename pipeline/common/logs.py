"""Console output through rich, and one log file per run in ``outputs/<study>/logs/``."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TypeVar

from rich.console import Console
from rich.logging import RichHandler

console = Console(stderr=True, highlight=False)
LOGGER_NAME = "pipeline"
T = TypeVar("T")


def get_logger(name: str | None = None) -> logging.Logger:
    return logging.getLogger(f"{LOGGER_NAME}.{name}" if name else LOGGER_NAME)


def setup_logging(logs_dir: Path | None, stage: str, verbose: bool = False) -> Path | None:
    """Log to the console (rich) and to ``logs_dir/<timestamp>-<stage>.log``."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.handlers.clear()
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    rich_handler = RichHandler(console=console, show_path=False, show_time=False, markup=False)
    rich_handler.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.addHandler(rich_handler)
    if logs_dir is None:
        return None
    logs_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    log_path = logs_dir / f"{stamp}-{stage}.log"
    file_handler = logging.FileHandler(log_path, encoding="utf-8")
    file_handler.setLevel(logging.DEBUG)
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(file_handler)
    return log_path


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate with a rich progress bar on an interactive terminal; plainly otherwise (CI, log files).

    >>> list(track([1, 2, 3], "counting"))
    [1, 2, 3]
    """
    if not console.is_terminal:
        yield from items
        return
    from rich.progress import track as rich_track

    yield from rich_track(items, description=description, total=total, console=console, transient=True)
