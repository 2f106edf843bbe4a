"""Non-negotiable: no verb changes the caller's frames (values, columns, index or dtypes)."""

import pandas as pd
import pytest

import pipeline.adam as adam

T = pd.to_datetime


def _bds():
    return pd.DataFrame({
        "STUDYID": ["S"] * 4, "USUBJID": ["1", "1", "1", "2"], "PARAMCD": ["UPCR"] * 4, "PARAMN": [1.0] * 4,
        "ADTC": ["2024-01-08", "2024-02", "2024-06-26", None],
        "ADT": T(["2024-01-08", "2024-02-07", "2024-06-26", "2024-01-09"]),
        "TRTSDT": T(["2024-01-10"] * 3 + ["2024-01-10"]), "TRTEDT": T(["2024-05-29"] * 4),
        "AVAL": [2.0, 1.0, 0.4, 3.0], "BASE": [2.0, 2.0, 2.0, 3.0], "ABLFL": ["Y", None, None, "Y"],
        "ADY": [-2.0, 29.0, 169.0, -1.0], "AVISIT": ["BASELINE", "WEEK 4", "WEEK 24", "BASELINE"],
        "AVISITN": [2.0, 5.0, 10.0, 2.0], "AWTDIFF": [3.0, 0.0, 0.0, 2.0], "SRCSEQ": [1.0, 2.0, 3.0, 1.0],
        "ASTDT": T(["2024-01-10", "2024-02-01", None, "2024-01-01"]), "AENDT": T([None] * 4),
        "AEBODSYS": ["A", "A", "B", "A"], "AEDECOD": ["x", "y", "z", "x"], "AESEQ": [1.0, 2.0, 3.0, 1.0],
    }, index=[10, 11, 12, 13])


ADD = pd.DataFrame({"USUBJID": ["1", "2"], "RANDDT": T(["2024-01-08", "2024-01-09"])})
REF = pd.DataFrame({"PARAMCD": ["UPCR"] * 3, "AVISITN": [5.0, 8.0, 10.0], "AVISIT": ["WEEK 4", "WEEK 16", "WEEK 24"]})
WINDOWS = adam.compute_windows([{"AVISIT": "WEEK 4", "AVISITN": 5, "AWTARGET": 29},
                                {"AVISIT": "WEEK 24", "AVISITN": 10, "AWTARGET": 169}], first_lower=2)

CALLS = {
    "derive_vars_merged": lambda d, a: adam.derive_vars_merged(d, a, ["USUBJID"], new_vars=["RANDDT"]),
    "derive_vars_joined": lambda d, a: adam.derive_vars_joined(d, a, ["USUBJID"], new_vars={"R": "RANDDT"},
                                                               filter_join="RANDDT <= ADT", order=["RANDDT"]),
    "derive_vars_dt": lambda d, a: adam.derive_vars_dt(d, "X", "ADTC", highest_imputation="M", min_dates=["TRTSDT"]),
    "derive_vars_dtm": lambda d, a: adam.derive_vars_dtm(d, "X", "ADTC", highest_imputation="M"),
    "derive_var_dy": lambda d, a: adam.derive_var_dy(d, "TRTSDT", "ASTDT"),
    "derive_vars_dy": lambda d, a: adam.derive_vars_dy(d, "TRTSDT", {"XDY": "ADT"}),
    "derive_var_trtemfl": lambda d, a: adam.derive_var_trtemfl(d, trt_end_date="TRTEDT", end_window=30),
    "derive_var_ablfl": lambda d, a: adam.derive_var_ablfl(d, ["USUBJID", "PARAMCD"], new_var="ABLFL2"),
    "derive_var_base": lambda d, a: adam.derive_var_base(d, ["USUBJID", "PARAMCD"], new_var="BASE2"),
    "derive_var_chg": lambda d, a: adam.derive_var_chg(d),
    "derive_var_pchg": lambda d, a: adam.derive_var_pchg(d),
    "derive_var_r2base": lambda d, a: adam.derive_var_r2base(d),
    "derive_vars_avisit": lambda d, a: adam.derive_vars_avisit(d.drop(columns=["AVISIT", "AVISITN", "AWTDIFF"]), WINDOWS),
    "derive_var_anl01fl": lambda d, a: adam.derive_var_anl01fl(d),
    "derive_locf_records": lambda d, a: adam.derive_locf_records(d, REF, ["USUBJID", "PARAMCD"], ["AVISITN"]),
    "derive_var_extreme_flag": lambda d, a: adam.derive_var_extreme_flag(d, ["USUBJID"], ["ASTDT"], "FL"),
    "derive_summary_records": lambda d, a: adam.derive_summary_records(d, ["USUBJID"], {"PARAMCD": "T"}),
    "derive_param_exposure": lambda d, a: adam.derive_param_exposure(d, ["USUBJID"], "UPCR", {"PARAMCD": "T"}),
    "derive_param_computed": lambda d, a: adam.derive_param_computed(d, ["USUBJID", "SRCSEQ"], ["UPCR"],
                                                                     "log(AVAL_UPCR)", {"PARAMCD": "L"}),
    "derive_var_pop_flags": lambda d, a: adam.derive_var_pop_flags(d, {"SAFFL": "notna(TRTSDT)"}),
    "derive_var_crit": lambda d, a: adam.derive_var_crit(d, 1, "AVAL < 0.5", "x", values_yn=True),
    "derive_vars_cat": lambda d, a: adam.derive_vars_cat(d, [{"condition": "AVAL < 1", "G": "lo"}]),
    "derive_var_obs_number": lambda d, a: adam.derive_var_obs_number(d, ["USUBJID"], ["ADT"]),
}


@pytest.mark.parametrize("verb", sorted(CALLS))
def test_verb_leaves_inputs_unchanged(verb):
    dataset, add = _bds(), ADD.copy()
    before, add_before = dataset.copy(deep=True), add.copy(deep=True)
    out = CALLS[verb](dataset, add)
    pd.testing.assert_frame_equal(dataset, before)
    pd.testing.assert_frame_equal(add, add_before)
    assert out is not dataset


def test_every_public_verb_is_covered():
    verbs = {name for name in adam.__all__ if name.startswith("derive_")}
    assert verbs == set(CALLS)
