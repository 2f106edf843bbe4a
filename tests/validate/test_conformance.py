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
    sdtm["TA"] = pd.DataFrame({"STUDYID": ["TINY01"] * 6, "DOMAIN": ["TA"] * 6, "ARMCD": ["DRUG"] * 3 + ["PBO"] * 3,
                               "EPOCH": ["SCREENING", "TREATMENT", "FOLLOW-UP"] * 2})
    # SDTMIG 3.4: a screen failure has no ARMCD (CG0516: ARMCD in TA.ARMCD) and says why in ARMNRS
    dm = sdtm["DM"].assign(ARMCD=["DRUG", "PBO", None])
    dm.insert(dm.columns.get_loc("ARMCD") + 1, "ARMNRS", [None, None, "SCREEN FAILURE"])
    sdtm["DM"] = dm
    sdtm["SE"] = pd.DataFrame({
        "STUDYID": ["TINY01"] * 3, "DOMAIN": ["SE"] * 3, "USUBJID": ["TINY01-001"] * 3,
        "EPOCH": ["SCREENING", "TREATMENT", "FOLLOW-UP"],
        "SESTDTC": ["2024-01-15", "2024-02-01", "2024-03-29"], "SEENDTC": ["2024-02-01", "2024-03-29", "2024-05-01"],
        "SESTDY": [-17.0, 1.0, 58.0], "SEENDY": [1.0, 58.0, 91.0],
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


def test_visitnum_missing_from_the_subjects_sv_is_cg0034() -> None:
    sdtm = clean_sdtm()
    sdtm["SV"] = pd.DataFrame({"STUDYID": ["TINY01"] * 3, "DOMAIN": ["SV"] * 3,
                               "USUBJID": ["TINY01-001", "TINY01-001", "TINY01-002"], "VISITNUM": [1.0, 3.0, 1.0]})
    assert run("CG0034", sdtm) == [["CG0034", "warning", "LB", "VISITNUM", "TINY01-002", 4, "3"]]


def test_death_date_without_death_flag_is_cg0435() -> None:
    sdtm = clean_sdtm()
    sdtm["DM"]["DTHFL"] = [None, None, None]
    assert run("CG0435", sdtm) == [["CG0435", "error", "DM", "DTHFL", "TINY01-002", 2, None]]


def test_fatal_ae_without_death_flag_is_cg0134() -> None:
    sdtm = clean_sdtm()
    sdtm["DM"]["DTHFL"] = [None, "Y", None]
    sdtm["AE"]["AEOUT"] = ["FATAL", None, "FATAL"]
    assert run("CG0134", sdtm) == [["CG0134", "error", "AE", "AEOUT", "TINY01-001", 1, "FATAL"]]


def test_gap_between_subject_elements_is_cg0207() -> None:
    sdtm = with_epoch_design()
    sdtm["SE"].loc[1, "SEENDTC"] = "2024-03-28"
    assert run("CG0207", sdtm) == [["CG0207", "warning", "SE", "SEENDTC", "TINY01-001", 2, "2024-03-28"]]


def test_testcd_with_two_test_names_is_fb0901() -> None:
    sdtm = clean_sdtm()
    sdtm["LB"].loc[2, "LBTEST"] = "Urine Protein/Creatinine"
    assert run("FB0901", sdtm) == [
        ["FB0901", "warning", "LB", "LBTEST", "TINY01-001", 1, "Protein/Creatinine"],
        ["FB0901", "warning", "LB", "LBTEST", "TINY01-002", 3, "Urine Protein/Creatinine"],
    ]


def test_armcd_with_two_arm_names_is_fb0902() -> None:
    sdtm = clean_sdtm()
    sdtm["DM"]["ARM"] = ["Drug", "Placebo", "Drug X"]
    sdtm["DM"]["ARMCD"] = ["DRUG", "PBO", "DRUG"]
    assert run("FB0902", sdtm) == [
        ["FB0902", "error", "DM", "ARM", "TINY01-001", 1, "Drug"],
        ["FB0902", "error", "DM", "ARM", "TINY01-003", 3, "Drug X"],
    ]


def test_supplemental_record_without_parent_is_cg0371() -> None:
    sdtm = clean_sdtm()
    sdtm["SUPPAE"] = pd.DataFrame({
        "STUDYID": ["TINY01"] * 2, "RDOMAIN": ["AE"] * 2, "USUBJID": ["TINY01-001"] * 2, "IDVAR": ["AESEQ"] * 2,
        "IDVARVAL": ["2", "9"], "QNAM": ["AETRTEM"] * 2, "QLABEL": ["Treatment Emergent Flag"] * 2,
        "QVAL": ["Y"] * 2, "QORIG": ["Derived"] * 2})
    assert run("CG0371", sdtm) == [["CG0371", "error", "SUPPAE", "IDVARVAL", "TINY01-001", 2, "9"]]


def test_arm_not_in_trial_arms_is_cg0294() -> None:
    sdtm = clean_sdtm()
    sdtm["DM"]["ARM"] = ["Drug", "Placebo", "Screen Failure"]
    sdtm["TA"] = pd.DataFrame({"STUDYID": ["TINY01"] * 2, "DOMAIN": ["TA"] * 2, "ARMCD": ["DRUG", "PBO"],
                               "ARM": ["Drug", "Placebo"], "EPOCH": ["TREATMENT"] * 2})
    assert run("CG0294", sdtm) == [["CG0294", "error", "DM", "ARM", "TINY01-003", 3, "Screen Failure"]]


def test_instrument_total_differing_from_item_sum_is_isl_0110() -> None:
    instrument = {"items": [{"testcd": "I1"}, {"testcd": "I2"}], "total": {"testcd": "TOT"}}
    rs = pd.DataFrame({
        "STUDYID": ["TINY01"] * 6, "DOMAIN": ["RS"] * 6, "USUBJID": ["TINY01-001"] * 6,
        "RSTESTCD": ["I1", "I2", "TOT"] * 2, "RSSTRESN": [4.0, 2.0, 6.0, 4.0, 0.0, 8.0],
        "VISITNUM": [1.0] * 3 + [3.0] * 3, "RSDTC": ["2024-01-20"] * 3 + ["2024-02-29"] * 3,
    })
    sdtm = {**clean_sdtm(), "RS": rs}
    data = ValidationData({k: prepare_dataset(v) for k, v in sdtm.items()}, {}, instruments={"x": instrument})
    found = CONFORMANCE_RULES["ISL-0110"].check(data)
    assert found[COLUMNS].values.tolist() == [["ISL-0110", "error", "RS", "RSSTRESN", "TINY01-001", 6, "8"]]
    assert found["message"].tolist() == ["TOT 8 differs from the sum of the item scores 4"]


def findings_lb() -> dict[str, pd.DataFrame]:
    sdtm = clean_sdtm()
    sdtm["LB"]["LBLOBXFL"] = ["Y", None, "Y", None]
    return sdtm


@pytest.mark.parametrize("rule_id", ["CG0569", "CG0426", "CG0348", "ISL-0111", "ISL-0112"])
def test_clean_findings_pass_result_rules(rule_id: str) -> None:
    assert run(rule_id, findings_lb()) == []


def test_baseline_flag_without_standard_result_is_cg0569() -> None:
    sdtm = findings_lb()
    sdtm["LB"].loc[0, ["LBSTRESC", "LBSTRESN"]] = [None, None]
    assert run("CG0569", sdtm) == [["CG0569", "error", "LB", "LBLOBXFL", "TINY01-001", 1, "Y"]]


def test_standard_unit_without_standard_result_is_cg0426() -> None:
    sdtm = findings_lb()
    sdtm["LB"].loc[1, ["LBSTRESC", "LBSTRESN"]] = [None, None]
    assert run("CG0426", sdtm) == [["CG0426", "error", "LB", "LBSTRESU", "TINY01-001", 2, "g/g"]]


def test_missing_result_not_explained_is_cg0348() -> None:
    sdtm = findings_lb()
    sdtm["LB"].loc[3, "LBORRES"] = None
    assert run("CG0348", sdtm) == [["CG0348", "error", "LB", "LBORRES", "TINY01-002", 4, None]]
    sdtm["LB"]["LBSTAT"] = [None, None, None, "NOT DONE"]
    assert run("CG0348", sdtm) == []


def test_two_standard_units_for_one_test_is_isl_0111() -> None:
    sdtm = findings_lb()
    sdtm["LB"].loc[3, "LBSTRESU"] = "g/mol"
    assert run("ISL-0111", sdtm) == [
        ["ISL-0111", "warning", "LB", "LBSTRESU", "TINY01-001", 1, "g/g"],
        ["ISL-0111", "warning", "LB", "LBSTRESU", "TINY01-002", 4, "g/mol"],
    ]


def test_two_baseline_records_for_one_test_is_isl_0112() -> None:
    sdtm = findings_lb()
    sdtm["LB"].loc[1, "LBLOBXFL"] = "Y"
    assert run("ISL-0112", sdtm) == [
        ["ISL-0112", "error", "LB", "LBLOBXFL", "TINY01-001", 1, "Y"],
        ["ISL-0112", "error", "LB", "LBLOBXFL", "TINY01-001", 2, "Y"],
    ]


def adlb() -> pd.DataFrame:
    return pd.DataFrame({
        "STUDYID": ["TINY01"] * 4, "USUBJID": ["TINY01-001"] * 4, "PARAMCD": ["UPCR"] * 4,
        "AVISITN": [0.0, 4.0, 4.0, 8.0], "AVAL": [2.0, 1.5, 1.4, 1.0], "BASE": [2.0] * 4,
        "CHG": [0.0, -0.5, -0.6, -1.0], "ABLFL": ["Y", None, None, None], "ANL01FL": ["Y", "Y", None, "Y"],
        "ADY": [-1.0, 28.0, 30.0, 57.0],
    })


@pytest.mark.parametrize("rule_id", ["ISL-0113", "ISL-0114", "ISL-0115", "ISL-0116"])
def test_clean_bds_passes(rule_id: str) -> None:
    assert run(rule_id, clean_sdtm(), {"ADLB": adlb()}) == []


def test_two_baseline_records_in_bds_is_isl_0113() -> None:
    bds = adlb()
    bds.loc[1, "ABLFL"] = "Y"
    assert run("ISL-0113", clean_sdtm(), {"ADLB": bds}) == [
        ["ISL-0113", "error", "ADLB", "ABLFL", "TINY01-001", 1, "Y"], ["ISL-0113", "error", "ADLB", "ABLFL", "TINY01-001", 2, "Y"]]


def test_chg_not_aval_minus_base_is_isl_0114() -> None:
    bds = adlb()
    bds.loc[3, "CHG"] = 1.0
    assert run("ISL-0114", clean_sdtm(), {"ADLB": bds}) == [["ISL-0114", "error", "ADLB", "CHG", "TINY01-001", 4, "1"]]


def test_two_analysis_records_in_one_window_is_isl_0115() -> None:
    bds = adlb()
    bds.loc[2, "ANL01FL"] = "Y"
    assert run("ISL-0115", clean_sdtm(), {"ADLB": bds}) == [
        ["ISL-0115", "error", "ADLB", "ANL01FL", "TINY01-001", 2, "Y"],
        ["ISL-0115", "error", "ADLB", "ANL01FL", "TINY01-001", 3, "Y"]]


def test_analysis_day_zero_is_isl_0116() -> None:
    bds = adlb()
    bds.loc[0, "ADY"] = 0.0
    assert run("ISL-0116", clean_sdtm(), {"ADLB": bds}) == [["ISL-0116", "error", "ADLB", "ADY", "TINY01-001", 1, "0"]]
