import pandas as pd
import pytest

from pipeline.adam._utils import DerivationError
from pipeline.adam.derive_vars_dt import compute_dt, derive_vars_dt, parse_dtc

T = pd.Timestamp


def _dt(values, **kwargs):
    dates, flags = compute_dt(pd.Series(values, dtype=object), **kwargs)
    return [None if pd.isna(d) else d.strftime("%Y-%m-%d") for d in dates], flags.tolist()


@pytest.mark.parametrize("highest, imputation, expected_dates, expected_flags", [
    ("n", "first", [None, None, None, "2024-02-10"], [None, None, None, None]),
    ("D", "first", ["2024-02-01", None, None, "2024-02-10"], ["D", None, None, None]),
    ("M", "first", ["2024-02-01", "2024-01-01", None, "2024-02-10"], ["D", "M", None, None]),
    ("M", "last", ["2024-02-29", "2024-12-31", None, "2024-02-10"], ["D", "M", None, None]),
    ("M", "mid", ["2024-02-15", "2024-06-30", None, "2024-02-10"], ["D", "M", None, None]),
    ("M", "06-15", ["2024-02-15", "2024-06-15", None, "2024-02-10"], ["D", "M", None, None]),
])
def test_imputation_levels(highest, imputation, expected_dates, expected_flags):
    dates, flags = _dt(["2024-02", "2024", None, "2024-02-10T08:00"], highest_imputation=highest,
                       date_imputation=imputation)
    assert dates == expected_dates
    assert flags == expected_flags


def test_missing_month_with_known_day_preserve_keeps_the_day():
    assert _dt(["2024---15"], highest_imputation="M", preserve=True) == (["2024-01-15"], ["M"])
    assert _dt(["2024---15"], highest_imputation="M", preserve=False) == (["2024-01-01"], ["M"])


def test_ae_start_missing_day_in_first_dose_month_imputes_to_trtsdt():
    ae = pd.DataFrame({"AESTDTC": ["2024-03", "2024-03", "2024-04", "2024", "2023-12"],
                       "TRTSDT": pd.to_datetime(["2024-03-10", None, "2024-03-10", "2024-03-10", "2024-03-10"])})
    out = derive_vars_dt(ae, "AST", "AESTDTC", highest_imputation="M", min_dates=["TRTSDT"])
    assert out["ASTDT"].tolist() == [T("2024-03-10"), T("2024-03-01"), T("2024-04-01"), T("2024-03-10"),
                                     T("2023-12-01")]
    assert out["ASTDTF"].tolist() == ["D", "D", "D", "M", "D"]


def test_ae_end_is_capped_by_death_date_in_the_same_month():
    ae = pd.DataFrame({"AEENDTC": ["2024-05", "2024-05", "2024-05-03"],
                       "DTHDT": pd.to_datetime(["2024-05-20", "2024-07-01", "2024-05-01"])})
    out = derive_vars_dt(ae, "AEN", "AEENDTC", highest_imputation="M", date_imputation="last", max_dates=["DTHDT"])
    # a complete date is never changed, even when after the bound
    assert out["AENDT"].tolist() == [T("2024-05-20"), T("2024-05-31"), T("2024-05-03")]
    assert out["AENDTF"].tolist() == ["D", "D", None]


def test_missing_date_with_year_imputation_uses_min_date():
    ae = pd.DataFrame({"AESTDTC": [None, ""], "TRTSDT": pd.to_datetime(["2024-03-10", None])})
    out = derive_vars_dt(ae, "AST", "AESTDTC", highest_imputation="Y", min_dates=["TRTSDT"])
    assert out["ASTDT"].tolist() == [T("2024-03-10"), pd.NaT]
    assert out["ASTDTF"].tolist() == ["Y", None]


def test_no_flag_without_imputation_unless_asked():
    df = pd.DataFrame({"LBDTC": ["2024-01-01"]})
    assert "ADTF" not in derive_vars_dt(df, "A", "LBDTC").columns
    assert derive_vars_dt(df, "A", "LBDTC", flag_imputation="date")["ADTF"].tolist() == [None]


def test_invalid_text_names_column_row_and_value():
    df = pd.DataFrame({"USUBJID": ["1", "2"], "AESTDTC": ["2024-01-01", "01/02/2024"]})
    with pytest.raises(DerivationError, match=r"dataset.AESTDTC: value '01/02/2024' on row 2 is not an ISO 8601 date"):
        derive_vars_dt(df, "AST", "AESTDTC")


def test_impossible_calendar_date_is_an_error():
    with pytest.raises(DerivationError, match="'2024-02-30' on row 1 is not a calendar date"):
        compute_dt(pd.Series(["2024-02-30"]))


def test_parse_dtc_splits_partial_forms():
    parts = parse_dtc(pd.Series(["2024-03-05T10:11:12", "2024-03", "2024", "2024---05", None]))
    assert parts.fillna(0).values.tolist() == [[2024, 3, 5], [2024, 3, 0], [2024, 0, 0], [2024, 0, 5], [0, 0, 0]]


def test_parse_dtc_of_repeated_values_keeps_rows_and_index():
    dtc = pd.Series(["2024-03-05", None, "2024-03-05", " 2024-03 ", float("nan"), "2024"], index=[9, 8, 7, 6, 5, 4])
    parts = parse_dtc(dtc)
    assert parts.index.tolist() == [9, 8, 7, 6, 5, 4]
    assert parts.fillna(0).values.tolist() == [[2024, 3, 5], [0, 0, 0], [2024, 3, 5], [2024, 3, 0], [0, 0, 0],
                                               [2024, 0, 0]]


def test_parse_dtc_names_the_first_row_of_a_repeated_bad_value():
    with pytest.raises(DerivationError, match="AESTDTC: value 'x' on row 3 is not an ISO 8601 date"):
        parse_dtc(pd.Series(["2024-01-01", "2024-01-01", "x", "2024-01-01", "x"]), "AESTDTC")


def test_bad_arguments_are_named():
    df = pd.DataFrame({"X": ["2024"]})
    with pytest.raises(DerivationError, match="highest_imputation must be one of n, D, M, Y"):
        derive_vars_dt(df, "A", "X", highest_imputation="Q")
    with pytest.raises(DerivationError, match="date_imputation must be first, mid, last or MM-DD"):
        derive_vars_dt(df, "A", "X", highest_imputation="M", date_imputation="sometime")
    with pytest.raises(DerivationError, match="required variable LBDTC is missing"):
        derive_vars_dt(df, "A", "LBDTC")
