"""specs/iscalimab-ln/adam.yaml run end to end on a hand-made four-subject SDTM (tests/adam/mini_study.py)."""

import pandas as pd
import pytest

from pipeline.adam.engine import Engine
from pipeline.common.study import StudyContext

from .mini_study import S1, S2, S3, mini_sdtm

T = pd.Timestamp


@pytest.fixture(scope="module")
def adam():
    ctx = StudyContext.create("iscalimab-ln")
    engine = Engine(ctx.spec("adam"), mini_sdtm(), design=ctx.design, spec_path="adam.yaml",
                    standards_dir=ctx.standards_dir)
    return engine.build()


def _one(frame, **where):
    mask = pd.Series(True, index=frame.index)
    for var, value in where.items():
        mask &= frame[var] == value
    assert mask.sum() == 1, where
    return frame.loc[mask].iloc[0]


def test_adsl_one_row_per_randomised_subject_with_design_treatments(adam):
    adsl = adam["ADSL"]
    assert adsl["USUBJID"].tolist() == [S1, S2, S3]
    assert adsl["TRT01P"].tolist() == ["Iscalimab 10 mg/kg", "Iscalimab 10 mg/kg", "Placebo"]
    assert adsl["TRT01PN"].tolist() == [1, 1, 2]
    assert adsl["REGION1"].tolist() == ["EUROPE", "EUROPE", "ASIA"]


def test_adsl_treatment_dates_disposition_and_flags(adam):
    s1, s2, s3 = (_one(adam["ADSL"], USUBJID=s) for s in (S1, S2, S3))
    assert (s1.TRTSDT, s1.TRTEDT, s1.TRTDURD) == (T("2024-01-10"), T("2024-05-29"), 141)
    assert (s2.EOTSTT, s2.DCTREAS, s2.EOSSTT) == ("DISCONTINUED", "ADVERSE EVENT", "ONGOING")
    assert (s3.EOSSTT, s3.DCSREAS, s3.EOSDT) == ("DISCONTINUED", "WITHDRAWAL BY SUBJECT", T("2024-03-09"))
    assert s1.DCSREAS is None
    assert [s1.COMPLFL, s2.COMPLFL, s3.COMPLFL] == ["Y", "Y", "N"]
    for flag in ["RANDFL", "ITTFL", "SAFFL", "FASFL", "PPROTFL"]:
        assert adam["ADSL"][flag].tolist() == ["Y", "Y", "Y"]


def test_adsl_baseline_covariates(adam):
    s1 = _one(adam["ADSL"], USUBJID=S1)
    # weight: last value on or before first dose (pre-dose Day 1; the Day 29 value is ignored)
    assert (s1.WEIGHTBL, s1.HEIGHTBL, s1.BMIBL) == (65.4, 165.0, 24.0)
    assert (s1.BUPCR, s1.BEGFR, s1.BSLEDAI, s1.BXCLASS) == (2.0, 80.0, 12.0, "IV")
    assert (s1.AGEGR1, _one(adam["ADSL"], USUBJID=S2).AGEGR1) == ("<40", ">=40")


def test_adlb_baseline_windows_and_analysis_flag(adam):
    adlb = adam["ADLB"]
    upcr = adlb[(adlb.USUBJID == S1) & (adlb.PARAMCD == "UPCR")]
    assert upcr["ABLFL"].fillna("").tolist() == ["", "Y", "", "", "", ""]
    assert upcr["AVISIT"].tolist() == ["BASELINE", "BASELINE", "WEEK 4", "WEEK 8", "WEEK 24", "WEEK 24"]
    assert upcr["ANL01FL"].fillna("").tolist() == ["", "Y", "Y", "Y", "Y", ""]
    w24 = _one(adlb, USUBJID=S1, PARAMCD="UPCR", ADY=169)
    assert (w24.BASE, w24.CHG, w24.R2BASE, w24.CRIT1FL) == (2.0, -1.6, 0.2, "Y")
    # equal distance before and after the target: the later record is analysed
    s2 = adlb[(adlb.USUBJID == S2) & (adlb.PARAMCD == "UPCR") & (adlb.AVISIT == "WEEK 24")]
    assert s2.set_index("ADY")["ANL01FL"].fillna("").to_dict() == {166.0: "", 172.0: "Y"}


def test_lupcr_change_is_log_ratio_and_locf_fills_missing_weeks(adam):
    adlb = adam["ADLB"]
    w24 = _one(adlb, USUBJID=S1, PARAMCD="LUPCR", AVISIT="WEEK 24", ANL01FL="Y")
    assert w24.CHG == pytest.approx(pd.Series([0.4 / 2.0]).map(__import__("math").log).item())
    locf = adlb[(adlb.USUBJID == S3) & (adlb.DTYPE == "LOCF")]
    assert locf["AVISIT"].tolist() == ["WEEK 8", "WEEK 12", "WEEK 16", "WEEK 20", "WEEK 24"]
    assert locf["ADT"].unique().tolist() == [T("2024-02-07")]
    assert locf["ANL01FL"].isna().all()
    assert adlb.groupby("USUBJID")["ASEQ"].apply(lambda s: sorted(s) == list(range(1, len(s) + 1))).all()


def test_sledai_total_is_sum_of_items_and_missing_with_a_missing_item(adam):
    tot = adam["ADSLEDAI"].query("PARAMCD == 'SSLD01TS'").set_index(["USUBJID", "AVISIT"])
    assert tot.loc[(S1, "BASELINE"), "AVAL"] == 12.0
    assert tot.loc[(S1, "WEEK 24"), "CHG"] == -8.0
    assert pd.isna(tot.loc[(S3, "WEEK 4"), "AVAL"])
    assert tot.loc[(S3, "WEEK 4"), "ANL01FL"] is None


def test_adrs_complete_renal_response_and_evaluable_flag(adam):
    adrs = adam["ADRS"].set_index("USUBJID")
    assert adrs["AVALC"].to_dict() == {S1: "Y", S2: "N", S3: "N"}
    assert adrs["ANL01FL"].fillna("").to_dict() == {S1: "Y", S2: "Y", S3: ""}
    assert adrs.loc[S2, ["CRIT1FL", "CRIT2FL", "CRIT3FL", "RESCFL"]].tolist() == ["N", "N", "N", "Y"]
    assert adrs["PARAMCD"].unique().tolist() == ["CRR"] and adrs["AVISIT"].unique().tolist() == ["WEEK 24"]


def test_adae_imputation_emergence_and_occurrence(adam):
    adae = adam["ADAE"]
    assert S1 in set(adae.USUBJID) and not adae.USUBJID.str.endswith("0003").any()
    day1 = _one(adae, USUBJID=S1, AESEQ=1)
    assert (day1.ASTDY, day1.TRTEMFL, day1.AOCCFL) == (1, "Y", "Y")
    partial = _one(adae, USUBJID=S1, AESEQ=4)
    # missing severity is queried, not imputed: ASEV stays missing, ASEVQFL = Y
    assert (partial.ASTDT, partial.ASTDTF, partial.TRTEMFL, partial.ASEV, partial.ASEVQFL) == (
        T("2024-01-10"), "D", "Y", None, "Y")
    assert (day1.ASEVQFL, day1.TRTEMW24) == (None, "Y")
    pre = _one(adae, USUBJID=S1, AESEQ=2)
    assert (pre.TRTEMFL, pre.PREFL) == (None, "Y")
    late = _one(adae, USUBJID=S2, AESEQ=2)   # 344 days after the last infusion: outside the 343-day window
    assert (late.TRTEMFL, late.TRTEMW24, late.TRTEMONT) == (None, None, None)


def test_adex_one_record_per_subject_and_parameter(adam):
    adex = adam["ADEX"].set_index(["USUBJID", "PARAMCD"])["AVAL"]
    # mg/kg uses the dosing weight (BASELINE visit, 65.0 kg), not WEIGHTBL (Day 1, 65.4 kg)
    assert adex[(S1, "NINF")] == 7 and adex[(S1, "TOTDOSE")] == 4550 and adex[(S1, "TOTDOSKG")] == 70
    assert adex[(S3, "NINF")] == 3 and adex[(S3, "TOTDOSE")] == 0


def test_result_below_quantification_limit_is_set_to_the_limit(adam):
    w24 = _one(adam["ADLB"], USUBJID=S1, PARAMCD="DSDNA", AVISIT="WEEK 24")
    assert (w24.AVAL, w24.DTYPE, w24.SRCVAR, w24.BASE, w24.CHG) == (10.0, "LLOQ", "LBSTRESC", 45.0, -35.0)
