"""derive_var_lobxfl: last non-missing result on or before first exposure, per subject and test."""

import pandas as pd
import pytest

from pipeline.sdtm.derive_var_lobxfl import derive_var_lobxfl

DM = pd.DataFrame({"USUBJID": ["S1", "S2", "SF"], "RFXSTDTC": ["2019-01-10T09:00", "2019-01-10", None]})


def flags(rows, by_vars=("LBTESTCD",), dm=DM):
    frame = pd.DataFrame(rows, columns=["USUBJID", "LBTESTCD", "LBDTC", "LBSTRESC"])
    return derive_var_lobxfl(frame, dm, by_vars=list(by_vars), dtc_var="LBDTC", result_var="LBSTRESC")["LBLOBXFL"].tolist()


def test_lobxfl_flags_last_pre_dose_value():
    rows = [["S1", "ALB", "2019-01-01", "40"], ["S1", "ALB", "2019-01-08", "42"], ["S1", "ALB", "2019-01-24", "39"]]
    assert flags(rows) == [None, "Y", None]


def test_lobxfl_same_day_predose_counts():
    rows = [["S1", "ALB", "2019-01-01", "40"], ["S1", "ALB", "2019-01-10", "41"]]
    assert flags(rows) == [None, "Y"]


@pytest.mark.parametrize(
    "dtc, expected",
    [
        ("2019-01-10T08:30", "Y"),  # before the dose time
        ("2019-01-10T09:00", "Y"),  # at the dose time: counts as pre-dose
        ("2019-01-10T09:30", None),  # after the dose
    ],
)
def test_lobxfl_same_day_with_times_compares_times(dtc, expected):
    rows = [["S1", "ALB", "2019-01-01", "40"], ["S1", "ALB", dtc, "41"]]
    assert flags(rows)[1] == expected


def test_lobxfl_timed_record_on_dose_day_counts_when_reference_has_no_time():
    rows = [["S2", "ALB", "2019-01-01", "40"], ["S2", "ALB", "2019-01-10T23:00", "41"]]
    assert flags(rows) == [None, "Y"]


def test_lobxfl_skips_missing_results():
    rows = [["S1", "ALB", "2019-01-01", "40"], ["S1", "ALB", "2019-01-08", None], ["S1", "ALB", "2019-01-09", " "]]
    assert flags(rows) == ["Y", None, None]


def test_lobxfl_partial_date_is_never_flagged():
    rows = [["S1", "ALB", "2018-12", "40"]]
    assert flags(rows) == [None]


def test_lobxfl_one_flag_per_test_and_specimen():
    rows = [["S1", "CREAT", "2019-01-05", "70"], ["S1", "CREAT", "2019-01-06", "9000"]]
    frame = pd.DataFrame(rows, columns=["USUBJID", "LBTESTCD", "LBDTC", "LBSTRESC"]).assign(LBSPEC=["SERUM", "URINE"])
    out = derive_var_lobxfl(frame, DM, by_vars=["LBTESTCD", "LBSPEC"], dtc_var="LBDTC", result_var="LBSTRESC")
    assert out["LBLOBXFL"].tolist() == ["Y", "Y"]


def test_lobxfl_screen_failure_without_exposure_gets_no_flag():
    assert flags([["SF", "ALB", "2019-01-01", "40"]]) == [None]


def test_lobxfl_ties_broken_by_seq_last_wins():
    frame = pd.DataFrame(
        {"USUBJID": "S1", "LBTESTCD": "ALB", "LBDTC": "2019-01-05", "LBSTRESC": ["40", "41"], "LBSEQ": [2, 1]}
    )
    out = derive_var_lobxfl(frame, DM, by_vars="LBTESTCD", dtc_var="LBDTC", result_var="LBSTRESC")
    assert out["LBLOBXFL"].tolist() == ["Y", None]


def test_lobxfl_is_order_independent_and_does_not_touch_input():
    rows = [["S1", "ALB", "2019-01-01", "40"], ["S1", "ALB", "2019-01-08", "42"], ["S2", "ALB", "2019-01-09", "3"]]
    frame = pd.DataFrame(rows, columns=["USUBJID", "LBTESTCD", "LBDTC", "LBSTRESC"])
    copy = frame.copy()
    shuffled = frame.iloc[[2, 1, 0]]
    out = derive_var_lobxfl(shuffled, DM, by_vars="LBTESTCD", dtc_var="LBDTC", result_var="LBSTRESC")
    assert out.sort_index()["LBLOBXFL"].tolist() == [None, "Y", "Y"]
    pd.testing.assert_frame_equal(frame, copy)
