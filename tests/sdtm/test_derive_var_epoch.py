"""derive_var_epoch: EPOCH from subject elements by date, with an explicit same-day rule."""

import pandas as pd
import pytest

from pipeline.common.errors import ConfigError, InputError
from pipeline.sdtm.derive_var_epoch import derive_var_epoch

SE = pd.DataFrame(
    {
        "USUBJID": ["S1"] * 3 + ["SF"],
        "TAETORD": [1, 2, 3, 1],
        "EPOCH": ["SCREENING", "TREATMENT", "FOLLOW-UP", "SCREENING"],
        "SESTDTC": ["2019-01-01", "2019-01-20T09:00", "2019-07-01", "2019-02-01"],
        "SEENDTC": ["2019-01-20T09:00", "2019-07-01", "2019-12-01", "2019-02-20"],
    }
)


def epoch(dtc, usubjid="S1", same_day="later"):
    frame = pd.DataFrame({"USUBJID": [usubjid], "XXDTC": [dtc]})
    return derive_var_epoch(frame, SE, "XXDTC", same_day=same_day)["EPOCH"].iloc[0]


@pytest.mark.parametrize(
    "dtc, expected",
    [
        ("2019-01-05", "SCREENING"),
        ("2019-01-20T08:59", "SCREENING"),  # before first dose time
        ("2019-01-20T09:00", "TREATMENT"),  # at first dose time
        ("2019-01-20", "TREATMENT"),  # first-dose day, no time: later element by default
        ("2019-03-15", "TREATMENT"),
        ("2019-07-01", "FOLLOW-UP"),
        ("2019-12-01", "FOLLOW-UP"),  # last element includes its end
        ("2018-12-31", None),  # before informed consent
        ("2019-12-02", None),  # after end of study
        ("2019-03", "TREATMENT"),  # partial month wholly inside one element
        ("2019-01", None),  # partial month spanning two elements
        ("2019", None),
        (None, None),
    ],
)
def test_epoch_by_date_table(dtc, expected):
    assert epoch(dtc) == expected


def test_epoch_first_dose_day_without_time_can_count_as_pre_dose():
    assert epoch("2019-01-20", same_day="earlier") == "SCREENING"


def test_epoch_screen_failure_has_only_screening():
    assert epoch("2019-02-10", usubjid="SF") == "SCREENING"


def test_epoch_subject_without_elements_is_null():
    assert epoch("2019-02-10", usubjid="NOPE") is None


def test_epoch_ongoing_element_without_end_holds_later_dates():
    se = SE.copy()
    se.loc[2, "SEENDTC"] = None
    frame = pd.DataFrame({"USUBJID": ["S1"], "AESTDTC": ["2020-05-01"]})
    assert derive_var_epoch(frame, se, "AESTDTC")["EPOCH"].tolist() == ["FOLLOW-UP"]


def test_epoch_keeps_index_and_input():
    frame = pd.DataFrame({"USUBJID": ["S1", "S1"], "AESTDTC": ["2019-03-01", "2019-01-02"]}, index=[10, 5])
    copy = frame.copy()
    out = derive_var_epoch(frame, SE, "AESTDTC")
    assert out.index.tolist() == [10, 5]
    assert out["EPOCH"].tolist() == ["TREATMENT", "SCREENING"]
    pd.testing.assert_frame_equal(frame, copy)


def test_epoch_bad_arguments_name_the_culprit():
    with pytest.raises(ConfigError, match="same_day"):
        epoch("2019-01-05", same_day="middle")
    with pytest.raises(InputError, match="dataset se: missing column"):
        derive_var_epoch(pd.DataFrame({"USUBJID": [], "AESTDTC": []}), SE.drop(columns="EPOCH"), "AESTDTC")


def test_epoch_records_of_many_subjects_each_matched_to_their_own_elements():
    # records of several subjects in mixed order, one without elements: each reads only its subject's SE
    frame = pd.DataFrame({"USUBJID": ["SF", "S1", "S9", "S1", "SF", "S1"],
                          "XXDTC": ["2019-02-10", "2019-01-05", "2019-01-05", "2019-08-01", "2019-03-01", None]})
    out = derive_var_epoch(frame, SE, "XXDTC")["EPOCH"].tolist()
    assert out == ["SCREENING", "SCREENING", None, "FOLLOW-UP", None, None]
