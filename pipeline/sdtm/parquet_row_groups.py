"""Write a large frame to parquet one row group at a time: the same bytes as
:func:`pipeline.common.io.write_parquet_atomic`, with an Arrow copy of one row group at a time instead of
the whole frame (the largest SDTM domains hold millions of records).

``pq.write_table`` cuts a table into row groups of at most :data:`ROW_GROUP_ROWS` rows; converting and
writing those slices one by one through one ``ParquetWriter`` gives the same file as long as every slice
converts to the same Arrow types as the whole frame would. Each slice's own types are compared with the
first slice's: when one differs (a column empty in one slice, numbers in one and text in another), the
whole frame is written the usual way, so the result never depends on how the frame was cut.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.common.io import _atomic_path, write_parquet_atomic  # the one atomic-rename helper

ROW_GROUP_ROWS = 1024 * 1024  # pq.write_table's default row group size


class _SliceTypesDiffer(Exception):
    """A slice converts to other Arrow types than the first: only the whole frame gives the file's types."""


def write_parquet_by_row_groups(path: str | Path, frame: pd.DataFrame, rows: int = ROW_GROUP_ROWS) -> Path:
    """Write ``frame`` like :func:`~pipeline.common.io.write_parquet_atomic` (same bytes), holding the Arrow
    copy of ``rows`` rows at a time; ``rows`` must be the row group size that function's writer uses.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> frame = pd.DataFrame({"USUBJID": [f"S-{i % 7}" for i in range(25)], "LBSTRESN": [i / 4 for i in range(25)]})
    >>> _ = write_parquet_by_row_groups(folder / "a.parquet", frame, rows=10)
    >>> pq.ParquetFile(folder / "a.parquet").metadata.num_row_groups
    3
    >>> pd.read_parquet(folder / "a.parquet").equals(frame)
    True
    """
    path = Path(path)
    if len(frame) <= rows:
        return write_parquet_atomic(path, frame)
    frame = frame.reset_index(drop=True)
    try:
        with _atomic_path(path) as tmp:
            first = pa.Table.from_pandas(frame.iloc[:rows], preserve_index=False)
            schema = first.schema
            with pq.ParquetWriter(tmp, schema, compression="zstd", write_statistics=False) as writer:
                writer.write_table(first, row_group_size=rows)
                del first
                for start in range(rows, len(frame), rows):
                    table = pa.Table.from_pandas(frame.iloc[start:start + rows], preserve_index=False)
                    if not table.schema.equals(schema, check_metadata=False):
                        raise _SliceTypesDiffer
                    writer.write_table(table, row_group_size=rows)
                    del table
                    pa.default_memory_pool().release_unused()
    except (_SliceTypesDiffer, pa.ArrowException, ValueError, TypeError):
        # the whole frame decides the types (or raises the error it always raised)
        return write_parquet_atomic(path, frame)
    pa.default_memory_pool().release_unused()
    return path
