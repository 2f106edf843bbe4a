import pandas as pd

from pipeline.adam.derive_var_obs_number import derive_var_obs_number


def test_sequence_within_subject_by_order_with_input_order_for_ties():
    df = pd.DataFrame({"USUBJID": ["2", "1", "1", "1"], "PARAMCD": ["A", "B", "A", "A"], "ADT": [1, 1, 2, 1]})
    out = derive_var_obs_number(df, ["USUBJID"], ["PARAMCD", "ADT"])
    assert out["ASEQ"].tolist() == [1.0, 3.0, 2.0, 1.0]


def test_duplicate_index_labels_number_each_record_by_its_own_order():
    adae = pd.DataFrame({"USUBJID": ["1", "1", "2"], "ASTDY": [2.0, 1.0, 3.0]}, index=[0, 0, 1])
    out = derive_var_obs_number(adae, ["USUBJID"], ["ASTDY"])
    assert out["ASEQ"].tolist() == [2.0, 1.0, 1.0]
    assert out.index.tolist() == [0, 0, 1]
