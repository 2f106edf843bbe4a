import pandas as pd
import pytest

from pipeline.adam._utils import DerivationError
from pipeline.adam.derive_var_crit import derive_var_crit


def test_crit_y_n_and_missing_when_not_evaluable():
    df = pd.DataFrame({"AVAL": [0.3, 0.5, None], "BASE": [60.0, 80.0, 70.0]})
    out = derive_var_crit(df, 1, "AVAL < 0.5", "UPCR < 0.5 g/g", values_yn=True, create_numeric_flag=True)
    assert out["CRIT1FL"].fillna("").tolist() == ["Y", "N", ""]
    assert out["CRIT1"].fillna("").tolist() == ["UPCR < 0.5 g/g", "UPCR < 0.5 g/g", ""]
    assert out["CRIT1FN"].fillna(-1).tolist() == [1.0, 0.0, -1]


def test_crit_without_values_yn_flags_only_passes():
    df = pd.DataFrame({"AVAL": [52.0, 70.0], "BASE": [60.0, 60.0]})
    out = derive_var_crit(df, 2, "AVAL >= 60 or AVAL >= 0.85 * BASE", "eGFR >= 60 or drop <= 15%")
    assert out["CRIT2FL"].fillna("").tolist() == ["Y", "Y"]
    out = derive_var_crit(df.assign(AVAL=[40.0, 70.0]), 2, "AVAL >= 60 or AVAL >= 0.85 * BASE", "x")
    assert out["CRIT2FL"].fillna("").tolist() == ["", "Y"]


def test_bad_crit_number():
    with pytest.raises(DerivationError, match="crit_nr must be a whole number 1-9"):
        derive_var_crit(pd.DataFrame({"AVAL": [1]}), 10, "AVAL > 0", "x")
