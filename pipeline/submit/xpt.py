"""SAS transport (XPORT) version 5 files that pass FDA technical checks, byte for byte reproducible.

Limits enforced (FDA Study Data Technical Conformance Guide, XPT v5): dataset and variable
names <= 8 characters (letters, digits, underscore, starting with a letter), labels <= 40
characters, character values <= 200 bytes of printable ASCII, lower-case file names, character
lengths = longest value. ADaM dates (``*DT``), datetimes (``*DTM``) and times (``*TM``) are
written as SAS numbers with ``DATE9.``, ``DATETIME20.`` and ``TIME8.`` formats. The header
records carry a fixed creation stamp so reruns are identical. The bytes come from
:func:`pipeline.common.xpt.build_xpt_bytes` and equal what pyreadstat (ReadStat) writes
(tests/submit/test_xpt_writer.py).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from pipeline.common.dates import SAS_EPOCH
from pipeline.common.errors import InputError
from pipeline.common.io import write_chunks_atomic
from pipeline.common.vector import as_text, byte_lengths, factorize
from pipeline.common.xpt import (MAX_CHAR_BYTES, MAX_NAME, RECORD, build_xpt_chunks, encode_text_column, ieee_from_ibm,
                                 read_xpt_head, read_xpt_layout)
from pipeline.submit.metadata import DatasetMeta
from pipeline.submit.prefetch import iter_ahead

MAX_LABEL = 40
MAX_VARIABLES = 9999
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
READ_BACK_ROWS = 1 << 16   # records compared at a time
ISSUE_COLUMNS = ["dataset", "variable", "row", "value", "check", "severity", "action"]


def format_xpt_timestamp(moment: dt.datetime) -> str:
    """The 16-character ``ddMMMyy:hh:mm:ss`` stamp used in XPORT headers.

    >>> format_xpt_timestamp(dt.datetime(2023, 6, 29, 8, 5, 0))
    '29JUN23:08:05:00'
    """
    return moment.strftime("%d%b%y:%H:%M:%S").upper()


def issue_row(dataset: str, variable: str, row, value, check: str, severity: str, action: str) -> dict:
    return dict(zip(ISSUE_COLUMNS, (dataset, variable, row, value, check, severity, action)))


def check_xpt_limits(meta: DatasetMeta, dataset: pd.DataFrame, variable_meta: pd.DataFrame) -> pd.DataFrame:
    """Every XPT v5 limit broken by ``dataset`` or its metadata, as a tidy table (``ISSUE_COLUMNS``).

    Severity ``error``: the file cannot be written faithfully (too-long name or value); ``warning``:
    the writer fixes it (label cut at 40 characters) and says so.

    >>> meta = DatasetMeta("AE", "Adverse Events", "SDTM", "EVENTS", "", ())
    >>> frame = pd.DataFrame({"AETERM": ["x" * 201], "AELONGNAME": ["a"]})
    >>> vm = pd.DataFrame({"variable": ["AETERM", "AELONGNAME"], "label": ["Term", "L" * 41]})
    >>> check_xpt_limits(meta, frame, vm)[["variable", "row", "check", "severity"]].values.tolist()
    [['AETERM', 1, 'value longer than 200 bytes', 'error'], ['AELONGNAME', <NA>, 'variable name longer than 8', 'error'], ['AELONGNAME', <NA>, 'variable label longer than 40', 'warning']]
    """
    name = meta.name
    rules = [(len(name) > MAX_NAME or not _NAME.match(name), "", name,
              "dataset name not a SAS v5 name (<= 8, letter first)", "error", "none"),
             (len(meta.label) > MAX_LABEL, "", meta.label, "dataset label longer than 40", "warning", "cut to 40"),
             (dataset.shape[1] > MAX_VARIABLES, "", dataset.shape[1], "more than 9999 variables", "error", "none")]
    issues = [issue_row(name, variable, None, value, *rest) for broken, variable, value, *rest in rules if broken]
    labels = dict(zip(variable_meta["variable"], variable_meta["label"]))
    for variable in dataset.columns:
        column = dataset[variable]
        if pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column):
            codes, uniques = factorize(column)   # lengths per distinct value; rows only for the too long ones
            too_long_codes = (byte_lengths(pd.Series(uniques, dtype=object)) > MAX_CHAR_BYTES).nonzero()[0]
            positions = np.isin(codes, too_long_codes).nonzero()[0] if len(too_long_codes) else []
            for position in positions[:20]:
                issues.append(issue_row(name, variable, int(position) + 1, str(column.iloc[position])[:60] + "...",
                                     "value longer than 200 bytes", "error",
                                     "none: split into SUPP-- (QNAM = variable + 1, 2 ...) in the SDTM mapping"))
        label = str(labels.get(variable, ""))
        rules = [(len(variable) > MAX_NAME, variable, "variable name longer than 8", "error", "none"),
                 (len(variable) <= MAX_NAME and not _NAME.match(variable), variable, "variable name not a SAS name",
                  "error", "none"),
                 (len(label) > MAX_LABEL, label, "variable label longer than 40", "warning", "cut to 40"),
                 (not label.isascii(), label, "variable label not ASCII", "warning", "transliterated")]
        issues += [issue_row(name, variable, None, value, *rest) for broken, value, *rest in rules if broken]
    return pd.DataFrame(issues, columns=ISSUE_COLUMNS).astype({"row": "Int64"})


def prepare_xpt_dataset(dataset: pd.DataFrame, variable_meta: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """The frame :func:`build_xpt_bytes` encodes, plus the SAS formats per variable.

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
    return pd.DataFrame(result, columns=list(dataset.columns), copy=False), formats


def write_xpt(path: str | Path, dataset: pd.DataFrame, meta: DatasetMeta, variable_meta: pd.DataFrame,
              stamp: str, prepared: tuple[pd.DataFrame, dict[str, str]] | None = None) -> Path:
    """Write ``dataset`` as XPT v5 to ``path`` with labels, formats and the fixed header ``stamp``.

    The file name must be the lower-case dataset name; labels longer than 40 are cut. ``prepared``: what
    :func:`prepare_xpt_dataset` gives for ``dataset`` and ``variable_meta``, when the caller already has it.

    >>> import tempfile, pathlib, pyreadstat
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
    frame, formats = prepared or prepare_xpt_dataset(dataset, variable_meta)
    labels = dict(zip(variable_meta["variable"], variable_meta["label"]))
    column_labels = [str(labels.get(v) or v)[:MAX_LABEL] for v in frame.columns]
    bad = [v for v in frame.columns if len(v) > MAX_NAME or not _NAME.match(v)]
    if bad or len(meta.name) > MAX_NAME or not _NAME.match(meta.name):
        raise InputError(f"{path}: cannot write XPT v5 for dataset {meta.name}: not SAS v5 names: {bad or [meta.name]}")
    try:
        chunks = build_xpt_chunks(frame, meta.name, meta.label[:MAX_LABEL], column_labels, formats, stamp)
    except (ValueError, UnicodeError) as exc:
        raise InputError(f"{path}: cannot write XPT v5 for dataset {meta.name} ({exc.__class__.__name__}: {exc})") from None
    return write_chunks_atomic(path, iter_ahead(chunks))   # the next records are built while these are written


def check_xpt_read_back(path: str | Path, dataset: pd.DataFrame, meta: DatasetMeta, variable_meta: pd.DataFrame,
                        prepared: tuple[pd.DataFrame, dict[str, str]] | None = None) -> list[str]:
    """Re-read ``path`` and compare names, labels, types, lengths and values with what was meant
    (``prepared`` as for :func:`write_xpt`).

    The file is decoded from its own headers; numbers are compared with a relative tolerance of 1e-12
    (IBM/370 floats keep 14 hex digits), text without trailing blanks. Empty when the file is faithful.

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> meta = DatasetMeta("VS", "Vital Signs", "SDTM", "FINDINGS", "", ())
    >>> vm = pd.DataFrame({"variable": ["VSSTRESN"], "label": ["Numeric Result"], "kind": ["float"], "display_format": [""], "length": [8]})
    >>> frame = pd.DataFrame({"VSSTRESN": [0.1, None]})
    >>> check_xpt_read_back(write_xpt(folder / "vs.xpt", frame, meta, vm, "01JAN00:00:00:00"), frame, meta, vm)
    []
    """
    expected, _ = prepared or prepare_xpt_dataset(dataset, variable_meta)
    with Path(path).open("rb") as handle:
        return _compare_xpt_file(handle, Path(path).name, expected, meta, variable_meta)


def _compare_xpt_file(handle: BinaryIO, where: str, expected: pd.DataFrame, meta: DatasetMeta,
                      variable_meta: pd.DataFrame) -> list[str]:
    """:func:`check_xpt_read_back` of an open file, reading its records ``READ_BACK_ROWS`` at a time."""
    problems: list[str] = []
    try:
        data = read_xpt_head(handle)
        name, label, variables, first = read_xpt_layout(data)
    except (ValueError, UnicodeError, struct.error) as exc:
        return [f"{where}: headers not readable as XPT v5 ({exc})"]
    if name != meta.name:
        problems.append(f"{where}: dataset name {name!r}, expected {meta.name!r}")
    if label != meta.label[:MAX_LABEL]:
        problems.append(f"{where}: dataset label {label!r}, expected {meta.label[:MAX_LABEL]!r}")
    names = [v["name"] for v in variables]
    if names != list(expected.columns):
        problems.append(f"{where}: columns {names}, expected {list(expected.columns)}")
        return problems
    row_length = sum(v["width"] for v in variables)
    rows = len(expected)
    size = os.fstat(handle.fileno()).st_size
    end = first + rows * row_length
    handle.seek(min(end, size))
    padding = handle.read()
    if len(padding) >= RECORD or padding.strip(b" ") or size < end:
        problems.append(f"{where}: {(size - first) // max(row_length, 1)} rows, expected {rows}")
        return problems
    labels = dict(zip(variable_meta["variable"], variable_meta["label"]))
    lengths = dict(zip(variable_meta["variable"], variable_meta.get("length", pd.Series(dtype=int))))
    kinds = dict(zip(variable_meta["variable"], variable_meta["kind"]))
    compared = []   # (variable, start, width, text table and codes or None, problems of the variable)
    for variable, read in zip(expected.columns, variables):
        found: list[str] = []
        want_label = str(labels.get(variable) or variable)[:MAX_LABEL]
        if read["label"] != want_label:
            found.append(f"{where}: {variable} label {read['label']!r}, expected {want_label!r}")
        is_char = kinds.get(variable, "char") == "char"
        if read["is_char"] != is_char:
            found.append(f"{where}: {variable} type {'string' if read['is_char'] else 'double'}, "
                         f"expected {'string' if is_char else 'double'}")
            problems += found
            continue
        width, start = read["width"], read["position"]
        if is_char and variable in lengths and width != int(lengths[variable]):
            found.append(f"{where}: {variable} length {width}, expected {int(lengths[variable])}")
        if (not is_char and width != 8) or width < 1 or start < 0 or start + width > row_length:
            found.append(f"{where}: {variable} at bytes {start} to {start + width} of a {row_length}-byte record, "
                         f"expected {'a text field inside it' if is_char else '8 bytes inside it'}")
            problems += found
            continue
        text = None
        if is_char:   # each row's bytes as one fixed-width string (no NUL: blank-padded), compared whole
            codes, table, want_width = encode_text_column(expected[variable].to_numpy())
            table = np.pad(table[:, :width], ((0, 0), (0, max(width - want_width, 0))), constant_values=ord(" "))
            text = np.ascontiguousarray(table).view(f"S{width}").ravel(), codes
        compared.append((variable, start, width, text, found))
    # every column of a record as one field: the file's values are read in place, without a copy per column
    fields = np.dtype({"names": [f"c{i}" for i in range(len(compared))],
                       "formats": [f"S{width}" if text is not None else ">u8" for _, _, width, text, _ in compared],
                       "offsets": [start for _, start, _, _, _ in compared], "itemsize": max(row_length, 1)})
    differences = {variable: [0, None] for variable, *_ in compared}   # count, (row, read back, expected) of the first
    handle.seek(first)
    for first_row in range(0, rows, READ_BACK_ROWS):
        count = min(READ_BACK_ROWS, rows - first_row)
        records = np.frombuffer(handle.read(count * row_length), dtype=fields, count=count)
        for index, (variable, start, width, text, _) in enumerate(compared):
            block = records[f"c{index}"]
            if text is not None:
                table, codes = text
                bad = (block != table[codes[first_row:first_row + count]]).nonzero()[0]
                if not len(bad):
                    continue
                got = [block[bad[0]:bad[0] + 1].tobytes().decode("utf-8", "replace").rstrip()]
                want = expected[variable].iloc[bad[:1] + first_row].tolist()
            else:
                numbers = ieee_from_ibm(block)
                meant = expected[variable].to_numpy(dtype="float64")[first_row:first_row + count]
                # equal numbers (or both missing) are close; only the others go through isclose
                unequal = ((meant != numbers) & ~(np.isnan(meant) & np.isnan(numbers))).nonzero()[0]
                bad = unequal[~np.isclose(meant[unequal], numbers[unequal], rtol=1e-12, atol=0.0, equal_nan=True)]
                if not len(bad):
                    continue
                got, want = numbers[bad[:1]].tolist(), meant[bad[:1]].tolist()
            seen = differences[variable]
            if seen[1] is None:
                seen[1] = (int(bad[0]) + first_row, got[0], want[0])
            seen[0] += len(bad)
    for variable, _, _, _, found in compared:
        problems += found
        count, example = differences[variable]
        if count:
            row, got, want = example
            problems.append(f"{where}: {variable} row {row + 1}: read back {got!r}, "
                            f"expected {want!r} ({count} value(s) differ)")
    return problems
