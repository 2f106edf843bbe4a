"""ADaM of the default simulated study (default seed): the counts the published tables need.

Uses the session fixture ``adam_built`` (simulate -> sdtm -> adam in a temporary folder).
"""

import hashlib

import numpy as np
import pandas as pd
import pytest

ISCAL, PBO = "Iscalimab 10 mg/kg", "Placebo"


@pytest.fixture(scope="module")
def adam(adam_built):
    return {p.stem: pd.read_parquet(p) for p in sorted(adam_built.adam_dir.glob("*.parquet"))}


@pytest.fixture(scope="module")
def truth(adam_built):
    subjects = pd.read_csv(adam_built.truth_dir / "subjects.csv", dtype=str)
    return subjects[subjects["randomised"] == "Y"]


def test_all_datasets_written(adam):
    assert sorted(adam) == ["adae", "adex", "adlb", "adrs", "adsl", "adsledai"]


def test_adsl_one_row_per_randomised_subject_39_vs_18(adam):
    adsl = adam["adsl"]
    assert len(adsl) == 57 and adsl["USUBJID"].is_unique
    assert adsl["TRT01P"].value_counts().to_dict() == {ISCAL: 39, PBO: 18}
    for flag in ["RANDFL", "ITTFL", "SAFFL", "FASFL", "PPROTFL", "COMPLFL"]:
        assert set(adsl[flag]) <= {"Y", "N"}, flag


def test_adsl_matches_simulated_truth(adam, truth):
    merged = truth.merge(adam["adsl"], left_on="usubjid", right_on="USUBJID", how="left")
    assert (pd.to_datetime(merged["first_dose_date"]) == merged["TRTSDT"]).all()
    assert np.allclose(pd.to_numeric(merged["baseline_sledai"]), merged["BSLEDAI"])
    # lab-reported UPCR (3 sites) is rounded by the lab; the truth recomputes it from protein/creatinine
    assert np.allclose(pd.to_numeric(merged["baseline_upcr"]), merged["BUPCR"], atol=0.01)


def _subjects(adae, where):
    rows = adae.query(where)
    return rows.groupby("TRTA")["USUBJID"].nunique().to_dict(), rows.groupby("TRTA").size().to_dict()


def test_serious_teae_6_of_39_and_3_of_18_with_7_and_4_events(adam):
    subjects, events = _subjects(adam["adae"], "TRTEMFL == 'Y' and AESER == 'Y'")
    assert subjects == {ISCAL: 6, PBO: 3}
    assert events == {ISCAL: 7, PBO: 4}


def test_teae_leading_to_treatment_discontinuation_3_vs_1(adam):
    subjects, _ = _subjects(adam["adae"], "TRTEMFL == 'Y' and AEACN == 'DRUG WITHDRAWN'")
    assert subjects == {ISCAL: 3, PBO: 1}


def test_any_teae_about_90_percent_in_both_arms(adam):
    subjects, _ = _subjects(adam["adae"], "TRTEMFL == 'Y'")
    assert 0.8 <= subjects[ISCAL] / 39 <= 1.0 and 0.8 <= subjects[PBO] / 18 <= 1.0


def test_complete_renal_response_3_of_37_and_0_of_18_evaluable(adam, truth):
    adrs = adam["adrs"]
    evaluable = adrs.query("PARAMCD == 'CRR' and AVISIT == 'WEEK 24' and ANL01FL == 'Y'")
    counts = evaluable.groupby("TRTP")["AVALC"].agg(lambda s: ((s == "Y").sum(), len(s))).to_dict()
    assert counts == {ISCAL: (3, 37), PBO: (0, 18)}
    merged = truth.merge(adrs, left_on="usubjid", right_on="USUBJID")
    assert (merged["responder_crr"] == merged["AVALC"]).all()
    assert (merged["rescue"] == merged["RESCFL"]).all()


def test_sledai_mean_change_at_week24(adam):
    w24 = adam["adsledai"].query("PARAMCD == 'SSLD01TS' and AVISIT == 'WEEK 24' and ANL01FL == 'Y'")
    means = w24.groupby("TRTP")["CHG"].mean().round(1).to_dict()
    assert means == {ISCAL: -2.8, PBO: -1.1}


def test_upcr_relative_improvement_from_lupcr_ancova(adam):
    import statsmodels.formula.api as smf

    w24 = adam["adlb"].query("PARAMCD == 'LUPCR' and AVISIT == 'WEEK 24' and ANL01FL == 'Y'")
    model = smf.ols("CHG ~ C(TRTP) + BASE", data=w24).fit()
    grid = pd.DataFrame({"TRTP": [ISCAL, PBO], "BASE": w24["BASE"].mean()})
    improvement = (100 * (1 - np.exp(model.predict(grid)))).round(1).tolist()
    assert improvement == [63.1, 36.3]


def test_rerun_is_byte_identical(adam_built):
    from pipeline.adam.stage import run

    def digest():
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in adam_built.adam_dir.glob("*.parquet")}

    before = digest()
    run(adam_built)
    assert digest() == before


# --- unscheduled visits and protocol deviations -----------------------------------------------------------------


def test_week24_upcr_analysis_record_is_the_scheduled_visit(adam):
    adlb = adam["adlb"]
    unscheduled = adlb["VISIT"].str.startswith("UNSCHEDULED", na=False)
    assert (unscheduled & (adlb["PARAMCD"] == "UPCR")).sum() >= 15       # repeat urine samples reach ADLB
    for param in ["UPCR", "LUPCR", "EGFR"]:
        w24 = adlb[(adlb["PARAMCD"] == param) & (adlb["AVISIT"] == "WEEK 24") & (adlb["ANL01FL"] == "Y")]
        assert len(w24) == 37 + 18, param                                   # the evaluable subjects
        assert (w24["VISIT"] == "WEEK 24").all(), param
        base = adlb[(adlb["PARAMCD"] == param) & (adlb["ABLFL"] == "Y")]
        assert not base["VISIT"].str.startswith("UNSCHEDULED", na=False).any(), param
    # an unscheduled record is analysed only where its window has no scheduled value
    analysed = adlb[unscheduled & (adlb["ANL01FL"] == "Y") & adlb["DTYPE"].isna()]
    scheduled = adlb[~unscheduled & adlb["AVAL"].notna() & adlb["DTYPE"].isna()]
    clash = analysed.merge(scheduled, on=["USUBJID", "PARAMCD", "AVISIT"])
    assert clash.empty, clash[["USUBJID", "PARAMCD", "AVISIT"]].head()


def test_pprotfl_is_fas_without_major_deviation_as_simulated(adam, truth):
    adsl = adam["adsl"].set_index("USUBJID")
    expected = truth.set_index("usubjid")["per_protocol"]
    assert (adsl.loc[expected.index, "PPROTFL"].to_numpy() == expected.to_numpy()).all()
    assert adsl.groupby("TRT01P")["PPROTFL"].apply(lambda f: int((f == "Y").sum())).to_dict() == {ISCAL: 37, PBO: 16}
    assert (adsl.loc[adsl["PPROTFL"] == "Y", "FASFL"] == "Y").all()


def test_pprotfl_on_hand_made_sdtm_with_and_without_a_deviation_log():
    from pipeline.adam.engine import Engine
    from pipeline.common.study import StudyContext

    from .mini_study import S1, S2, S3, STUDYID, mini_sdtm

    ctx = StudyContext.create("iscalimab-ln")

    def pprotfl(sdtm):
        engine = Engine(ctx.spec("adam"), sdtm, design=ctx.design, spec_path="adam.yaml", standards_dir=ctx.standards_dir)
        return engine.build()["ADSL"].set_index("USUBJID")["PPROTFL"].to_dict()

    # no DV domain (exports without a deviation log): the optional step falls back to MAJDVFL = N
    assert pprotfl(mini_sdtm()) == {S1: "Y", S2: "Y", S3: "Y"}
    dv = pd.DataFrame({"STUDYID": STUDYID, "DOMAIN": "DV", "USUBJID": [S1, S2, S2], "DVSEQ": [1.0, 1.0, 2.0],
                       "DVTERM": ["Live vaccine given", "Visit outside window", "Infusion too short"],
                       "DVCAT": ["MINOR", "MAJOR", "MINOR"], "DVSTDTC": ["2024-02-01", "2024-03-01", "2024-03-05"]})
    assert pprotfl({**mini_sdtm(), "dv": dv}) == {S1: "Y", S2: "N", S3: "Y"}


def test_implausible_values_are_excluded_with_a_reason(adam):
    adlb = adam["adlb"]
    excluded = adlb[adlb["ANL01RSN"].notna()]
    assert set(excluded["ANL01FL"]) == {"N"}
    # the review's findings: UPCR 1316, 695 and 228 g/g and urine creatinine 16,685 mmol/L
    upcr = sorted(excluded.loc[excluded["PARAMCD"] == "UPCR", "AVAL"].round(0).tolist())
    assert upcr == [228.0, 695.0, 1316.0]
    assert excluded.loc[excluded["PARAMCD"] == "UCREAT", "AVAL"].round(0).tolist() == [16686.0]
    # never baseline, never analysed; every analysed UPCR is plausible
    assert (excluded["ABLFL"] != "Y").all()
    analysed = adlb[(adlb["PARAMCD"] == "UPCR") & (adlb["ANL01FL"] == "Y")]
    assert analysed["AVAL"].between(0, 20).all()


def test_week24_period_flag_is_within_the_whole_study_flag(adam):
    adae = adam["adae"]
    assert ((adae["TRTEMW24"] != "Y") | (adae["TRTEMFL"] == "Y")).all()
    w24 = adae[adae["TRTEMW24"] == "Y"]
    assert w24["ASTDY"].dropna().between(1, 169).all()
    assert (adae["TRTEMFL"] == "Y").sum() > len(w24)
    # unmapped severities are queried, not promoted
    assert adae.loc[adae["AESEV"] == "VERY BAD", ["ASEV", "ASEVQFL"]].isna().sum().tolist() == [2, 0]
