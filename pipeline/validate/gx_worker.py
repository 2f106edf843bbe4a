"""Start-up of the process that runs the Great Expectations suites: it imports only GX, so the worker is ready
as soon as GX is (the checks it runs import the rest of the stage when the first view arrives)."""

from __future__ import annotations

import atexit
import os


def start() -> None:
    """Worker initializer: import GX while the main process runs the other checks.

    The worker ends without the interpreter's teardown, which takes about a second once GX is loaded and which the
    stage waits for at shutdown; exit handlers registered after this one (GX's own) still run first."""
    atexit.register(os._exit, 0)
    import great_expectations  # noqa: F401
