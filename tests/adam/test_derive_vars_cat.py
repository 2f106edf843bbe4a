import pandas as pd
import pytest

from pipeline.adam._utils import DerivationError
from pipeline.adam.derive_vars_cat import derive_vars_cat

AGEGR = [
    {"condition": "AGE < 65", "AGEGR1": "<65", "AGEGR1N": 1},
    {"condition": "AGE >= 65 and AGE <= 80", "AGEGR1": "65-80", "AGEGR1N": 2},
    {"condition": "AGE > 80", "AGEGR1": ">80", "AGEGR1N": 3},
]


@pytest.mark.parametrize("age, group, number", [(64, "<65", 1), (65, "65-80", 2), (80, "65-80", 2), (81, ">80", 3),
                                                (None, None, None)])
def test_age_groups_boundaries(age, group, number):
    out = derive_vars_cat(pd.DataFrame({"AGE": [age]}, dtype=float), AGEGR)
    assert out["AGEGR1"].item() == group
    assert (number is None and pd.isna(out["AGEGR1N"].item())) or out["AGEGR1N"].item() == number


def test_first_matching_condition_wins_and_true_is_else():
    ds = pd.DataFrame({"DCSREAS": ["COMPLETED", "ADVERSE EVENT", None]})
    out = derive_vars_cat(ds, [{"condition": "DCSREAS == 'COMPLETED'", "EOSSTT": "COMPLETED"},
                               {"condition": "notna(DCSREAS)", "EOSSTT": "DISCONTINUED"},
                               {"condition": "True", "EOSSTT": "ONGOING"}])
    assert out["EOSSTT"].tolist() == ["COMPLETED", "DISCONTINUED", "ONGOING"]


def test_inconsistent_definition_rows_are_named():
    with pytest.raises(DerivationError, match="definition row 2 sets"):
        derive_vars_cat(pd.DataFrame({"AGE": [1]}), [{"condition": "AGE < 5", "A": 1}, {"condition": "AGE >= 5", "B": 2}])


def test_value_copied_from_another_variable():
    ds = pd.DataFrame({"EOSDECOD": ["COMPLETED", "ADVERSE EVENT", None]})
    out = derive_vars_cat(ds, [{"condition": "EOSDECOD == 'COMPLETED'", "EOSSTT": "COMPLETED", "DCSREAS": None},
                               {"condition": "notna(EOSDECOD)", "EOSSTT": "DISCONTINUED", "DCSREAS": "=EOSDECOD"},
                               {"condition": "True", "EOSSTT": "ONGOING", "DCSREAS": None}])
    assert out["DCSREAS"].tolist() == [None, "ADVERSE EVENT", None]
    assert out["EOSSTT"].tolist() == ["COMPLETED", "DISCONTINUED", "ONGOING"]


def test_copied_values_follow_row_positions_when_index_labels_repeat():
    adsl = pd.DataFrame({"EOSSTT": ["COMPLETED", "DISCONTINUED", "DISCONTINUED"],
                         "EOSDECOD": ["COMPLETED", "ADVERSE EVENT", "WITHDRAWAL BY SUBJECT"]}, index=[0, 0, 1])
    out = derive_vars_cat(adsl, [{"condition": "EOSSTT == 'DISCONTINUED'", "DCSREAS": "=EOSDECOD"}])
    assert out["DCSREAS"].tolist() == [None, "ADVERSE EVENT", "WITHDRAWAL BY SUBJECT"]
