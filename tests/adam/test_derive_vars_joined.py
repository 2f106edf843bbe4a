import pandas as pd

from pipeline.adam.derive_vars_joined import derive_vars_joined


def test_rescue_between_first_dose_and_week24_date():
    adsl = pd.DataFrame({"USUBJID": ["1", "2", "3"], "TRTSDT": pd.to_datetime(["2024-01-01"] * 3),
                         "W24DT": pd.to_datetime(["2024-06-17", "2024-06-17", None])})
    cm = pd.DataFrame({"USUBJID": ["1", "1", "2", "3"], "CMDECOD": ["RITUXIMAB", "CYCLOPHOSPHAMIDE", "RITUXIMAB", "X"],
                       "ASTDT": pd.to_datetime(["2024-05-01", "2024-03-01", "2023-12-01", "2024-02-01"])})
    out = derive_vars_joined(adsl, cm, ["USUBJID"], new_vars={"RESCDT": "ASTDT", "RESCTRT": "CMDECOD"},
                             filter_add="CMDECOD in ['RITUXIMAB', 'CYCLOPHOSPHAMIDE']",
                             filter_join="ASTDT >= TRTSDT and ASTDT <= W24DT", order=["ASTDT"], mode="first",
                             exist_flag="RESCFL", false_value="N")
    assert out["RESCFL"].tolist() == ["Y", "N", "N"]
    assert out["RESCTRT"].tolist()[0] == "CYCLOPHOSPHAMIDE"
    assert out["RESCDT"].tolist()[0] == pd.Timestamp("2024-03-01")


def test_clashing_names_get_join_suffix():
    left = pd.DataFrame({"USUBJID": ["1"], "ADT": pd.to_datetime(["2024-01-10"])})
    right = pd.DataFrame({"USUBJID": ["1", "1"], "ADT": pd.to_datetime(["2024-01-05", "2024-01-20"]), "AVAL": [1.0, 2.0]})
    out = derive_vars_joined(left, right, ["USUBJID"], new_vars={"PREVAL": "AVAL"}, filter_join="ADT_join <= ADT",
                             order=["ADT"], mode="last")
    assert out["PREVAL"].tolist() == [1.0]
