import pandas as pd
import pytest

from pipeline.adam._utils import DerivationError
from pipeline.adam.derive_var_dy import compute_dy, derive_var_dy
from pipeline.adam.derive_vars_dy import derive_vars_dy


@pytest.mark.parametrize("date, expected", [
    ("2024-01-08", -2.0), ("2024-01-09", -1.0), ("2024-01-10", 1.0), ("2024-01-11", 2.0), (None, None),
])
def test_no_day_zero(date, expected):
    out = compute_dy(pd.to_datetime(pd.Series(["2024-01-10"])), pd.to_datetime(pd.Series([date])))
    assert (pd.isna(out[0]) and expected is None) or out[0] == expected


def test_missing_reference_gives_missing_day():
    out = compute_dy(pd.to_datetime(pd.Series([None])), pd.to_datetime(pd.Series(["2024-01-10"])))
    assert out.isna().all()


def test_names_follow_source_variables():
    df = pd.DataFrame({"TRTSDT": pd.to_datetime(["2024-01-10"]), "ASTDT": pd.to_datetime(["2024-01-12"]),
                       "ADT": pd.to_datetime(["2024-01-01"])})
    out = derive_vars_dy(df, "TRTSDT", ["ASTDT", "ADT"])
    assert out[["ASTDY", "ADY"]].values.tolist() == [[3.0, -9.0]]
    assert derive_vars_dy(df, "TRTSDT", {"MYDY": "ADT"})["MYDY"].tolist() == [-9.0]


def test_unnamed_day_needs_new_var():
    df = pd.DataFrame({"TRTSDT": pd.to_datetime(["2024-01-10"]), "WHEN": pd.to_datetime(["2024-01-12"])})
    with pytest.raises(DerivationError, match="give new_var"):
        derive_var_dy(df, "TRTSDT", "WHEN")
