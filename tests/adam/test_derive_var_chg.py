import pandas as pd

from pipeline.adam.derive_var_chg import derive_var_chg


def test_chg_is_aval_minus_base_everywhere_by_default():
    lb = pd.DataFrame({"AVAL": [10.0, 7.5, None, 12.0], "BASE": [10.0, 10.0, 10.0, None]})
    assert derive_var_chg(lb)["CHG"].fillna(-99).tolist() == [0.0, -2.5, -99, -99]


def test_chg_restricted_to_post_baseline_records():
    lb = pd.DataFrame({"AVAL": [10.0, 7.5], "BASE": [10.0, 10.0], "ADY": [-2.0, 29.0]})
    assert derive_var_chg(lb, filter_add="ADY > 1")["CHG"].fillna(-99).tolist() == [-99, -2.5]


def test_log_scale_change_is_log_ratio():
    import numpy as np
    lb = pd.DataFrame({"AVAL": [np.log(0.5)], "BASE": [np.log(2.0)]})
    assert derive_var_chg(lb)["CHG"].round(12).tolist() == [round(np.log(0.25), 12)]
