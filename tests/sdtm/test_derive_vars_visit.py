"""derive_vars_visit: planned visits from TV, unscheduled visits numbered after the previous planned one."""

import pandas as pd
import pytest

from pipeline.common.errors import ConfigError, InputError
from pipeline.sdtm.derive_vars_visit import derive_vars_visit

TV = pd.DataFrame(
    {
        "VISITNUM": [1, 2, 3, 4, 5, 6],
        "VISIT": ["SCREENING", "BASELINE", "DAY 1", "WEEK 2", "WEEK 4", "WEEK 8"],
        "VISITDY": [-21, -2, 1, 15, 29, 57],
    }
)


def visits(rows, dataset_add=None):
    frame = pd.DataFrame(rows, columns=["USUBJID", "VISIT", "LBDTC"])
    return derive_vars_visit(frame, TV, dtc_var="LBDTC", dataset_add=dataset_add)


def test_planned_visit_takes_number_name_and_day_from_tv():
    out = visits([["S1", " week  4 ", "2019-02-07"]])
    assert out[["VISITNUM", "VISIT"]].values.tolist() == [[5.0, "WEEK 4"]]
    assert out["VISITDY"].tolist() == [29]


def test_unscheduled_visit_after_week4_is_5_01():
    out = visits([["S1", "WEEK 4", "2019-02-07"], ["S1", "Unscheduled", "2019-02-12"]])
    assert out.loc[1, "VISITNUM"] == 5.01
    assert out.loc[1, "VISIT"] == "UNSCHEDULED 5.01"
    assert pd.isna(out.loc[1, "VISITDY"])


@pytest.mark.parametrize(
    "unscheduled_dates, expected",
    [
        (["2019-02-12"], [5.01]),
        (["2019-02-20", "2019-02-12"], [5.02, 5.01]),  # numbered by date, not by row
        (["2019-02-12", "2019-02-12T15:00"], [5.01, 5.01]),  # same day = same visit
        (["2019-03-10"], [6.01]),  # after WEEK 8
        (["2019-01-01"], [0.01]),  # before any planned visit
        (["2019-02-07"], [5.01]),  # same day as the planned visit counts after it
    ],
)
def test_unscheduled_numbering_table(unscheduled_dates, expected):
    rows = [["S1", "WEEK 4", "2019-02-07"], ["S1", "WEEK 8", "2019-03-07"]]
    rows += [["S1", "UNSCHEDULED", d] for d in unscheduled_dates]
    out = visits(rows)
    assert out["VISITNUM"].iloc[2:].tolist() == expected


def test_unscheduled_numbering_restarts_per_subject():
    out = visits(
        [
            ["S1", "WEEK 4", "2019-02-07"],
            ["S1", "UNSCHED", "2019-02-10"],
            ["S2", "WEEK 2", "2019-03-01"],
            ["S2", "UNSCHED", "2019-03-05"],
        ]
    )
    assert out["VISIT"].tolist() == ["WEEK 4", "UNSCHEDULED 5.01", "WEEK 2", "UNSCHEDULED 4.01"]


def test_unscheduled_without_complete_date_gets_no_visit():
    out = visits([["S1", "WEEK 4", "2019-02-07"], ["S1", "Unscheduled", "2019-02"]])
    assert pd.isna(out.loc[1, "VISITNUM"]) and out.loc[1, "VISIT"] is None


def test_dataset_add_numbers_unscheduled_visits_across_domains():
    vs_dates = pd.DataFrame({"USUBJID": ["S1"], "VISIT": ["UNSCHEDULED"], "LBDTC": ["2019-02-09"]})
    out = visits([["S1", "WEEK 4", "2019-02-07"], ["S1", "UNSCHEDULED", "2019-02-12"]], dataset_add=vs_dates)
    assert out.loc[1, "VISIT"] == "UNSCHEDULED 5.02"  # 5.01 is the VS-only visit of Feb 9


def test_visit_and_visitnum_map_one_to_one():
    rows = [["S1", "WEEK 4", "2019-02-07"], ["S1", "UNSCHEDULED", "2019-02-12"], ["S1", "UNSCHEDULED", "2019-02-14"]]
    rows += [["S2", "WEEK 4", "2019-03-07"], ["S2", "UNSCHEDULED", "2019-03-12"]]
    out = visits(rows).dropna(subset=["VISITNUM"])
    pairs = out[["VISIT", "VISITNUM"]].drop_duplicates()
    assert pairs["VISIT"].is_unique and pairs["VISITNUM"].is_unique


def test_unknown_visit_name_is_an_error_naming_the_value_and_row():
    with pytest.raises(InputError, match=r"'WEEK 99'.*row 1"):
        visits([["S1", "WEEK 4", "2019-02-07"], ["S1", "WEEK 99", "2019-02-12"]])


def test_too_many_unscheduled_visits_is_an_error():
    rows = [["S1", "WEEK 4", "2019-02-07"]] + [["S1", "UNSCHEDULED", f"2019-02-{d:02d}"] for d in range(8, 12)]
    frame = pd.DataFrame(rows, columns=["USUBJID", "VISIT", "LBDTC"])
    with pytest.raises(InputError, match="too many"):
        derive_vars_visit(frame, TV, dtc_var="LBDTC", increment=0.3)


def test_tv_with_duplicate_visit_names_is_a_config_error():
    tv = pd.concat([TV, pd.DataFrame({"VISITNUM": [7], "VISIT": ["WEEK 8"], "VISITDY": [60]})])
    with pytest.raises(ConfigError, match="one-to-one"):
        derive_vars_visit(pd.DataFrame({"USUBJID": [], "VISIT": [], "LBDTC": []}), tv, dtc_var="LBDTC")


def test_null_visit_name_stays_null_and_input_is_untouched():
    frame = pd.DataFrame({"USUBJID": ["S1"], "VISIT": [None], "LBDTC": ["2019-02-07"]})
    copy = frame.copy()
    out = derive_vars_visit(frame, TV, dtc_var="LBDTC")
    assert pd.isna(out.loc[0, "VISITNUM"]) and out.loc[0, "VISIT"] is None
    pd.testing.assert_frame_equal(frame, copy)


def test_empty_dataset_gives_empty_result_with_visit_columns():
    frame = pd.DataFrame({"USUBJID": pd.Series(dtype=object), "VISIT": pd.Series(dtype=object), "LBDTC": pd.Series(dtype=object)})
    out = derive_vars_visit(frame, TV, dtc_var="LBDTC")
    assert out.empty and {"VISITNUM", "VISIT", "VISITDY"} <= set(out.columns)
