"""Atomic, deterministic writers and safe readers used by every stage."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import signal
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.common.errors import InputError


# Fault injection, for tests only (tests/common/test_crash_consistency.py): with the environment
# variable PIPELINE_FAULT_AFTER_WRITES=N the process kills itself with SIGKILL once the N-th file of
# this process is written to its temporary name, before the rename, as a crash or `kill -9` would.
FAULT_ENV = "PIPELINE_FAULT_AFTER_WRITES"
_writes_done = 0


def _fault_point() -> None:
    global _writes_done
    limit = os.environ.get(FAULT_ENV)
    if not limit:
        return
    _writes_done += 1
    if _writes_done >= int(limit):
        os.kill(os.getpid(), signal.SIGKILL)


@contextmanager
def _atomic_path(path: Path) -> Iterator[str]:
    """A temporary file beside ``path`` to write; renamed onto ``path`` (mode 644) only on success.

    An interrupted run never leaves a half-written file behind.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield tmp
        _fault_point()
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    path = Path(path)
    with _atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)
    return path


# SHA-256 of the files write_chunks_atomic wrote in this process, computed from the bytes as they were written, so
# that sha256_files need not read gigabytes of XPT and Dataset-JSON back (the submission manifest and the stage's
# completion marker both list them). Keyed on the file's identity and its change time: any later write, truncation,
# chmod or rename of the file itself moves its ctime, so a digest is only ever given for the untouched file.
_written_digests: dict[tuple[int, ...], str] = {}


def _file_identity(path: str | Path) -> tuple[int, ...]:
    status = os.stat(path)
    return status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns


def write_chunks_atomic(path: str | Path, chunks: Iterable) -> Path:
    """Write the bytes-like ``chunks`` one after another to ``path``, through a temporary file and a rename,
    so a large file (XPT, Dataset-JSON) is never held whole. The SHA-256 of the bytes is computed as they are
    written, for :func:`sha256_files`.

    >>> import tempfile, numpy as np
    >>> path = Path(tempfile.mkdtemp()) / "x.json"
    >>> write_chunks_atomic(path, [b"[", memoryview(b"1"), np.frombuffer(b"2]", dtype=np.uint8)]).read_bytes()
    b'[12]'
    >>> sha256_files([path]) == [hashlib.sha256(b"[12]").hexdigest()] == [sha256_file(path)]
    True
    """
    path = Path(path)
    digest = hashlib.sha256()
    with _atomic_path(path) as tmp, open(tmp, "wb") as handle:
        for chunk in chunks:
            handle.write(chunk)
            digest.update(chunk)
    _written_digests[_file_identity(path)] = digest.hexdigest()
    return path


def write_text_atomic(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    return write_bytes_atomic(path, text.encode(encoding))


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    """Deterministic JSON: sorted keys, two-space indent, trailing newline."""
    text = json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n"
    return write_text_atomic(path, text)


PARQUET_ROW_GROUP_ROWS = 1024 * 1024  # pq.write_table's default row group size


def write_parquet_atomic(path: str | Path, frame: pd.DataFrame, row_group_rows: int = PARQUET_ROW_GROUP_ROWS) -> Path:
    """Parquet without the pandas index and without volatile metadata, so reruns are byte-identical.

    A frame of more than one row group is converted to Arrow one row group at a time (the largest datasets hold
    millions of records), which gives the file of the whole frame's conversion as long as every slice converts to
    the types of the first; when one does not (a column empty in one slice, numbers in one and text in another),
    the whole frame is converted, so the file never depends on how the frame was cut.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> frame = pd.DataFrame({"USUBJID": [f"S-{i % 7}" for i in range(25)], "LBSTRESN": [i / 4 for i in range(25)]})
    >>> _ = write_parquet_atomic(folder / "a.parquet", frame, row_group_rows=10)
    >>> import pyarrow.parquet as pq; pq.ParquetFile(folder / "a.parquet").metadata.num_row_groups
    3
    """
    import pyarrow as pa

    path = Path(path)
    frame = frame.reset_index(drop=True)
    if len(frame) > row_group_rows:
        slices = (pa.Table.from_pandas(frame.iloc[start:start + row_group_rows], preserve_index=False)
                  for start in range(0, len(frame), row_group_rows))
        try:
            return write_parquet_tables_atomic(path, slices, row_group_rows)
        except (pa.ArrowException, ValueError, TypeError):
            pass  # the whole frame decides the types (or raises the error it always raised)
    return write_parquet_table_atomic(path, pa.Table.from_pandas(frame, preserve_index=False), row_group_rows)


def write_parquet_table_atomic(path: str | Path, table: Any, row_group_rows: int = PARQUET_ROW_GROUP_ROWS) -> Path:
    """An Arrow table written as :func:`write_parquet_atomic` writes a frame (the same options, the same bytes).

    >>> import tempfile, pyarrow as pa
    >>> path = write_parquet_table_atomic(Path(tempfile.mkdtemp()) / "adsl.parquet", pa.table({"USUBJID": ["1"]}))
    >>> read_parquet(path)["USUBJID"].tolist()
    ['1']
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    with _atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd", write_statistics=False, row_group_size=row_group_rows)
    del table
    pa.default_memory_pool().release_unused()  # hand the table's buffers back now, not at the allocator's leisure
    return path


def write_parquet_tables_atomic(path: str | Path, tables: Iterable[Any], row_group_rows: int = PARQUET_ROW_GROUP_ROWS) -> Path:
    """Arrow tables of one schema, each of ``row_group_rows`` rows but the last, written one after another as the
    row groups of one file: the bytes of :func:`write_parquet_table_atomic` on their concatenation, while only one
    table is held at a time (``tables`` may build each on demand). A table whose schema differs from the first's
    raises ``ValueError`` and leaves no file. (Used by the adam stage.)

    >>> import tempfile, pyarrow as pa
    >>> folder = Path(tempfile.mkdtemp())
    >>> whole = pa.table({"USUBJID": [f"S-{i}" for i in range(25)]})
    >>> _ = write_parquet_table_atomic(folder / "a.parquet", whole, row_group_rows=10)
    >>> parts = (whole.slice(start, 10) for start in range(0, 25, 10))
    >>> _ = write_parquet_tables_atomic(folder / "b.parquet", parts, row_group_rows=10)
    >>> (folder / "a.parquet").read_bytes() == (folder / "b.parquet").read_bytes()
    True
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    with _atomic_path(path) as tmp:
        writer = None
        try:
            for table in tables:
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema, compression="zstd", write_statistics=False)
                elif not table.schema.equals(writer.schema, check_metadata=True):
                    raise ValueError(f"{path.name}: a part's schema differs from the first part's")
                writer.write_table(table, row_group_size=row_group_rows)
                del table
                pa.default_memory_pool().release_unused()
            if writer is None:
                raise ValueError(f"{path.name}: no table to write")
        finally:
            if writer is not None:
                writer.close()
    return path


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def escape_spreadsheet_formula(value: object) -> object:
    """Make a cell safe to open in a spreadsheet (OWASP CSV injection).

    Rule: text that starts with ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a leading
    single quote, EXCEPT a plain number such as ``-2.8`` or ``+1e3``: a spreadsheet reads it as a
    number, never as a formula, so it stays readable. Null stays null.

    >>> [escape_spreadsheet_formula(v) for v in ["-2.8", "=1+2", "@SUM(A1)", "-P10D", "ok", None]]
    ['-2.8', "'=1+2", "'@SUM(A1)", "'-P10D", 'ok', None]
    """
    if value is None or (isinstance(value, float) and value != value):
        return value
    text = str(value)
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.match(text):
        return "'" + text
    return text


def for_spreadsheet(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells (and column names) are escaped by :func:`escape_spreadsheet_formula`.

    >>> for_spreadsheet(pd.DataFrame({"value": ["=1+1", "ok"], "n": [-1, 2]})).values.tolist()
    [["'=1+1", -1], ['ok', 2]]
    """
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if values.dtype != object and not pd.api.types.is_string_dtype(values):
            continue
        risky = values.notna() & values.astype("string").str.match(r"^[=+\-@\t\r]", na=False)
        if risky.any():
            out[column] = values.astype(object)
            out.loc[risky, column] = values[risky].map(escape_spreadsheet_formula)
    out.columns = [escape_spreadsheet_formula(str(c)) for c in out.columns]
    return out


def read_spreadsheet_csv(path: str | Path) -> pd.DataFrame:
    """Read a CSV written by :func:`write_csv_atomic` back to its values (text; the quote added
    before a formula-like cell is removed again).

    >>> import tempfile
    >>> path = write_csv_atomic(Path(tempfile.mkdtemp()) / "x.csv", pd.DataFrame({"title": ["--DY = date - RFSTDTC", "ok"]}))
    >>> read_spreadsheet_csv(path)["title"].tolist()
    ['--DY = date - RFSTDTC', 'ok']
    """
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    unquote = lambda text: text[1:] if text[:1] == "'" and text[1:2] in _FORMULA_START else text  # noqa: E731
    frame.columns = [unquote(str(c)) for c in frame.columns]
    for column in frame.columns:
        frame[column] = frame[column].map(unquote)
    return frame


def csv_text(frame: pd.DataFrame, **kwargs: Any) -> str:
    r"""A frame as spreadsheet-safe CSV text (:func:`for_spreadsheet`), ``\n`` line ends, no index; when a
    cell holds a carriage return every text cell is quoted, so no spreadsheet splits that row.

    >>> csv_text(pd.DataFrame({"a": ["x\ry", "=1"], "n": [1, 2]})).split("\n")
    ['"a","n"', '"x\ry",1', '"\'=1",2', '']
    """
    safe = for_spreadsheet(frame)
    text_columns = [c for c in safe.columns if safe[c].dtype == object]
    has_cr = any(safe[c].astype(str).str.contains("\r", regex=False).any() for c in text_columns)
    return safe.to_csv(index=False, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC if has_cr else csv.QUOTE_MINIMAL,
                       **kwargs)


def write_csv_atomic(path: str | Path, frame: pd.DataFrame, byte_order_mark: bool = False, **kwargs: Any) -> Path:
    """Every CSV the pipeline writes: :func:`csv_text`, optionally with a UTF-8 byte-order mark (spreadsheets
    then read accents right)."""
    return write_text_atomic(path, ("\ufeff" if byte_order_mark else "") + csv_text(frame, **kwargs))


def read_parquet(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found (run the stage that writes it first)")
    return pd.read_parquet(path)


def read_parquet_distinct_text(path: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    """``read_parquet(path)`` (only ``columns`` when given), the same frame, with each text column (pandas
    ``object`` or ``string``) read as its distinct values and their codes, then spread to the records: Arrow
    neither builds nor hashes a string per record, and a repeated value (USUBJID, PARAMCD) is held once.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "lb.parquet"
    >>> pd.DataFrame({"LBTESTCD": ["ALB", None, "ALB"], "VISIT": pd.array(["W1", None, "W1"], dtype="string"),
    ...               "LBSTRESN": [1.0, None, 2.0]}).to_parquet(path)
    >>> frame = read_parquet_distinct_text(path)
    >>> frame["LBTESTCD"].tolist(), frame["VISIT"].tolist(), frame["LBTESTCD"][0] is frame["LBTESTCD"][2]
    (['ALB', None, 'ALB'], ['W1', <NA>, 'W1'], True)
    >>> frame.dtypes.astype(str).tolist()
    ['object', 'string', 'float64']
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.exists():
        return read_parquet(path)  # (its error message)
    schema = pq.read_schema(path)
    names = schema.names if columns is None else columns
    pandas_columns = json.loads((schema.metadata or {}).get(b"pandas", b"{}")).get("columns", [])
    pandas_types = {str(c.get("field_name", c.get("name"))): c.get("numpy_type") for c in pandas_columns}
    if len(set(schema.names)) != len(schema.names) or len(set(names)) != len(names):
        return pd.read_parquet(path, columns=columns)
    text = [c for c in names if schema.field(c).type == pa.string() and pandas_types.get(c) in ("object", "string")]
    if not text:
        return pd.read_parquet(path, columns=columns)
    frame = pq.read_table(path, columns=columns, read_dictionary=text).to_pandas()
    for column in text:
        values = frame[column].array  # a Categorical: distinct values and codes (-1: missing, the last appended)
        if pandas_types[column] == "object":
            frame[column] = np.append(values.categories.to_numpy(dtype=object), None).take(values.codes)
        else:
            distinct = np.append(values.categories.to_numpy(dtype=object), pd.NA)
            frame[column] = pd.arrays.StringArray(distinct.take(values.codes))
    return frame


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


HASH_THREADS = 2   # files hashed at a time: hashlib releases the GIL, and outputs are gigabytes at scale


def sha256_files(paths: list[Path]) -> list[str]:
    """The SHA-256 of each file, in the order given (:data:`HASH_THREADS` files at a time). A file that
    :func:`write_chunks_atomic` wrote and nothing has touched since (same inode, size, mtime and ctime) is not
    read again: its digest was computed from the bytes written.

    >>> import tempfile
    >>> path = write_chunks_atomic(Path(tempfile.mkdtemp()) / "x.json", [b"[1]"])
    >>> _ = path.write_bytes(b"[2]")   # changed after writing: read again
    >>> sha256_files([path]) == [hashlib.sha256(b"[2]").hexdigest()]
    True
    """
    from concurrent.futures import ThreadPoolExecutor

    digests: list[str | None] = [_written_digests.get(_file_identity(path)) for path in paths]
    unknown = [index for index, digest in enumerate(digests) if digest is None]
    if len(unknown) < 2:
        read = [sha256_file(paths[index]) for index in unknown]
    else:
        with ThreadPoolExecutor(max_workers=HASH_THREADS) as pool:
            read = list(pool.map(sha256_file, [paths[index] for index in unknown]))
    for index, digest in zip(unknown, read):
        digests[index] = digest
    return digests
