"""Writing one row group at a time gives the bytes of the whole-frame write, whatever the columns hold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.common.io import PARQUET_ROW_GROUP_ROWS, write_parquet_atomic


def _whole_frame(path: Path, frame: pd.DataFrame, rows: int) -> bytes:
    """The whole frame converted at once and written with ``rows`` rows per row group."""
    table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
    pq.write_table(table, path, compression="zstd", write_statistics=False, row_group_size=rows)
    return path.read_bytes()


FRAMES = {
    "text and numbers": pd.DataFrame({"USUBJID": [f"S-{i % 13}" for i in range(95)], "VISITNUM": np.arange(95) / 2,
                                      "LBORRES": [None if i % 5 else f"{i}.5" for i in range(95)]}),
    "an index that is not a range": pd.DataFrame({"A": [f"a{i}" for i in range(95)]}, index=np.arange(95)[::-1] * 3),
}
# slices that convert to other types than the first: the whole frame is written the usual way
UNEVEN_FRAMES = {
    "a column empty in the first slice": pd.DataFrame({"USUBJID": ["S-1"] * 95,
                                                       "LBREASND": [None] * 40 + ["NOT DONE"] * 55}),
    "whole numbers first, fractions later": pd.DataFrame({"X": pd.Series([1] * 40 + [2.5] * 55, dtype=object)}),
}


@pytest.mark.parametrize("name", FRAMES)
def test_row_group_writes_give_the_bytes_of_the_whole_frame_write(tmp_path, name):
    frame = FRAMES[name]
    write_parquet_atomic(tmp_path / "slices.parquet", frame, row_group_rows=20)
    assert (tmp_path / "slices.parquet").read_bytes() == _whole_frame(tmp_path / "whole.parquet", frame, 20)
    assert pq.ParquetFile(tmp_path / "slices.parquet").metadata.num_row_groups == 5


@pytest.mark.parametrize("name", UNEVEN_FRAMES)
def test_slices_of_other_types_fall_back_to_the_whole_frame_write(tmp_path, name):
    frame = UNEVEN_FRAMES[name]
    write_parquet_atomic(tmp_path / "slices.parquet", frame, row_group_rows=20)
    assert (tmp_path / "slices.parquet").read_bytes() == _whole_frame(tmp_path / "whole.parquet", frame, 20)
    assert pq.ParquetFile(tmp_path / "slices.parquet").metadata.num_row_groups == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["slices.parquet", "whole.parquet"]  # no temporary file left


def test_a_frame_larger_than_one_row_group_is_written_as_the_whole_frame_would_be(tmp_path):
    n = PARQUET_ROW_GROUP_ROWS + 1000
    subjects = np.array([f"S-{i}" for i in range(977)], dtype=object)
    status = np.full(n, None, dtype=object)
    status[-1] = "NOT DONE"
    frame = pd.DataFrame({"USUBJID": subjects[np.arange(n) % 977], "LBSTRESN": np.arange(n) * 0.25, "LBSTAT": status})
    write_parquet_atomic(tmp_path / "slices.parquet", frame)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, tmp_path / "whole.parquet", compression="zstd", write_statistics=False)
    assert (tmp_path / "slices.parquet").read_bytes() == (tmp_path / "whole.parquet").read_bytes()
    assert pq.ParquetFile(tmp_path / "slices.parquet").metadata.num_row_groups == 2


def test_text_mixed_with_numbers_fails_as_the_whole_frame_write_fails(tmp_path):
    frame = pd.DataFrame({"X": pd.Series(["a"] * 30 + [1.5] * 30, dtype=object)})
    with pytest.raises(pa.ArrowException) as whole:
        pa.Table.from_pandas(frame, preserve_index=False)
    with pytest.raises(pa.ArrowException) as slices:
        write_parquet_atomic(tmp_path / "slices.parquet", frame, row_group_rows=20)
    assert str(slices.value) == str(whole.value)
    assert not list(tmp_path.iterdir())  # no file, no temporary file left
