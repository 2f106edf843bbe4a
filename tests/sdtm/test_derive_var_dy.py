"""derive_var_dy: SDTMIG study day, no day 0, null on partial dates."""

import pandas as pd
import pytest

from pipeline.common.errors import InputError
from pipeline.sdtm.derive_var_dy import derive_var_dy

DM = pd.DataFrame({"USUBJID": ["S1", "SF"], "RFSTDTC": ["2019-01-10T09:30", None]})


def study_day(dtc, usubjid="S1"):
    frame = pd.DataFrame({"USUBJID": [usubjid], "AESTDTC": [dtc]})
    value = derive_var_dy(frame, DM, "AESTDTC", "AESTDY")["AESTDY"].iloc[0]
    return None if pd.isna(value) else int(value)


@pytest.mark.parametrize(
    "dtc, expected",
    [
        ("2019-01-10", 1),
        ("2019-01-10T08:00", 1),  # time ignored, even before the reference time
        ("2019-01-11", 2),
        ("2019-02-07", 29),
        ("2018-12-31", -10),
    ],
)
def test_dy_counts_from_day_one(dtc, expected):
    assert study_day(dtc) == expected


def test_dy_day_before_reference_is_minus_one():
    assert study_day("2019-01-09") == -1


@pytest.mark.parametrize("dtc", ["2019-01", "2019", "2019---10", "", None, "2019-02-30", "10JAN2019"])
def test_dy_partial_date_is_null(dtc):
    assert study_day(dtc) is None


def test_dy_screen_failure_without_rfstdtc_is_null():
    assert study_day("2019-01-12", usubjid="SF") is None


def test_dy_subject_missing_from_dm_is_null():
    assert study_day("2019-01-12", usubjid="NOPE") is None


def test_dy_never_zero_over_a_year():
    dates = pd.date_range("2018-12-01", "2019-03-01").strftime("%Y-%m-%d")
    frame = pd.DataFrame({"USUBJID": "S1", "LBDTC": dates})
    days = derive_var_dy(frame, DM, "LBDTC", "LBDY")["LBDY"]
    assert 0 not in set(days)
    assert days.dtype == "Int64"


def test_dy_keeps_row_order_and_index_and_does_not_touch_input():
    frame = pd.DataFrame({"USUBJID": ["S1", "S1"], "LBDTC": ["2019-01-12", "2019-01-08"]}, index=[7, 3])
    copy = frame.copy()
    out = derive_var_dy(frame, DM, "LBDTC", "LBDY")
    assert out.index.tolist() == [7, 3]
    assert out["LBDY"].tolist() == [3, -2]
    pd.testing.assert_frame_equal(frame, copy)


def test_dy_duplicate_dm_subject_is_an_error_naming_the_subject():
    dm = pd.concat([DM, DM.iloc[[0]]])
    with pytest.raises(InputError, match="USUBJID=S1"):
        derive_var_dy(pd.DataFrame({"USUBJID": ["S1"], "LBDTC": ["2019-01-01"]}), dm, "LBDTC", "LBDY")
