"""Execution engines: ``pandas`` (one process, the default) and ``dask`` (subject or site partitions
on a dask.distributed cluster). The stages keep one algorithm; an engine only decides where its
per-partition calls run and how their results are combined (see :mod:`pipeline.engines.dask_engine`)."""

from __future__ import annotations

from typing import Any

from pipeline.common.errors import InputError

ENGINES = ("pandas", "dask")


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


def engine_of(ctx: Any) -> str:
    """The engine a stage run asked for (``pandas`` unless ``--engine dask``)."""
    return str((getattr(ctx, "options", None) or {}).get("engine") or "pandas")
