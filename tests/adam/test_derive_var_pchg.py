import pandas as pd

from pipeline.adam.derive_var_chg import derive_var_pchg


def test_pchg_uses_absolute_base_and_is_missing_for_zero_base():
    lb = pd.DataFrame({"AVAL": [1.5, -3.0, 4.0, 2.0], "BASE": [2.0, -2.0, 0.0, None]})
    assert derive_var_pchg(lb)["PCHG"].fillna(-999).tolist() == [-25.0, -50.0, -999, -999]
