import pandas as pd

from pipeline.adam.derive_var_chg import derive_var_r2base


def test_r2base_ratio_and_zero_base():
    lb = pd.DataFrame({"AVAL": [0.74, 3.0, 1.0], "BASE": [2.0, 0.0, None], "ABLFL": [None, None, None]})
    assert derive_var_r2base(lb)["R2BASE"].fillna(-1).tolist() == [0.37, -1, -1]


def test_r2base_only_where_filter_holds():
    lb = pd.DataFrame({"AVAL": [2.0, 1.0], "BASE": [2.0, 2.0], "ABLFL": ["Y", None]})
    assert derive_var_r2base(lb, filter_add="ABLFL != 'Y'")["R2BASE"].fillna(-1).tolist() == [-1, 0.5]
