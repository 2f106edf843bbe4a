"""The analysis stage reads only the ADaM variables its shell file names (issue 10: reading whole
BDS datasets dominated the tables stage), and what it reads equals the full file's columns."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.analysis.shell import load_shell
from pipeline.analysis.stage import adam_loader, shell_names
from pipeline.common.io import write_parquet_atomic
from pipeline.common.study import StudyContext


def test_loader_reads_only_named_variables_in_file_order(tmp_path):
    frame = pd.DataFrame({"USUBJID": ["1", "2"], "LBORRES": ["5", None], "AVAL": [1.5, None],
                          "PARAMCD": pd.array(["UPCR", None], dtype="string")})
    write_parquet_atomic(tmp_path / "adlb.parquet", frame)
    full = adam_loader(tmp_path)("ADLB")
    some = adam_loader(tmp_path, {"PARAMCD", "USUBJID", "AVAL", "NOT_A_COLUMN"})("adlb")
    assert list(some.columns) == ["USUBJID", "AVAL", "PARAMCD"]
    pd.testing.assert_frame_equal(some, full[["USUBJID", "AVAL", "PARAMCD"]])


@pytest.mark.parametrize("study", ["iscalimab-ln", "cdiscpilot01"])
def test_shell_names_cover_every_variable_the_shell_uses(study):
    shell = load_shell(StudyContext.create(study, outputs="/nonexistent/out").specs_dir)
    names = shell_names(shell)
    for output_id, output in shell.outputs.items():
        population = shell.populations[output["population"]]
        assert population["flag"] in names
        assert shell.treatment_columns[output["columns"]]["variable"] in names
        for row in output["rows"]:
            for key in ("response", "variable", "soc", "pt"):
                if isinstance(row.get(key), str):
                    assert row[key] in names, (output_id, key)
            for column in row.get("columns") or []:
                assert column["variable"] in names
    assert "USUBJID" in names and "LBORRES" not in names


def test_text_read_per_distinct_value_equals_pandas_read(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipeline.common.io import read_parquet_distinct_text

    frame = pd.DataFrame({"USUBJID": pd.array(["1", "1", "2", None, "3"], dtype="string"),
                          "DTYPE": pd.array([None] * 5, dtype="string"),  # no value at all
                          "AVISIT": ["WEEK 4", None, "WEEK 4", "WEEK 8", "WEEK 8"],  # object text stays object
                          "AVAL": [1.0, None, 3.0, 4.0, 5.0]})
    path = tmp_path / "adlb.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=2)  # 3 row groups
    columns = ["AVAL", "USUBJID", "DTYPE", "AVISIT"]
    read = read_parquet_distinct_text(path, columns)
    pd.testing.assert_frame_equal(read, pd.read_parquet(path, columns=columns), check_exact=True)
    assert read["USUBJID"].tolist() == ["1", "1", "2", pd.NA, "3"] and read["USUBJID"][0] is read["USUBJID"][1]
    assert str(read["DTYPE"].dtype) == "string" and read["DTYPE"].isna().all() and read["AVISIT"].dtype == object
