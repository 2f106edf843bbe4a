"""SAS transport (XPORT) version 5 bytes, written and read a column at a time (numpy), byte for byte
reproducible: the one XPT writer of the submission package (``pipeline.submit.xpt``) and of the simulated EDC
exports (``pipeline.simulate.writers``), which differ only in their :class:`XptFlavour`.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import pandas as pd

from pipeline.common.errors import InputError
from pipeline.common.vector import factorize

MAX_NAME = 8
MAX_CHAR_BYTES = 200
RECORD = 80
# NAMESTR (140 bytes): type, hash, length, number, name, label, format name, width, decimals, justification,
# filler, informat name, width, decimals, position in the observation, filler
_NAMESTR = struct.Struct(">hhhh8s40s8shhhh8shhi52s")
_XPT_STAMP = re.compile(r"\d\d[A-Z]{3}\d\d:\d\d:\d\d:\d\d")
_FORMAT = re.compile(r"(\$?[A-Za-z_]*?)(\d*)\.(\d*)")


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
    exponent = (bits >> np.uint64(52)).view(np.int64)   # in place from here on: a few passes over large columns
    exponent &= 0x7FF
    exponent -= 1023
    if strict and np.any(((exponent < -260) | (exponent > 248)) & (values != 0) & ~np.isnan(values)):
        raise ValueError("number out of the IBM float range of SAS XPORT")
    fraction = bits & np.uint64(0xFFFFFFFFFFFFF)
    fraction |= np.uint64(1 << 52)
    fraction <<= (exponent & 3).view(np.uint64)   # binary exponent -> hexadecimal exponent
    ibm = exponent >> 2
    ibm += 65
    np.clip(ibm, 0, 127, out=ibm)
    ibm = ibm.view(np.uint64)
    ibm <<= np.uint64(56)
    ibm |= fraction
    ibm |= bits & np.uint64(1 << 63)   # the sign bit stays where it is
    tiny = exponent < -260
    if tiny.any():
        ibm[tiny] = 0
    too_large = exponent > 248
    if too_large.any():
        ibm[too_large] = (bits[too_large] & np.uint64(1 << 63)) | np.uint64(0x7FFFFFFFFFFFFFFF)
    ibm[np.isnan(values)] = np.uint64(0x2E << 56)
    return ibm.byteswap(inplace=True).view(">u8")


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
    head, columns, row_width = _xpt_layout(frame, name, file_label, labels, formats, stamp, flavour)
    data_bytes = len(frame) * row_width
    out = np.empty(len(head) + data_bytes + (-data_bytes % RECORD), dtype=np.uint8)
    out[:len(head)] = np.frombuffer(head, dtype=np.uint8)
    out[len(head) + data_bytes:] = ord(" ")
    _fill_records(out[len(head):len(head) + data_bytes].reshape(len(frame), row_width), columns, 0)
    return out


def build_xpt_chunks(frame: pd.DataFrame, name: str, file_label: str, labels: list[str], formats: dict[str, str],
                     stamp: str, flavour: XptFlavour = SUBMISSION, chunk_rows: int = 1 << 16) -> Iterator:
    """The bytes of :func:`build_xpt_bytes` as consecutive buffers (headers, then ``chunk_rows`` records at a
    time, then the padding), so a large file is written without holding it whole. Values are encoded (and
    their errors raised) before the first buffer is returned.

    >>> frame = pd.DataFrame({"A": [1.0, 2.0, 3.0]})
    >>> chunks = list(build_xpt_chunks(frame, "X", "", ["A"], {}, "01JAN00:00:00:00", chunk_rows=2))
    >>> [memoryview(chunk).nbytes for chunk in chunks][1:]
    [16, 8, 56]
    >>> b"".join(map(bytes, chunks)) == build_xpt_bytes(frame, "X", "", ["A"], {}, "01JAN00:00:00:00").tobytes()
    True
    """
    head, columns, row_width = _xpt_layout(frame, name, file_label, labels, formats, stamp, flavour)
    count = len(frame)

    def chunks() -> Iterator:
        yield head
        for first in range(0, count, chunk_rows):
            records = np.empty((min(chunk_rows, count - first), row_width), dtype=np.uint8)
            _fill_records(records, columns, first)
            yield records
        yield b" " * (-count * row_width % RECORD)
    return chunks()


def _xpt_layout(frame: pd.DataFrame, name: str, file_label: str, labels: list[str], formats: dict[str, str],
                stamp: str, flavour: XptFlavour) -> tuple[bytes, list[tuple], int]:
    """(header bytes, columns, record width) of an XPORT v5 file; each column is (start, width, table, codes):
    a record's bytes of the column are ``table[codes[row]]`` (numbers: ``table[row]``, codes None)."""
    if not _XPT_STAMP.fullmatch(stamp):
        raise ValueError(f"build_xpt_bytes: stamp {stamp!r} is not ddMMMyy:hh:mm:ss")
    count = len(frame)
    columns = []
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
    return head, columns, position


def _fill_records(records: np.ndarray, columns: list[tuple], first_row: int) -> None:
    """Fill ``records`` (rows from ``first_row`` on, one record each) column by column; the columns cover
    every byte of a record, so ``records`` needs no initial value."""
    rows = slice(first_row, first_row + len(records))
    for start, width, table, codes in columns:
        records[:, start:start + width] = table[rows] if codes is None else table[codes[rows]]


def read_xpt_head(handle: BinaryIO) -> bytes:
    """The header records of an open XPORT v5 file (up to its first observation), for :func:`read_xpt_layout`;
    the file is left at its first observation.

    >>> import io
    >>> data = build_xpt_bytes(pd.DataFrame({"A": [1.0]}), "X", "", ["A"], {}, "01JAN00:00:00:00").tobytes()
    >>> len(read_xpt_head(io.BytesIO(data)))
    880
    """
    head = handle.read(RECORD * 8)
    count = int(head[RECORD * 7 + 54:RECORD * 7 + 58])
    descriptors = RECORD * 8 + count * _NAMESTR.size
    return head + handle.read(descriptors + (-descriptors % RECORD) + RECORD - len(head))


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
