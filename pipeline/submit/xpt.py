"""SAS transport (XPORT) version 5 files that pass FDA technical checks, byte for byte reproducible.

Limits enforced (FDA Study Data Technical Conformance Guide, XPT v5): dataset and variable
names <= 8 characters (letters, digits, underscore, starting with a letter), labels <= 40
characters, character values <= 200 bytes of printable ASCII, lower-case file names, character
lengths = longest value. ADaM dates (``*DT``), datetimes (``*DTM``) and times (``*TM``) are
written as SAS numbers with ``DATE9.``, ``DATETIME20.`` and ``TIME8.`` formats. pyreadstat
stamps the wall-clock time into the header records; :func:`patch_xpt_timestamps` replaces it
with a fixed value so reruns are identical.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat

from pipeline.common.errors import InputError
from pipeline.common.io import write_bytes_atomic
from pipeline.submit._vector import as_text, byte_lengths, map_unique
from pipeline.submit.metadata import DatasetMeta

MAX_NAME = 8
MAX_LABEL = 40
MAX_CHAR_BYTES = 200
MAX_VARIABLES = 9999
SAS_EPOCH = pd.Timestamp("1960-01-01")
RECORD = 80
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_XPT_STAMP = re.compile(rb"\d\d[A-Z]{3}\d\d:\d\d:\d\d:\d\d")
ISSUE_COLUMNS = ["dataset", "variable", "row", "value", "check", "severity", "action"]


def format_xpt_timestamp(moment: dt.datetime) -> str:
    """The 16-character ``ddMMMyy:hh:mm:ss`` stamp used in XPORT headers.

    >>> format_xpt_timestamp(dt.datetime(2023, 6, 29, 8, 5, 0))
    '29JUN23:08:05:00'
    """
    return moment.strftime("%d%b%y:%H:%M:%S").upper()


def patch_xpt_timestamps(data: bytes, stamp: str) -> bytes:
    """Replace the creation/modification stamps of the library and member headers by ``stamp``.

    Only the header records before the first ``OBS`` header are touched, so data values that
    happen to look like a stamp stay as they are.

    >>> header = b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!" + b"0" * 30 + b"  "
    >>> rec = b"SAS     SAS     SASLIB  6.06    bsd4.2" + b" " * 26 + b"28NOV26:05:57:54"
    >>> patched = patch_xpt_timestamps(header + rec, "01JAN00:00:00:00")
    >>> patched[-16:]
    b'01JAN00:00:00:00'
    """
    if len(stamp) != 16 or not _XPT_STAMP.fullmatch(stamp.encode("ascii")):
        raise ValueError(f"patch_xpt_timestamps: stamp {stamp!r} is not ddMMMyy:hh:mm:ss")
    marker = data.find(b"HEADER RECORD*******OBS     HEADER RECORD")
    head_end = marker if marker >= 0 else len(data)
    head = _XPT_STAMP.sub(stamp.encode("ascii"), data[:head_end])
    return head + data[head_end:]


def _issue(dataset: str, variable: str, row, value, check: str, severity: str, action: str) -> dict:
    return {"dataset": dataset, "variable": variable, "row": row, "value": value,
            "check": check, "severity": severity, "action": action}


def check_xpt_limits(meta: DatasetMeta, dataset: pd.DataFrame, variable_meta: pd.DataFrame) -> pd.DataFrame:
    """Every XPT v5 limit broken by ``dataset`` or its metadata, as a tidy table.

    Columns ``dataset, variable, row, value, check, severity, action``. Severity ``error`` means
    the file cannot be written faithfully (too-long name or value); ``warning`` means the writer
    fixes it (label cut at 40 characters) and says so.

    >>> from pipeline.submit.metadata import DatasetMeta
    >>> meta = DatasetMeta("AE", "Adverse Events", "SDTM", "EVENTS", "", ())
    >>> frame = pd.DataFrame({"AETERM": ["x" * 201], "AELONGNAME": ["a"]})
    >>> vm = pd.DataFrame({"variable": ["AETERM", "AELONGNAME"], "label": ["Term", "L" * 41]})
    >>> check_xpt_limits(meta, frame, vm)[["variable", "row", "check", "severity"]].values.tolist()
    [['AETERM', 1, 'value longer than 200 bytes', 'error'], ['AELONGNAME', <NA>, 'variable name longer than 8', 'error'], ['AELONGNAME', <NA>, 'variable label longer than 40', 'warning']]
    """
    issues: list[dict] = []
    name = meta.name
    if len(name) > MAX_NAME or not _NAME.match(name):
        issues.append(_issue(name, "", None, name, "dataset name not a SAS v5 name (<= 8, letter first)", "error", "none"))
    if len(meta.label) > MAX_LABEL:
        issues.append(_issue(name, "", None, meta.label, "dataset label longer than 40", "warning", "cut to 40"))
    if dataset.shape[1] > MAX_VARIABLES:
        issues.append(_issue(name, "", None, dataset.shape[1], "more than 9999 variables", "error", "none"))
    labels = dict(zip(variable_meta["variable"], variable_meta["label"]))
    for variable in dataset.columns:
        column = dataset[variable]
        if pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column):
            too_long = byte_lengths(column) > MAX_CHAR_BYTES
            for position in too_long.nonzero()[0][:20]:
                issues.append(_issue(name, variable, int(position) + 1, str(column.iloc[position])[:60] + "...",
                                     "value longer than 200 bytes", "error",
                                     "none: split into SUPP-- (QNAM = variable + 1, 2 ...) in the SDTM mapping"))
        if len(variable) > MAX_NAME:
            issues.append(_issue(name, variable, None, variable, "variable name longer than 8", "error", "none"))
        elif not _NAME.match(variable):
            issues.append(_issue(name, variable, None, variable, "variable name not a SAS name", "error", "none"))
        label = str(labels.get(variable, ""))
        if len(label) > MAX_LABEL:
            issues.append(_issue(name, variable, None, label, "variable label longer than 40", "warning", "cut to 40"))
        if not label.isascii():
            issues.append(_issue(name, variable, None, label, "variable label not ASCII", "warning", "transliterated"))
    return pd.DataFrame(issues, columns=ISSUE_COLUMNS).astype({"row": "Int64"})


def prepare_xpt_dataset(dataset: pd.DataFrame, variable_meta: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """The frame pyreadstat writes, plus the SAS formats per variable.

    Text becomes ``str`` with ``None`` for missing; numbers ``float64``; dates, datetimes and
    times SAS numbers (days or seconds since 1960-01-01, seconds since midnight).

    >>> vm = pd.DataFrame({"variable": ["ADT", "AVAL"], "kind": ["date", "float"], "display_format": ["DATE9.", ""]})
    >>> out, formats = prepare_xpt_dataset(pd.DataFrame({"ADT": pd.to_datetime(["1960-01-11", None]), "AVAL": [1, 2]}), vm)
    >>> out["ADT"].tolist()[0], formats
    (10.0, {'ADT': 'DATE9.'})
    """
    kinds = dict(zip(variable_meta["variable"], variable_meta["kind"]))
    formats = {v: f for v, f in zip(variable_meta["variable"], variable_meta["display_format"]) if f}
    result = {}
    for variable in dataset.columns:
        column = dataset[variable]
        kind = kinds.get(variable, "char")
        if kind in ("date", "datetime"):
            stamps = pd.to_datetime(column, errors="coerce")
            if kind == "date":
                values = (stamps.dt.normalize() - SAS_EPOCH).dt.days.astype("float64")
            else:
                values = (stamps - SAS_EPOCH).dt.total_seconds().round(6).astype("float64")
            result[variable] = values.to_numpy()
        elif kind == "time":
            seconds = column.map(lambda t: t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6
                                 if isinstance(t, dt.time) else np.nan)
            result[variable] = seconds.astype("float64").to_numpy()
        elif kind in ("integer", "float"):
            result[variable] = pd.to_numeric(column, errors="coerce").astype("float64").to_numpy()
        else:
            result[variable] = as_text(column).to_numpy(dtype=object)
    return pd.DataFrame(result, columns=list(dataset.columns)), formats


def write_xpt(path: str | Path, dataset: pd.DataFrame, meta: DatasetMeta, variable_meta: pd.DataFrame,
              stamp: str) -> Path:
    """Write ``dataset`` as XPT v5 to ``path`` with labels, formats and the fixed header ``stamp``.

    The file name must be the lower-case dataset name; labels longer than 40 are cut.

    >>> import tempfile, pathlib
    >>> from pipeline.submit.metadata import DatasetMeta
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> meta = DatasetMeta("DM", "Demographics", "SDTM", "SPECIAL PURPOSE", "", ("USUBJID",))
    >>> vm = pd.DataFrame({"variable": ["USUBJID"], "label": ["Unique Subject Identifier"], "kind": ["char"], "display_format": [""]})
    >>> path = write_xpt(folder / "dm.xpt", pd.DataFrame({"USUBJID": ["01-001"]}), meta, vm, "01JAN00:00:00:00")
    >>> pyreadstat.read_xport(path)[1].column_labels
    ['Unique Subject Identifier']
    """
    path = Path(path)
    if path.name != meta.file_name:
        raise InputError(f"{path}: XPT file name must be the lower-case dataset name '{meta.file_name}'")
    frame, formats = prepare_xpt_dataset(dataset, variable_meta)
    labels = dict(zip(variable_meta["variable"], variable_meta["label"]))
    column_labels = [str(labels.get(v) or v)[:MAX_LABEL] for v in frame.columns]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        try:
            pyreadstat.write_xport(frame, tmp, file_label=meta.label[:MAX_LABEL], column_labels=column_labels,
                                   table_name=meta.name, file_format_version=5, variable_format=formats or None)
        except Exception as exc:  # pyreadstat raises several types; name the dataset, not a traceback
            raise InputError(f"{path}: cannot write XPT v5 for dataset {meta.name} ({exc.__class__.__name__}: {exc})") from None
        data = Path(tmp).read_bytes()
    finally:
        Path(tmp).unlink(missing_ok=True)
    return write_bytes_atomic(path, patch_xpt_timestamps(data, stamp))


def check_xpt_read_back(path: str | Path, dataset: pd.DataFrame, meta: DatasetMeta,
                        variable_meta: pd.DataFrame) -> list[str]:
    """Re-read ``path`` and compare names, labels, types, lengths and values with what was meant.

    Returns a list of differences (empty when the file is faithful). Numbers are compared with a
    relative tolerance of 1e-12 (IBM/370 floats keep 14 hex digits); text ignores trailing blanks.

    >>> import tempfile, pathlib
    >>> from pipeline.submit.metadata import DatasetMeta
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> meta = DatasetMeta("VS", "Vital Signs", "SDTM", "FINDINGS", "", ())
    >>> vm = pd.DataFrame({"variable": ["VSSTRESN"], "label": ["Numeric Result"], "kind": ["float"], "display_format": [""], "length": [8]})
    >>> frame = pd.DataFrame({"VSSTRESN": [0.1, None]})
    >>> check_xpt_read_back(write_xpt(folder / "vs.xpt", frame, meta, vm, "01JAN00:00:00:00"), frame, meta, vm)
    []
    """
    expected, _ = prepare_xpt_dataset(dataset, variable_meta)
    actual, file_meta = pyreadstat.read_xport(str(path), disable_datetime_conversion=True)
    problems: list[str] = []
    where = Path(path).name
    if file_meta.table_name != meta.name:
        problems.append(f"{where}: dataset name {file_meta.table_name!r}, expected {meta.name!r}")
    if (file_meta.file_label or "") != meta.label[:MAX_LABEL]:
        problems.append(f"{where}: dataset label {file_meta.file_label!r}, expected {meta.label[:MAX_LABEL]!r}")
    if list(actual.columns) != list(expected.columns):
        problems.append(f"{where}: columns {list(actual.columns)}, expected {list(expected.columns)}")
        return problems
    if len(actual) != len(expected):
        problems.append(f"{where}: {len(actual)} rows, expected {len(expected)}")
        return problems
    labels = dict(zip(variable_meta["variable"], variable_meta["label"]))
    lengths = dict(zip(variable_meta["variable"], variable_meta.get("length", pd.Series(dtype=int))))
    kinds = dict(zip(variable_meta["variable"], variable_meta["kind"]))
    read_labels = dict(zip(file_meta.column_names, file_meta.column_labels))
    for variable in expected.columns:
        want_label = str(labels.get(variable) or variable)[:MAX_LABEL]
        if (read_labels.get(variable) or "") != want_label:
            problems.append(f"{where}: {variable} label {read_labels.get(variable)!r}, expected {want_label!r}")
        is_char = kinds.get(variable, "char") == "char"
        read_type = file_meta.readstat_variable_types.get(variable)
        if (read_type == "string") != is_char:
            problems.append(f"{where}: {variable} type {read_type}, expected {'string' if is_char else 'double'}")
            continue
        width = file_meta.variable_storage_width.get(variable)
        if is_char and variable in lengths and width != int(lengths[variable]):
            problems.append(f"{where}: {variable} length {width}, expected {int(lengths[variable])}")
        if is_char:
            want = map_unique(pd.Series(expected[variable]), lambda v: str(v).rstrip(), missing="")
            got = map_unique(actual[variable], lambda v: str(v).rstrip(), missing="")
            bad = (want != got).nonzero()[0]
        else:
            want = pd.to_numeric(pd.Series(expected[variable]), errors="coerce").to_numpy(dtype="float64")
            got = pd.to_numeric(actual[variable], errors="coerce").to_numpy(dtype="float64")
            same = np.isclose(want, got, rtol=1e-12, atol=0.0, equal_nan=True)
            bad = (~same).nonzero()[0]
        if len(bad):
            first = int(bad[0])
            got_value, want_value = _plain(actual[variable].iloc[first]), _plain(expected[variable][first])
            problems.append(f"{where}: {variable} row {first + 1}: read back {got_value!r}, "
                            f"expected {want_value!r} ({len(bad)} value(s) differ)")
    return problems


def _plain(value):
    """numpy scalars as plain Python values, for readable messages."""
    return value.item() if isinstance(value, np.generic) else value
