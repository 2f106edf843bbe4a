import pandas as pd
import pytest

from pipeline.adam._utils import DerivationError
from pipeline.adam.derive_var_trtemfl import derive_var_trtemfl

D = pd.Timestamp


def _ae(rows):
    return pd.DataFrame(rows, columns=["case", "TRTSDT", "TRTEDT", "ASTDT", "AENDT", "expected"]).assign(
        **{c: lambda df, c=c: pd.to_datetime(df[c]) for c in ["TRTSDT", "TRTEDT", "ASTDT", "AENDT"]})


CASES = _ae([
    ("ae on first dose day is emergent", "2024-01-10", "2024-06-10", "2024-01-10", None, "Y"),
    ("ae the day before first dose is not", "2024-01-10", "2024-06-10", "2024-01-09", "2024-01-20", None),
    ("ae within the end window is emergent", "2024-01-10", "2024-06-10", "2024-07-08", None, "Y"),
    ("ae after the end window is not", "2024-01-10", "2024-06-10", "2024-07-09", None, None),
    ("missing start, ongoing after dose", "2024-01-10", "2024-06-10", None, "2024-02-01", "Y"),
    ("missing start, ended before dose", "2024-01-10", "2024-06-10", None, "2024-01-05", None),
    ("subject never dosed", None, None, "2024-01-10", None, None),
    ("no last dose yet: no upper bound", "2024-01-10", None, "2025-01-10", None, "Y"),
])


def test_trtemfl_table():
    out = derive_var_trtemfl(CASES, trt_end_date="TRTEDT", end_window=28)
    assert dict(zip(out["case"], out["TRTEMFL"])) == dict(zip(CASES["case"], CASES["expected"]))


def test_without_window_every_later_start_is_emergent():
    out = derive_var_trtemfl(CASES)
    assert out.loc[CASES["case"] == "ae after the end window is not", "TRTEMFL"].item() == "Y"


def test_missing_start_can_be_non_emergent_by_spec():
    out = derive_var_trtemfl(CASES, trt_end_date="TRTEDT", end_window=28, missing_start_is_emergent=False)
    assert out.loc[CASES["case"] == "missing start, ongoing after dose", "TRTEMFL"].item() is None


def test_pre_dose_ae_that_worsens_after_dose_is_emergent():
    ae = pd.DataFrame({"TRTSDT": pd.to_datetime(["2024-01-10"] * 4),
                       "ASTDT": pd.to_datetime(["2024-01-05"] * 4),
                       "AENDT": pd.to_datetime([None, None, "2024-01-08", None]),
                       "AESEV": ["SEVERE", "MILD", "SEVERE", None], "BSEV": ["MILD", "MILD", "MILD", "MILD"]})
    out = derive_var_trtemfl(ae, initial_intensity="BSEV", intensity="AESEV")
    # worsened; unchanged; worsened but ended before first dose; missing intensity counts as worse
    assert out["TRTEMFL"].tolist() == ["Y", None, None, "Y"]


def test_end_window_needs_treatment_end():
    with pytest.raises(DerivationError, match="end_window was given but not trt_end_date"):
        derive_var_trtemfl(CASES, end_window=28)


def test_unknown_intensity_is_named():
    ae = pd.DataFrame({"TRTSDT": pd.to_datetime(["2024-01-10"]), "ASTDT": pd.to_datetime(["2024-01-05"]),
                       "AENDT": pd.to_datetime([None]), "AESEV": ["GRADE 3"], "BSEV": ["MILD"]})
    with pytest.raises(DerivationError, match="dataset row 1: AESEV 'GRADE 3' / BSEV 'MILD' not in intensity_order"):
        derive_var_trtemfl(ae, initial_intensity="BSEV", intensity="AESEV")


def test_negative_window_is_refused():
    with pytest.raises(DerivationError, match="end_window must be a non-negative whole number"):
        derive_var_trtemfl(CASES, trt_end_date="TRTEDT", end_window=-1)
