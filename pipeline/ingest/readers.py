"""Read raw site exports as text, whatever their format, and give every row its lineage ids.

Every reader returns a frame of strings (``dtype=str``, empty string for a blank cell): pandas
never guesses a type, never turns ``NA`` or ``N`` into a missing value. Four lineage columns are
added at ingest and travel with the row through every later step:

``_file``  the file path relative to the raw directory (posix separators)
``_row``   1-based data-record number in that file (header excluded)
``_site``  the site id (from the reader options, usually taken from the folder name)
``_subject`` the subject number as written in the file (filled by the mapping engine)
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.common.errors import InputError
from pipeline.common.io import sha256_file

LINEAGE_COLUMNS = ["_file", "_row", "_site", "_subject"]
FORMATS = ("csv", "xlsx", "xpt", "sas7bdat")
_SUFFIX_FORMAT = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx",
                  ".xpt": "xpt", ".sas7bdat": "sas7bdat"}
# option -> kind of value (pipeline.common.specfile.KINDS), checked where a spec is loaded
READER_OPTION_KINDS = {"format": "text", "delimiter": "char", "decimal": "char", "encoding": "encoding", "sheet": "sheet",
                       "skip_rows": "count", "quotechar": "char", "strip": "flag", "upper_case_columns": "flag"}


@dataclass(frozen=True)
class ReaderOptions:
    """How to read one raw file.

    ``decimal`` is not used while reading (everything stays text); the mapping engine uses it to
    normalise the decimal mark of numeric columns.

    >>> ReaderOptions.from_dict({"delimiter": ";", "decimal": ","}).delimiter
    ';'
    """

    format: str | None = None
    delimiter: str = ","
    decimal: str = "."
    encoding: str = "utf-8"
    sheet: str | int | None = None
    skip_rows: int = 0
    quotechar: str = '"'
    strip: bool = True
    upper_case_columns: bool = False

    @classmethod
    def from_dict(cls, options: dict[str, Any] | None, where: str = "reader options") -> "ReaderOptions":
        """Build options from a mapping file's ``reader:`` block; unknown keys are an error."""
        options = dict(options or {})
        unknown = sorted(set(options) - set(READER_OPTION_KINDS))
        if unknown:
            raise InputError(f"{where}: unknown reader option(s) {', '.join(unknown)} "
                             f"(known: {', '.join(sorted(READER_OPTION_KINDS))})")
        if options.get("format") is not None and options["format"] not in FORMATS:
            raise InputError(f"{where}: unknown reader format '{options['format']}' (known: {', '.join(FORMATS)})")
        if "delimiter" in options and options["delimiter"] in ("\\t", "tab"):
            options["delimiter"] = "\t"
        return cls(**options)


def detect_format(path: Path, options: ReaderOptions) -> str:
    """The declared format, else the one implied by the file suffix.

    >>> detect_format(Path("site_101/ae.XPT"), ReaderOptions())
    'xpt'
    """
    if options.format:
        return options.format
    fmt = _SUFFIX_FORMAT.get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"{path}: cannot tell the file format from the suffix '{path.suffix}' "
                         f"(declare reader: {{format: ...}} in the mapping)")
    return fmt


def _clean_text_frame(frame: pd.DataFrame, options: ReaderOptions, stripped: bool = False) -> pd.DataFrame:
    """Every cell as text, missing as '' (stripped unless the reader did it): a column that is text
    already is kept as it is, and each distinct value is stripped once.

    >>> _clean_text_frame(pd.DataFrame({" A": [" x", None], "B": [1, 2]}), ReaderOptions()).to_dict("list")
    {'A': ['x', ''], 'B': ['1', '2']}
    """
    columns = {}
    for position in range(frame.shape[1]):
        values = frame.iloc[:, position]
        if pd.api.types.infer_dtype(values, skipna=False) != "string":  # numbers, or missing cells
            values = values.astype(object).where(values.notna(), "").astype(str)
        if options.strip and not stripped:
            codes, uniques = pd.factorize(values)
            values = pd.Series(np.array([u.strip() for u in uniques], dtype=object).take(codes) if len(uniques)
                               else values.to_numpy(dtype=object), dtype=object)
        columns[position] = values.to_numpy(dtype=object)
    names = [str(c).strip() for c in frame.columns]
    frame = pd.DataFrame(columns, index=frame.index, dtype=object)  # by position: a header may repeat a name
    columns = names
    if options.upper_case_columns:
        columns = [c.upper() for c in columns]
    frame.columns = columns
    return frame


def _read_csv(path: Path, options: ReaderOptions) -> pd.DataFrame:
    try:
        text = path.read_bytes().decode(options.encoding)
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: cannot decode byte {exc.start} as {options.encoding} "
                         f"(declare the site's encoding in the mapping reader options)") from None
    except LookupError:
        raise InputError(f"{path}: unknown encoding '{options.encoding}'") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    fast = _read_csv_arrow(text, options)
    if fast is not None:
        return fast
    # Check the record structure first, so a ragged row is reported with its number.
    reader = csv.reader(io.StringIO(text), delimiter=options.delimiter, quotechar=options.quotechar)
    try:
        records = list(reader)
    except csv.Error as exc:
        raise InputError(f"{path}: unreadable CSV near line {reader.line_num}: {exc}") from None
    records = records[options.skip_rows:]
    records = [r for r in records if r]  # blank lines are not records; a line of empty fields is kept (and counted)
    if not records:
        raise InputError(f"{path}: empty file (no header row)")
    if options.strip:
        records = [[cell.strip() for cell in record] for record in records]
    header, body = records[0], records[1:]
    width = len(header)
    for number, record in enumerate(body, start=1):
        if len(record) != width:
            raise InputError(f"{path}: row {number}: {len(record)} fields where the header has {width} "
                             f"(delimiter '{options.delimiter}')")
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if duplicated:
        raise InputError(f"{path}: duplicated column name(s) {', '.join(duplicated)} in the header")
    return pd.DataFrame(body, columns=header, dtype=str)


# Text the arrow reader would read otherwise than Python's csv module (which reads it, or refuses it).
_ARROW_CSV_UNLIKE = ("\x00",)


def _read_csv_arrow(text: str, options: ReaderOptions) -> pd.DataFrame | None:
    """An unquoted CSV (the big exports) parsed by pyarrow, the same strings the csv module gives;
    None for anything else (quotes, skipped rows, ragged rows, duplicated names): the csv module
    reads it and reports its problems."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from pyarrow import csv as arrow_csv

    if (options.skip_rows or options.quotechar in text or any(c in text for c in _ARROW_CSV_UNLIKE)
            or text[:1] in ("\r", "\n", "") or text.count("\r") != text.count("\r\n")):
        return None  # a lone carriage return: the csv module refuses the file
    try:
        header = next(csv.reader(io.StringIO(text), delimiter=options.delimiter, quotechar=options.quotechar))
    except csv.Error:
        return None
    if len(set(header)) != len(header):
        return None
    try:
        table = arrow_csv.read_csv(
            io.BytesIO(text.encode("utf-8")),
            parse_options=arrow_csv.ParseOptions(delimiter=options.delimiter, quote_char=False, double_quote=False,
                                                 escape_char=False, newlines_in_values=False, ignore_empty_lines=True),
            convert_options=arrow_csv.ConvertOptions(column_types={name: pa.string() for name in header},
                                                     strings_can_be_null=False, quoted_strings_can_be_null=False))
    except pa.ArrowInvalid:
        return None
    if table.column_names != header or any(
            (pc.max(pc.utf8_length(column)).as_py() or 0) > csv.field_size_limit() for column in table.columns):
        return None  # a field the csv module refuses as too long
    columns = {}
    for position in range(table.num_columns):
        values = table.column(position).to_numpy(zero_copy_only=False)
        if options.strip:  # each distinct value stripped once
            codes, uniques = pd.factorize(values)
            values = np.array([u.strip() for u in uniques], dtype=object).take(codes) if len(uniques) else values
        columns[position] = values
    frame = pd.DataFrame(columns, dtype=object)
    frame.columns = [name.strip() for name in header] if options.strip else header
    return frame


def _read_xlsx(path: Path, options: ReaderOptions) -> pd.DataFrame:
    rows = _xlsx_rows_calamine(path, options)
    if rows is None:
        rows = _xlsx_rows_openpyxl(path, options)
    rows = rows[options.skip_rows:]
    while rows and not any(v is not None and str(v).strip() for v in rows[-1]):
        rows.pop()  # trailing formatted-but-empty rows; empty rows inside the sheet are kept (and counted)
    if not rows:
        raise InputError(f"{path}: empty sheet (no header row)")
    header = [("" if v is None else str(v)) for v in rows[0]]
    while header and header[-1] == "":
        header.pop()
    width = len(header)
    # text cells (nearly all of an export) pass as they are; other cells are converted one by one
    body = [[v if v.__class__ is str else _excel_cell_text(v) for v in r[:width]] + [""] * (width - len(r))
            for r in rows[1:]]
    if options.strip:
        body = [[cell.strip() for cell in record] for record in body]
    return pd.DataFrame(body, columns=header, dtype=str)


def _xlsx_rows_openpyxl(path: Path, options: ReaderOptions) -> list[list[Any]]:
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a broken archive
        raise InputError(f"{path}: unreadable XLSX workbook ({type(exc).__name__}: {exc})") from None
    try:
        if options.sheet is None:
            sheet = book.worksheets[0]
        elif isinstance(options.sheet, int):
            sheet = book.worksheets[options.sheet]
        elif options.sheet in book.sheetnames:
            sheet = book[options.sheet]
        else:
            raise InputError(f"{path}: no sheet '{options.sheet}' (sheets: {', '.join(book.sheetnames)})")
        return [list(r) for r in sheet.iter_rows(values_only=True)]
    finally:
        book.close()


# What calamine reads differently from openpyxl: error cells (calamine: empty, openpyxl: '#N/A') and
# _xHHHH_ escapes (calamine decodes them, openpyxl keeps the text as written).
_CALAMINE_UNLIKE_OPENPYXL = (b't="e"', b"_x")
_EXACT_WHOLE_FLOAT = 2.0 ** 53   # above it a whole number's digits depend on the parser (int vs float)


def _xlsx_rows_calamine(path: Path, options: ReaderOptions) -> list[list[Any]] | None:
    """The sheet's cells read with calamine (Rust, ~10x openpyxl's speed), as openpyxl reads them, or
    None when the workbook holds something calamine reads differently (then openpyxl reads it)."""
    import zipfile

    from python_calamine import CalamineWorkbook, SheetTypeEnum

    try:
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                if name.startswith("xl/worksheets/") or name == "xl/sharedStrings.xml":
                    xml = archive.read(name)
                    if any(marker in xml for marker in _CALAMINE_UNLIKE_OPENPYXL):
                        return None
        book = CalamineWorkbook.from_path(str(path))
    except Exception:  # a broken archive: openpyxl reports it
        return None
    try:
        names = [m.name for m in book.sheets_metadata if m.typ == SheetTypeEnum.WorkSheet]
        if options.sheet is None or isinstance(options.sheet, int):
            name = names[options.sheet or 0]
        elif options.sheet in names:
            name = options.sheet
        else:
            return None  # openpyxl names the sheets in its message
        rows = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
    except Exception:
        return None
    finally:
        book.close()
    if len(rows) > options.skip_rows and any(v.__class__ is not str for v in rows[options.skip_rows]):
        return None  # a header cell that is a number or a date: openpyxl's str() of it is the column name
    for row in rows:
        for value in row:
            if value.__class__ is float and abs(value) >= _EXACT_WHOLE_FLOAT and value.is_integer():
                return None
    return rows


def _excel_cell_text(value: Any) -> str:
    """Excel cells as text: dates as ISO, whole floats without '.0', blanks as ''."""
    import datetime as dt

    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0):
            return value.date().isoformat()
        return value.isoformat(timespec="minutes" if value.second == 0 else "seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(int(value)) if value.is_integer() else repr(value)
    return str(value)


def _read_sas(path: Path, options: ReaderOptions, fmt: str) -> pd.DataFrame:
    import pyreadstat

    reader = pyreadstat.read_xport if fmt == "xpt" else pyreadstat.read_sas7bdat
    try:
        frame, _meta = reader(str(path), encoding=options.encoding if fmt == "sas7bdat" else None)
    except Exception as exc:  # pyreadstat raises ReadstatError/PyreadstatError
        raise InputError(f"{path}: unreadable {fmt.upper()} file ({type(exc).__name__}: {exc})") from None
    out = pd.DataFrame(index=frame.index)
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values):  # each distinct number formatted once: 170.0 -> '170', 70.5 -> '70.5'
            numbers = values.to_numpy(dtype="float64")
            distinct = pd.unique(numbers[~np.isnan(numbers)])
            text = values.map({v: repr(int(v)) if float(v).is_integer() else repr(float(v)) for v in distinct}).fillna("")
        elif pd.api.types.is_datetime64_any_dtype(values):
            text = values.dt.strftime("%Y-%m-%d").fillna("")
        else:
            text = values.astype(object).where(values.notna(), "")
        out[column] = text.astype(str)
    return out


def read_raw_file(path: str | Path, options: ReaderOptions | None = None) -> pd.DataFrame:
    """Read one raw export as a frame of strings (no type guessing, blanks as '').

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "dm.csv").write_text("SUBJ;SEX;HEIGHT\\n001;N;170,5\\n", encoding="utf-8")
    >>> read_raw_file(folder / "dm.csv", ReaderOptions(delimiter=";")).to_dict("records")
    [{'SUBJ': '001', 'SEX': 'N', 'HEIGHT': '170,5'}]
    """
    path = Path(path)
    options = options or ReaderOptions()
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    fmt = detect_format(path, options)
    if fmt == "csv":
        frame = _read_csv(path, options)
    elif fmt == "xlsx":
        frame = _read_xlsx(path, options)
    else:
        frame = _read_sas(path, options, fmt)
    return _clean_text_frame(frame, options, stripped=fmt in ("csv", "xlsx")).reset_index(drop=True)


def add_lineage(frame: pd.DataFrame, file: str, site: str) -> pd.DataFrame:
    """A copy of ``frame`` with lineage columns ``_file``, ``_row`` (1-based), ``_site``, ``_subject``.

    >>> add_lineage(pd.DataFrame({"A": ["x", "y"]}), "site_101/ae.csv", "101")[["_file", "_row", "_site"]].values.tolist()
    [['site_101/ae.csv', 1, '101'], ['site_101/ae.csv', 2, '101']]
    """
    out = frame.copy()
    out["_file"] = file
    out["_row"] = np.arange(1, len(out) + 1, dtype="int64")
    out["_site"] = site
    out["_subject"] = ""
    return out


def file_manifest_entry(path: Path, relative: str, rows: int, fmt: str) -> dict[str, Any]:
    """One manifest row: path relative to the raw dir, size in bytes, SHA-256, rows read, format.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.csv"; _ = p.write_text("A\\n1\\n")
    >>> file_manifest_entry(p, "a.csv", 1, "csv")["size"]
    4
    """
    return {"path": relative, "size": path.stat().st_size, "sha256": sha256_file(path), "rows_read": int(rows),
            "format": fmt}
