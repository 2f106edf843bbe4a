"""Console output through rich, and one log file per run in ``outputs/<study>/logs/``."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TypeVar

from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

console = Console(stderr=True, highlight=False)
LOGGER_NAME = "pipeline"
T = TypeVar("T")


# C0 and C1 control characters (tab kept), DEL and the Unicode bidi overrides: data must never steer the terminal
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def safe_text(text: object) -> str:
    r"""Text from data as the console and the log file may show it: one line, control characters visible.

    >>> safe_text("subject\x1b[2J\nno\x07")
    'subject\\x1b[2J no\\x07'
    """
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}",
                        str(text).replace("\r\n", " ").replace("\n", " "))


def print_error(label: str, message: object, style: str = "bold red") -> None:
    """One line on the console: a styled label, then ``message`` shown as plain text (never markup).

    >>> print_error("error", "[/x]subject_no: bad")  # no MarkupError: the data is escaped
    """
    console.print(f"[{style}]{escape(label)}[/]: {escape(safe_text(message))}", soft_wrap=True)


class _SafeRecords(logging.Filter):
    """Every log record's message becomes :func:`safe_text` before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = safe_text(record.getMessage()), None
        return True


def get_logger(name: str | None = None) -> logging.Logger:
    return logging.getLogger(f"{LOGGER_NAME}.{name}" if name else LOGGER_NAME)


def setup_logging(logs_dir: Path | None, stage: str, verbose: bool = False) -> Path | None:
    """Log to the console (rich) and to ``logs_dir/<timestamp>-<stage>.log``."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.handlers.clear()
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.filters.clear()
    logger.addFilter(_SafeRecords())
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
