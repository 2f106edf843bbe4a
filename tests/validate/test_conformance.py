"""Cross-dataset conformance rules on small hand-made SDTM/ADaM frames."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.validate.conformance import CONFORMANCE_RULES, ValidationData, compute_study_day
from pipeline.validate.schemas import prepare_dataset

from .conftest import clean_sdtm

COLUMNS = ["rule_id", "severity", "dataset", "variable", "usubjid", "record", "value"]


def run(rule_id: str, sdtm: dict[str, pd.DataFrame], adam: dict[str, pd.DataFrame] | None = None) -> list[list]:
    data = ValidationData({k: prepare_dataset(v) for k, v in sdtm.items()},
                          {k: prepare_dataset(v) for k, v in (adam or {}).items()})
    found = CONFORMANCE_RULES[rule_id].check(data)
    out = found[COLUMNS].astype(object).where(found[COLUMNS].notna(), None)
    return sorted(out.values.tolist(), key=lambda r: [str(x) for x in r])


def with_epoch_design() -> dict[str, pd.DataFrame]:
    sdtm = clean_sdtm()
    sdtm["TA"] = pd.DataFrame({"STUDYID": ["TINY01"] * 3, "DOMAIN": ["TA"] * 3, "ARMCD": ["DRUG"] * 3,
                               "EPOCH": ["SCREENING", "TREATMENT", "FOLLOW-UP"]})
    sdtm["SE"] = pd.DataFrame({
        "STUDYID": ["TINY01"] * 3, "DOMAIN": ["SE"] * 3, "USUBJID": ["TINY01-001"] * 3,
        "EPOCH": ["SCREENING", "TREATMENT", "FOLLOW-UP"],
        "SESTDTC": ["2024-01-15", "2024-02-01", "2024-03-29"], "SEENDTC": ["2024-02-01", "2024-03-29", "2024-05-01"],
    })
    return sdtm


@pytest.mark.parametrize("rule_id", sorted(CONFORMANCE_RULES))
def test_clean_study_has_no_conformance_finding(rule_id: str) -> None:
    assert run(rule_id, with_epoch_design()) == []


def test_orphan_subject_in_ae_is_cg0029() -> None:
    sdtm = clean_sdtm()
    sdtm["AE"].loc[2, "USUBJID"] = "TINY01-999"
    assert run("CG0029", sdtm) == [["CG0029", "error", "AE", "USUBJID", "TINY01-999", 3, "TINY01-999"]]


def test_rfxstdtc_not_first_exposure_is_cg0148() -> None:
    sdtm = clean_sdtm()
    sdtm["DM"].loc[0, "RFXSTDTC"] = "2024-02-02"
    assert run("CG0148", sdtm) == [["CG0148", "error", "DM", "RFXSTDTC", "TINY01-001", 1, "2024-02-02"]]


def test_rfxendtc_not_last_exposure_is_cg0147() -> None:
    sdtm = clean_sdtm()
    sdtm["EX"].loc[3, "EXSTDTC"] = "2024-03-10"
    assert run("CG0147", sdtm) == [["CG0147", "error", "DM", "RFXENDTC", "TINY01-002", 2, "2024-03-03"]]


def test_ae_starting_after_death_is_isl_0101() -> None:
    sdtm = clean_sdtm()
    sdtm["AE"].loc[2, "AESTDTC"] = "2024-06-02"  # subject 002 died 2024-06-01
    assert run("ISL-0101", sdtm) == [["ISL-0101", "error", "AE", "AESTDTC", "TINY01-002", 3, "2024-06-02"]]


def test_ae_starting_on_death_day_is_fine() -> None:
    sdtm = clean_sdtm()
    sdtm["AE"].loc[2, "AESTDTC"] = "2024-06-01"
    assert run("ISL-0101", sdtm) == []


@pytest.mark.parametrize("date, reference, expected", [
    ("2024-02-01", "2024-02-01", 1.0), ("2024-01-31", "2024-02-01", -1.0), ("2024-02-29", "2024-02-01", 29.0)])
def test_study_day_has_no_day_zero(date: str, reference: str, expected: float) -> None:
    day = compute_study_day(pd.to_datetime(pd.Series([date])), pd.to_datetime(pd.Series([reference])))
    assert day.tolist() == [expected]


def test_wrong_study_day_is_cg0006() -> None:
    sdtm = clean_sdtm()
    sdtm["LB"].loc[1, "LBDY"] = 28.0  # 2024-02-29 vs RFSTDTC 2024-02-01 is day 29
    assert run("CG0006", sdtm) == [["CG0006", "error", "LB", "LBDY", "TINY01-001", 2, "28"]]


def test_study_day_zero_is_cg0006() -> None:
    sdtm = clean_sdtm()
    sdtm["LB"].loc[0, "LBDY"] = 0.0
    sdtm["LB"].loc[0, "LBDTC"] = "2024-02-01"
    assert run("CG0006", sdtm) == [["CG0006", "error", "LB", "LBDY", "TINY01-001", 1, "0"]]


def test_start_day_from_partial_date_is_cg0221() -> None:
    sdtm = clean_sdtm()
    sdtm["AE"].loc[1, "AESTDY"] = 3.0  # AESTDTC is 2024-02 (partial)
    assert run("CG0221", sdtm) == [["CG0221", "error", "AE", "AESTDY", "TINY01-001", 2, "3"]]


def test_epoch_not_in_ta_is_cg0009() -> None:
    sdtm = with_epoch_design()
    sdtm["AE"].loc[0, "EPOCH"] = "RUN-IN"
    assert run("CG0009", sdtm) == [["CG0009", "error", "AE", "EPOCH", "TINY01-001", 1, "RUN-IN"]]


def test_epoch_disagreeing_with_subject_elements_is_isl_0102() -> None:
    sdtm = with_epoch_design()
    sdtm["AE"].loc[0, "EPOCH"] = "FOLLOW-UP"  # 2024-02-05 lies in the TREATMENT element
    assert run("ISL-0102", sdtm) == [["ISL-0102", "warning", "AE", "EPOCH", "TINY01-001", 1, "FOLLOW-UP"]]


def test_epoch_on_element_boundary_may_take_either_epoch() -> None:
    sdtm = with_epoch_design()
    sdtm["AE"].loc[0, ["AESTDTC", "EPOCH"]] = ["2024-02-01", "SCREENING"]
    assert run("ISL-0102", sdtm) == []


def test_ae_end_before_start_is_fb3209() -> None:
    sdtm = clean_sdtm()
    sdtm["AE"].loc[0, "AEENDTC"] = "2024-02-04"
    assert run("FB3209", sdtm) == [["FB3209", "error", "AE", "AEENDTC", "TINY01-001", 1, "2024-02-04"]]


def test_same_day_end_time_before_start_time_is_fb3209() -> None:
    sdtm = clean_sdtm()
    sdtm["AE"].loc[2, "AEENDTC"] = "2024-02-10T07:00"
    assert run("FB3209", sdtm) == [["FB3209", "error", "AE", "AEENDTC", "TINY01-002", 3, "2024-02-10T07:00"]]


def test_partial_end_in_start_month_is_not_before_start() -> None:
    sdtm = clean_sdtm()
    sdtm["AE"].loc[0, "AEENDTC"] = "2024-02"
    assert run("FB3209", sdtm) == []


def test_visit_with_two_visitnums_is_fb0919() -> None:
    sdtm = clean_sdtm()
    sdtm["LB"].loc[3, "VISITNUM"] = 3.5
    assert run("FB0919", sdtm) == [
        ["FB0919", "warning", "LB", "VISIT", "TINY01-001", 2, "WEEK 4"],
        ["FB0919", "warning", "LB", "VISIT", "TINY01-002", 4, "WEEK 4"],
    ]


def adam_pair() -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    sdtm = clean_sdtm()
    adsl = pd.DataFrame({
        "STUDYID": ["TINY01"] * 2, "USUBJID": ["TINY01-001", "TINY01-002"], "AGE": [34.0, 51.0], "SEX": ["F", "M"],
        "TRTSDT": pd.to_datetime(["2024-02-01", "2024-02-03"]), "TRTEDT": [23436.0, 23438.0],  # SAS dates: 2024-03-01, 2024-03-03
        "SAFFL": ["Y", "Y"], "FASFL": ["Y", "N"],
    })
    adae = sdtm["AE"][["STUDYID", "USUBJID", "AESEQ", "AETERM"]].copy()
    return sdtm, {"ADSL": adsl, "ADAE": adae}


@pytest.mark.parametrize("rule_id", ["ISL-0103", "ISL-0104", "ISL-0106", "ISL-0107", "ISL-0108"])
def test_clean_adam_traces_to_sdtm(rule_id: str) -> None:
    sdtm, adam = adam_pair()
    assert run(rule_id, sdtm, adam) == []


def test_trtsdt_not_rfxstdtc_is_isl_0103() -> None:
    sdtm, adam = adam_pair()
    adam["ADSL"].loc[1, "TRTSDT"] = pd.Timestamp("2024-02-04")
    assert run("ISL-0103", sdtm, adam) == [["ISL-0103", "error", "ADSL", "TRTSDT", "TINY01-002", 2, "2024-02-04"]]


def test_adae_missing_an_ae_record_is_isl_0104() -> None:
    sdtm, adam = adam_pair()
    adam["ADAE"] = adam["ADAE"].iloc[[0, 2]].reset_index(drop=True)
    assert run("ISL-0104", sdtm, adam) == [["ISL-0104", "error", "AE", "AESEQ", "TINY01-001", 2, "2"]]


def test_adae_record_without_ae_record_is_isl_0104() -> None:
    sdtm, adam = adam_pair()
    adam["ADAE"].loc[2, "AESEQ"] = 7.0
    assert run("ISL-0104", sdtm, adam) == [
        ["ISL-0104", "error", "ADAE", "AESEQ", "TINY01-002", 3, "7"],
        ["ISL-0104", "error", "AE", "AESEQ", "TINY01-002", 3, "1"],
    ]


def test_adsl_age_not_dm_age_is_isl_0107() -> None:
    sdtm, adam = adam_pair()
    adam["ADSL"].loc[0, "AGE"] = 35.0
    assert run("ISL-0107", sdtm, adam) == [["ISL-0107", "error", "ADSL", "AGE", "TINY01-001", 1, "35"]]


def test_null_population_flag_is_isl_0108() -> None:
    sdtm, adam = adam_pair()
    adam["ADSL"].loc[1, "FASFL"] = None
    assert run("ISL-0108", sdtm, adam) == [["ISL-0108", "error", "ADSL", "FASFL", "TINY01-002", 2, None]]
