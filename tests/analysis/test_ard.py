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
