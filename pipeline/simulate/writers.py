"""Deterministic writers for the three raw formats: CSV (any delimiter/encoding), XLSX, SAS XPORT v5.

Same frame in, same bytes out: the XLSX package has fixed timestamps and member order, and the
XPT header timestamps are replaced by a fixed one.
"""

from __future__ import annotations

import io
import itertools
import zipfile

import numpy as np
import pandas as pd
from openpyxl.utils import get_column_letter

from pipeline.common.errors import ConfigError
from pipeline.common.vector import forget_columns
from pipeline.common.xpt import RAW_EXPORT, build_xpt_bytes

FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def _text_values(values) -> np.ndarray:
    """Values as ``str`` objects ('' for missing); rendered frames already hold only text."""
    values = np.asarray(values, dtype=object)
    try:
        "".join(values.tolist())
        return values
    except TypeError:
        missing = pd.isna(values)
        return np.array(["" if m else str(v) for v, m in zip(values.tolist(), missing)], dtype=object)


def _quote_csv(values: np.ndarray, delimiter: str) -> np.ndarray:
    special = (delimiter, '"', "\n", "\r")
    joined = "\x1f".join(values.tolist())
    if not any(ch in joined for ch in special):
        return values
    return np.array(['"' + v.replace('"', '""') + '"' if any(ch in v for ch in special) else v
                     for v in values.tolist()], dtype=object)


def compute_csv_bytes(frame: pd.DataFrame, delimiter: str = ",", encoding: str = "utf-8") -> bytes:
    """A frame of text as CSV bytes: header, ``\\n`` line ends, quotes only where needed.

    >>> compute_csv_bytes(pd.DataFrame({"a": ["x;y", "Fièvre"], "b": ["1", ""]}), ";", "latin-1")
    b'a;b\\n"x;y";1\\nFi\\xe8vre;\\n'
    """
    header = delimiter.join(_quote_csv(np.array([str(c) for c in frame.columns], dtype=object), delimiter).tolist())
    columns = [_quote_csv(_text_values(frame[col].to_numpy()), delimiter).tolist() for col in frame.columns]
    lines = "\n".join(map(delimiter.join, zip(*columns))) if len(frame) else ""
    text = header + "\n" + (lines + "\n" if lines else "")
    try:
        return text.encode(encoding)
    except UnicodeEncodeError as exc:
        bad = text[exc.start:exc.end]
        raise ConfigError(f"text '{bad}' cannot be written in encoding {encoding}") from None


def _escape(values) -> np.ndarray:
    """XML-escape text values (one C-level replace over the joined column)."""
    values = _text_values(values)
    joined = "\x1f".join(values.tolist())
    if not any(ch in joined for ch in "&<>"):
        return values
    joined = joined.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return np.array(joined.split("\x1f"), dtype=object)


_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
    '<Override PartName="/docProps/app.xml" ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/>'
    '</Types>')
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/>'
    '<Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/extended-properties" Target="docProps/app.xml"/>'
    '</Relationships>')
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>'
    '</Relationships>')
_STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    '</styleSheet>')
_APP = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
        '<Application>cdisc-pipeline simulate</Application></Properties>')


def compute_xlsx_bytes(frame: pd.DataFrame, sheet: str = "Export", numeric_columns=(),
                       timestamp: str = "2024-01-01T00:00:00Z") -> bytes:
    """A one-sheet XLSX workbook: header row, text cells (inline strings), number cells for
    ``numeric_columns``; an empty value is an empty cell. Fixed timestamps -> same bytes.

    >>> data = compute_xlsx_bytes(pd.DataFrame({"a": ["x", ""], "n": ["1.5", "2"]}), numeric_columns=["n"])
    >>> pd.read_excel(io.BytesIO(data), dtype=str).fillna("").values.tolist()
    [['x', '1.5'], ['', '2']]
    """
    letters = [get_column_letter(i + 1) for i in range(frame.shape[1])]
    n = len(frame)
    header = "".join(f'<c r="{col}1" t="inlineStr"><is><t>{_escape(np.array([name]))[0]}</t></is></c>'
                     for col, name in zip(letters, frame.columns))
    numeric = set(numeric_columns)
    pieces = [('<row r="' + np.arange(2, n + 2).astype(str).astype(object) + '">').tolist()]
    closing = "</row>"
    for i, name in enumerate(frame.columns):
        values = _escape(frame[name].to_numpy()).tolist()
        opening = "<c><v>" if name in numeric else '<c t="inlineStr"><is><t>'
        pieces.append(itertools.repeat((closing if i else "") + opening))
        pieces.append(values)
        closing = "</v></c>" if name in numeric else "</t></is></c>"
    pieces.append(itertools.repeat(closing + "</row>"))
    rows_xml = "".join(map("".join, zip(*pieces))) if n else ""
    sheet_xml = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                 '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
                 f'<row r="1">{header}</row>' + rows_xml + "</sheetData></worksheet>")
    workbook = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
                f'<sheets><sheet name="{sheet}" sheetId="1" r:id="rId1"/></sheets></workbook>')
    core = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><dc:creator>EDC export</dc:creator>'
            f'<dcterms:created xsi:type="dcterms:W3CDTF">{timestamp}</dcterms:created>'
            f'<dcterms:modified xsi:type="dcterms:W3CDTF">{timestamp}</dcterms:modified></cp:coreProperties>')
    members = [("[Content_Types].xml", _CONTENT_TYPES), ("_rels/.rels", _ROOT_RELS),
               ("docProps/app.xml", _APP), ("docProps/core.xml", core), ("xl/workbook.xml", workbook),
               ("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS), ("xl/styles.xml", _STYLES),
               ("xl/worksheets/sheet1.xml", sheet_xml)]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in members:
            info = zipfile.ZipInfo(name, date_time=FIXED_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, text.encode("utf-8"), compresslevel=1)
    return buffer.getvalue()


def compute_xpt_bytes(frame: pd.DataFrame, table_name: str, labels: list[str] | None = None,
                      numeric_columns=(), timestamp: str = "01JAN24:00:00:00") -> bytes:
    """SAS XPORT v5 bytes of an EDC export (the one XPT writer with the ``RAW_EXPORT`` flavour):
    latin-1 text, and 8-byte IBM floats for ``numeric_columns``; a fixed timestamp gives the same bytes.

    >>> data = compute_xpt_bytes(pd.DataFrame({"SUBJNO": ["1"], "WEIGHT": ["64.3"]}), "VS", numeric_columns=["WEIGHT"])
    >>> data[:80].decode()
    'HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!000000000000000000000000000000  '
    """
    too_long = [c for c in frame.columns if len(str(c)) > 8]
    if too_long:
        raise ConfigError(f"XPT variable names must have <= 8 characters: {too_long}")
    if len(table_name) > 8:
        raise ConfigError(f"XPT dataset name must have <= 8 characters: {table_name}")
    numeric = set(numeric_columns)
    columns = {}
    for name in frame.columns:
        values = _text_values(frame[name].to_numpy())
        columns[str(name).upper()] = (pd.to_numeric(pd.Series(values).replace("", np.nan)).to_numpy(dtype=float)
                                      if name in numeric else values)
    labels = [str(label or "")[:40].encode("latin-1", "replace").decode("latin-1")
              for label in (labels or [""] * frame.shape[1])]
    try:
        data = build_xpt_bytes(pd.DataFrame(columns, copy=False), table_name.upper(), "", labels, {},
                               timestamp, RAW_EXPORT)
    except ValueError as exc:   # UnicodeError too: a spec column name or label outside latin-1
        raise ConfigError(str(exc)) from None
    finally:
        forget_columns()   # the writer's per-column factorisations are of no use once the file is written
    return data.tobytes()
