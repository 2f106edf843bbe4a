"""Execution engines: ``pandas`` (one process, the default) and ``dask`` (subject or site partitions
on a dask.distributed cluster). The stages keep one algorithm; an engine only decides where its
per-partition calls run and how their results are combined (see :mod:`pipeline.engines.dask_engine`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipeline.common.errors import InputError

ENGINES = ("pandas", "dask")
# step -> the dask engine's runner, registered when pipeline.engines.dask_engine is imported (the CLI
# imports it for --engine dask), so the stages call it without importing the engine back
PARTITIONED: dict[str, Callable[..., Any]] = {}


def check_engine(engine: str, scheduler: str | None = None) -> None:
    """An engine the pipeline knows; ``--scheduler`` only with the dask engine.

    >>> check_engine("dask", "tcp://127.0.0.1:8786")
    >>> check_engine("spark")
    Traceback (most recent call last):
    ...
    pipeline.common.errors.InputError: --engine spark: unknown engine (known: pandas, dask)
    """
    if engine not in ENGINES:
        raise InputError(f"--engine {engine}: unknown engine (known: {', '.join(ENGINES)})")
    if scheduler and engine != "dask":
        raise InputError(f"--scheduler {scheduler}: only with --engine dask")


def partitioned_runner(ctx: Any, step: str) -> Callable[..., Any] | None:
    """The dask engine's runner of ``step`` (``sdtm``, ``validate``) when the run asked for the dask
    engine, else None: the stage runs its pandas path.

    >>> from types import SimpleNamespace
    >>> partitioned_runner(SimpleNamespace(options={}), "sdtm") is None
    True
    """
    if (getattr(ctx, "options", None) or {}).get("engine") != "dask":
        return None
    if step not in PARTITIONED:  # a bug, not bad input: whoever asks for dask loads the engine first
        raise RuntimeError("the dask engine is not loaded: import pipeline.engines.dask_engine before the stage runs")
    return PARTITIONED[step]
