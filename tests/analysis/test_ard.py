"""The ARD frame: wide statistics melted into rows, and the ARD files."""

import numpy as np
import pandas as pd

from pipeline.analysis.ard import melt_stats


def test_melt_stats_orders_rows_by_record_then_stat_whatever_the_index():
    wide = pd.DataFrame({"group": ["A", "B", "C"], "row_id": ["r1", "r2", None], "row_label": ["R1", "R2", "R3"],
                         "n": [3, 1, 0], "pct": [75.0, np.nan, 0.0]}, index=[7, 2, 5])
    long = melt_stats(wide, ["n", "pct"])
    expected = pd.DataFrame({
        "output_id": [""] * 6, "row_id": ["r1", "r1", "r2", "r2", "None", "None"],
        "row_label": ["R1", "R1", "R2", "R2", "R3", "R3"], "group": ["A", "A", "B", "B", "C", "C"],
        "stat": ["n", "pct"] * 3, "value": [3.0, 75.0, 1.0, np.nan, 0.0, 0.0]})
    pd.testing.assert_frame_equal(long, expected)


def test_melt_stats_keeps_text_values_as_objects_and_takes_given_row_id():
    wide = pd.DataFrame({"group": ["A"], "AETERM": ["Headache"], "AESTDT": [""]})
    long = melt_stats(wide, ["AETERM", "AESTDT"], "S01|1", "S01")
    assert long[["row_id", "row_label", "stat", "value"]].values.tolist() == [
        ["S01|1", "S01", "AETERM", "Headache"], ["S01|1", "S01", "AESTDT", ""]]
    assert long["value"].dtype == object


def test_melt_stats_of_no_records_is_empty_with_the_ard_columns():
    long = melt_stats(pd.DataFrame({"group": [], "n": []}), ["n"], "r", "R")
    assert list(long.columns) == ["output_id", "row_id", "row_label", "group", "stat", "value"] and long.empty


def _json_written_by_write_json_atomic(records, tmp_path):
    from pipeline.common.io import write_json_atomic

    return write_json_atomic(tmp_path / "expected.json", records).read_text(encoding="utf-8")


def test_ard_json_text_is_what_write_json_atomic_writes_for_the_records(tmp_path):
    from pipeline.analysis.ard import ard_json_text, ard_to_records

    ard = pd.DataFrame({"output_id": ["t1"] * 4, "row_id": ["big_n", "r|1", "r\n2", 'say "é"'],
                        "row_label": ["N", "Tab\there", "", "\\x"], "group": ["A", "B", "A", "B"],
                        "stat": ["N", "n", "pct", "sd"], "value": [57.0, float("nan"), float("inf"), -0.0]})
    assert ard_json_text(ard) == _json_written_by_write_json_atomic(ard_to_records(ard), tmp_path)


def test_ard_json_text_of_text_values_and_of_other_values(tmp_path):
    from pipeline.analysis.ard import ard_json_text, ard_to_records

    listing = pd.DataFrame({"stat": ["AETERM", "AESTDT"], "value": ["Headache", None]})
    dates = pd.DataFrame({"stat": ["ADT"], "value": pd.to_datetime(["2020-01-31"])})  # no C-encoder path: default=str
    for ard in (listing, dates, listing.iloc[:0]):
        assert ard_json_text(ard) == _json_written_by_write_json_atomic(ard_to_records(ard), tmp_path)
    assert '"value": "2020-01-31 00:00:00"' in ard_json_text(dates)
