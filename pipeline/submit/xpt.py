"""SAS transport (XPORT) version 5 files that pass FDA technical checks, byte for byte reproducible.

Limits enforced (FDA Study Data Technical Conformance Guide, XPT v5): dataset and variable
names <= 8 characters (letters, digits, underscore, starting with a letter), labels <= 40
characters, character values <= 200 bytes of printable ASCII, lower-case file names, character
lengths = longest value. ADaM dates (``*DT``), datetimes (``*DTM``) and times (``*TM``) are
written as SAS numbers with ``DATE9.``, ``DATETIME20.`` and ``TIME8.`` formats. The header
records carry a fixed creation stamp so reruns are identical. The writer works a column at a time
(numpy) and its bytes equal what pyreadstat (ReadStat) writes (tests/submit/test_xpt_writer.py).
"""

from __future__ import annotations

import datetime as dt
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.common.dates import SAS_EPOCH
from pipeline.common.errors import InputError
from pipeline.common.io import write_bytes_atomic
from pipeline.submit._vector import as_text, byte_lengths, factorize
from pipeline.submit.metadata import DatasetMeta

MAX_NAME = 8
MAX_LABEL = 40
MAX_CHAR_BYTES = 200
MAX_VARIABLES = 9999
RECORD = 80
# NAMESTR (140 bytes): type, hash, length, number, name, label, format name, width, decimals, justification,
# filler, informat name, width, decimals, position in the observation, filler
_NAMESTR = struct.Struct(">hhhh8s40s8shhhh8shhi52s")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_XPT_STAMP = re.compile(r"\d\d[A-Z]{3}\d\d:\d\d:\d\d:\d\d")
_FORMAT = re.compile(r"(\$?[A-Za-z_]*?)(\d*)\.(\d*)")
ISSUE_COLUMNS = ["dataset", "variable", "row", "value", "check", "severity", "action"]


@dataclass(frozen=True)
class XptFlavour:
    """What tells a submission XPT from an EDC raw export: header release, NAMESTR justification, text rules."""

    release: bytes = b"6.06    bsd4.2  "   # SAS release and host OS written in the library and member headers
    numeric_justify: int = 1               # NAMESTR nfj of numeric variables
    encoding: str = "utf-8"                # values (labels are written in ``label_encoding``)
    label_encoding: str = "ascii"
    max_text_bytes: int | None = None      # longer text raises ValueError (else checked before writing)
    strict_numbers: bool = False           # out-of-range numbers raise ValueError instead of being clamped


SUBMISSION = XptFlavour()
RAW_EXPORT = XptFlavour(release=b"9.1     X64_LIN ", numeric_justify=0, encoding="latin-1", label_encoding="latin-1",
                        max_text_bytes=MAX_CHAR_BYTES, strict_numbers=True)   # as an EDC's SAS 9 export


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
            too_long = byte_lengths(column) > MAX_CHAR_BYTES
            for position in too_long.nonzero()[0][:20]:
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


def _namestr(index: int, name: str, label: str, is_char: bool, width: int, position: int, sas_format: str,
             flavour: XptFlavour) -> bytes:
    """One 140-byte NAMESTR record (variable descriptor) of an XPORT v5 member."""
    format_name, format_width, format_decimals = _parse_format(sas_format)
    return _NAMESTR.pack(2 if is_char else 1, 0, width, index + 1, name.encode("ascii").ljust(8),
                         label.encode(flavour.label_encoding).ljust(40), format_name.ljust(8), format_width,
                         format_decimals, 0 if is_char else flavour.numeric_justify, 0, b" " * 8, 0, 0, position, b"")


def _parse_format(sas_format: str) -> tuple[bytes, int, int]:
    """(name, width, decimals) of a SAS format such as ``DATE9.``, ``8.2`` or ``$CHAR20.``.

    >>> _parse_format("DATETIME20."), _parse_format("8.2"), _parse_format("")
    ((b'DATETIME', 20, 0), (b'', 8, 2), (b'', 0, 0))
    """
    if not sas_format:
        return b"", 0, 0
    match = _FORMAT.fullmatch(sas_format)
    if not match or len(match.group(1)) > MAX_NAME:
        raise InputError(f"SAS format {sas_format!r} is not NAMEw.d with a name of at most 8 characters")
    name, width, decimals = match.groups()
    return name.upper().encode("ascii"), int(width or 0), int(decimals or 0)


def _header(name: str, counts: tuple[int, ...] = (0,) * 6) -> bytes:
    text = f"HEADER RECORD*******{name:<8}HEADER RECORD!!!!!!!" + "".join(f"{n:05d}" for n in counts)
    return text.encode("ascii").ljust(RECORD)


def ibm_from_ieee(values: np.ndarray, strict: bool = False) -> np.ndarray:
    """IEEE doubles as big-endian IBM/370 doubles (the XPORT number format), missing (NaN) as ``.``.

    Exact: the 53-bit IEEE fraction fits the 56-bit IBM one. As SAS's reference routine (TS-140):
    magnitudes below 2**-260 (and -0.0) become 0, from 2**249 on the largest IBM number;
    ``strict`` raises ValueError for such nonzero numbers instead.

    >>> ibm_from_ieee(np.array([1.0, -118.625, np.nan, 0.0])).tobytes().hex(" ", 8)
    '4110000000000000 c276a00000000000 2e00000000000000 0000000000000000'
    """
    values = np.ascontiguousarray(values, dtype="float64")
    bits = values.view(np.uint64)
    sign = bits >> np.uint64(63)
    exponent = ((bits >> np.uint64(52)) & np.uint64(0x7FF)).astype(np.int64) - 1023
    fraction = (bits & np.uint64(0xFFFFFFFFFFFFF)) | np.uint64(1 << 52)
    if strict and np.any(((exponent < -260) | (exponent > 248)) & (values != 0) & ~np.isnan(values)):
        raise ValueError("number out of the IBM float range of SAS XPORT")
    fraction <<= (exponent & 3).astype(np.uint64)   # binary exponent -> hexadecimal exponent
    top = (np.clip((exponent >> 2) + 65, 0, 127).astype(np.uint64)) | (sign << np.uint64(7))
    ibm = (top << np.uint64(56)) | fraction
    ibm[exponent < -260] = 0
    too_large = exponent > 248
    ibm[too_large] = (((sign[too_large] << np.uint64(7)) | np.uint64(0x7F)) << np.uint64(56)) | np.uint64(0x00FFFFFFFFFFFFFF)
    ibm[np.isnan(values)] = np.uint64(0x2E << 56)
    return ibm.astype(">u8")


def ieee_from_ibm(words: np.ndarray) -> np.ndarray:
    """Big-endian IBM/370 doubles back to IEEE; missing values (``.``, ``.A`` ...) as NaN, the largest
    IBM number (what infinities and overflows are written as) as an infinity, as ReadStat reads them.

    >>> ieee_from_ibm(ibm_from_ieee(np.array([0.1, -2.5e-70, 5e74, np.nan]))).tolist()
    [0.1, -2.5e-70, 5e+74, nan]
    """
    words = np.asarray(words).astype(np.uint64)
    fraction = (words & np.uint64(0x00FFFFFFFFFFFFFF)).astype("float64")
    exponent = ((words >> np.uint64(56)) & np.uint64(0x7F)).astype(np.int64) - 64
    magnitude = np.ldexp(fraction, 4 * exponent - 56)
    values = np.where(words >> np.uint64(63), -magnitude, magnitude)
    missing = (fraction == 0) & (words >> np.uint64(56) != 0)
    values[missing] = np.nan
    largest = (words & np.uint64(0x7FFFFFFFFFFFFFFF)) == np.uint64(0x7FFFFFFFFFFFFFFF)
    values[largest] = np.where(words[largest] >> np.uint64(63), -np.inf, np.inf)   # as ReadStat reads it
    return values


def encode_text_column(values: np.ndarray, encoding: str = "utf-8") -> tuple[np.ndarray, np.ndarray, int]:
    """(codes, table, width) of a text column: ``table[codes]`` are the fixed-width blank-padded bytes.

    Missing values and empty strings are blanks; the width is the longest encoded value, at least 1.

    >>> codes, table, width = encode_text_column(np.array(["ab", None, "c", "ab"], dtype=object))
    >>> width, table[codes].tobytes()
    (2, b'ab  c ab')
    """
    codes, uniques = factorize(values)
    encoded = [str(v).encode(encoding).split(b"\0", 1)[0] for v in uniques] + [b""]
    width = max(1, max(len(b) for b in encoded))
    table = np.array(encoded, dtype=f"S{width}").view(np.uint8).reshape(len(encoded), width).copy()
    table[table == 0] = ord(" ")
    return codes, table, width


def build_xpt_bytes(frame: pd.DataFrame, name: str, file_label: str, labels: list[str], formats: dict[str, str],
                    stamp: str, flavour: XptFlavour = SUBMISSION) -> np.ndarray:
    """The complete XPORT v5 file of ``frame`` (float64 numbers, ``str``/None text) as one byte array.

    Layout (SAS TS-140): library and member headers, one NAMESTR per variable, then the
    observations as fixed-width records, each part padded with blanks to 80-byte records.

    >>> data = build_xpt_bytes(pd.DataFrame({"A": [1.0]}), "X", "", ["A"], {}, "01JAN00:00:00:00")
    >>> len(data), data[-80:-72].tobytes().hex()
    (960, '4110000000000000')
    """
    if not _XPT_STAMP.fullmatch(stamp):
        raise ValueError(f"build_xpt_bytes: stamp {stamp!r} is not ddMMMyy:hh:mm:ss")
    count = len(frame)
    columns = []   # (start, width, table, codes): a row's bytes are table[codes] (numbers: codes None)
    namestrs = []
    position = 0
    for index, (variable, label) in enumerate(zip(frame.columns, labels)):
        column = frame[variable].to_numpy()
        is_char = column.dtype == object
        if is_char:
            codes, table, width = encode_text_column(column, flavour.encoding)
            if flavour.max_text_bytes and width > flavour.max_text_bytes:
                raise ValueError(f"XPT column {variable}: text longer than {flavour.max_text_bytes} bytes")
        else:
            ibm = ibm_from_ieee(column, flavour.strict_numbers)
            codes, table, width = None, ibm.view(np.uint8).reshape(count, 8), 8
        columns.append((position, width, table, codes))
        namestrs.append(_namestr(index, variable, label, is_char, width, position, formats.get(variable, ""),
                                 flavour))
        position += width
    ts = stamp.encode("ascii")
    head = b"".join([
        _header("LIBRARY"),
        b"SAS     SAS     SASLIB  " + flavour.release + b" " * 24 + ts,
        ts.ljust(RECORD),
        _header("MEMBER", (0, 0, 0, 160, 0, 140)),
        _header("DSCRPTR"),
        b"SAS     " + name.encode("ascii")[:8].ljust(8) + b"SASDATA " + flavour.release + b" " * 24 + ts,
        ts + b" " * 16 + file_label.encode("utf-8")[:40].ljust(40) + b" " * 8,
        _header("NAMESTR", (0, len(namestrs), 0, 0, 0, 0)),
        b"".join(namestrs) + b" " * (-_NAMESTR.size * len(namestrs) % RECORD),
        _header("OBS"),
    ])
    data_bytes = count * position
    out = np.full(len(head) + data_bytes + (-data_bytes % RECORD), ord(" "), dtype=np.uint8)
    out[:len(head)] = np.frombuffer(head, dtype=np.uint8)
    records = out[len(head):len(head) + data_bytes].reshape(count, position)
    for start, width, table, codes in columns:
        records[:, start:start + width] = table if codes is None else table[codes]
    return out


def write_xpt(path: str | Path, dataset: pd.DataFrame, meta: DatasetMeta, variable_meta: pd.DataFrame,
              stamp: str) -> Path:
    """Write ``dataset`` as XPT v5 to ``path`` with labels, formats and the fixed header ``stamp``.

    The file name must be the lower-case dataset name; labels longer than 40 are cut.

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
    frame, formats = prepare_xpt_dataset(dataset, variable_meta)
    labels = dict(zip(variable_meta["variable"], variable_meta["label"]))
    column_labels = [str(labels.get(v) or v)[:MAX_LABEL] for v in frame.columns]
    bad = [v for v in frame.columns if len(v) > MAX_NAME or not _NAME.match(v)]
    if bad or len(meta.name) > MAX_NAME or not _NAME.match(meta.name):
        raise InputError(f"{path}: cannot write XPT v5 for dataset {meta.name}: not SAS v5 names: {bad or [meta.name]}")
    try:
        data = build_xpt_bytes(frame, meta.name, meta.label[:MAX_LABEL], column_labels, formats, stamp)
    except (ValueError, UnicodeError) as exc:
        raise InputError(f"{path}: cannot write XPT v5 for dataset {meta.name} ({exc.__class__.__name__}: {exc})") from None
    return write_bytes_atomic(path, memoryview(data))


def read_xpt_layout(data: bytes) -> tuple[str, str, list[dict], int]:
    """(dataset name, label, variables, offset of the first observation) from an XPORT v5 file's headers.

    Each variable: ``name, label, is_char, width, position, format``.

    >>> layout = read_xpt_layout(build_xpt_bytes(pd.DataFrame({"A": [1.0]}), "X", "L", ["Lab"], {"A": "DATE9."}, "01JAN00:00:00:00").tobytes())
    >>> layout[0], layout[1], layout[2][0]["format"], layout[3]
    ('X', 'L', 'DATE9', 880)
    """
    name = data[RECORD * 5 + 8:RECORD * 5 + 16].decode("ascii").rstrip()
    label = data[RECORD * 6 + 32:RECORD * 6 + 72].decode("utf-8", "replace").rstrip()
    count = int(data[RECORD * 7 + 54:RECORD * 7 + 58])
    start = RECORD * 8
    variables = []
    for index in range(count):
        kind, _, width, _, variable, text, format_name, format_width, format_decimals, *_, position, _ = \
            _NAMESTR.unpack_from(data, start + index * _NAMESTR.size)
        format_name = format_name.decode("ascii").rstrip()
        sas_format = f"{format_name}{format_width or ''}" + (f".{format_decimals}" if format_decimals else "") \
            if format_name or format_width else ""
        variables.append({"name": variable.decode("ascii").rstrip(), "label": text.decode("utf-8", "replace").rstrip(),
                          "is_char": kind == 2, "width": width, "position": position, "format": sas_format})
    descriptors = start + count * _NAMESTR.size
    return name, label, variables, descriptors + (-descriptors % RECORD) + RECORD


def check_xpt_read_back(path: str | Path, dataset: pd.DataFrame, meta: DatasetMeta,
                        variable_meta: pd.DataFrame) -> list[str]:
    """Re-read ``path`` and compare names, labels, types, lengths and values with what was meant.

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
    expected, _ = prepare_xpt_dataset(dataset, variable_meta)
    data = Path(path).read_bytes()
    where = Path(path).name
    problems: list[str] = []
    try:
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
    padding = data[first + rows * row_length:]
    if len(padding) >= RECORD or padding.strip(b" ") or len(data) < first + rows * row_length:
        problems.append(f"{where}: {(len(data) - first) // max(row_length, 1)} rows, expected {rows}")
        return problems
    records = np.frombuffer(data, dtype=np.uint8, count=rows * row_length, offset=first).reshape(rows, row_length)
    labels = dict(zip(variable_meta["variable"], variable_meta["label"]))
    lengths = dict(zip(variable_meta["variable"], variable_meta.get("length", pd.Series(dtype=int))))
    kinds = dict(zip(variable_meta["variable"], variable_meta["kind"]))
    for variable, read in zip(expected.columns, variables):
        want_label = str(labels.get(variable) or variable)[:MAX_LABEL]
        if read["label"] != want_label:
            problems.append(f"{where}: {variable} label {read['label']!r}, expected {want_label!r}")
        is_char = kinds.get(variable, "char") == "char"
        if read["is_char"] != is_char:
            problems.append(f"{where}: {variable} type {'string' if read['is_char'] else 'double'}, "
                            f"expected {'string' if is_char else 'double'}")
            continue
        width, start = read["width"], read["position"]
        if is_char and variable in lengths and width != int(lengths[variable]):
            problems.append(f"{where}: {variable} length {width}, expected {int(lengths[variable])}")
        block = records[:, start:start + width]
        if is_char:
            codes, table, want_width = encode_text_column(expected[variable].to_numpy())
            table = np.pad(table[:, :width], ((0, 0), (0, max(width - want_width, 0))), constant_values=ord(" "))
            bad = (~(block == table[codes]).all(axis=1)).nonzero()[0]
            got = [block[i].tobytes().decode("utf-8", "replace").rstrip() for i in bad[:1]]
            want = expected[variable].iloc[bad[:1]].tolist()
        else:
            numbers = ieee_from_ibm(block.copy().view(">u8").ravel())
            meant = expected[variable].to_numpy(dtype="float64")
            bad = (~np.isclose(meant, numbers, rtol=1e-12, atol=0.0, equal_nan=True)).nonzero()[0]
            got, want = numbers[bad[:1]].tolist(), meant[bad[:1]].tolist()
        if len(bad):
            problems.append(f"{where}: {variable} row {bad[0] + 1}: read back {got[0]!r}, "
                            f"expected {want[0]!r} ({len(bad)} value(s) differ)")
    return problems
