import pandas as pd

from pipeline.adam.derive_var_extreme_flag import derive_var_anl01fl


def test_closest_to_target_tie_goes_to_later_record_missing_values_ignored():
    lb = pd.DataFrame({
        "USUBJID": ["1"] * 6 + ["2"],
        "PARAMCD": ["UPCR"] * 7,
        "AVISIT": ["WEEK 4", "WEEK 4", "WEEK 4", "WEEK 8", "WEEK 8", None, "WEEK 4"],
        "ADY": [27, 31, 29, 50, 60, 400, 29],
        "AWTDIFF": [2, 2, 0, 7, 3, None, 0],
        "AVAL": [1.0, 1.1, None, 0.9, 0.8, 0.5, 2.0],
        "SRCSEQ": [1, 2, 3, 4, 5, 6, 1],
    })
    out = derive_var_anl01fl(lb)
    # W4: the on-target record has no value; 27 and 31 tie at 2 days -> the later (31)
    assert out["ANL01FL"].fillna("").tolist() == ["", "Y", "", "", "Y", "", "Y"]


def test_same_day_duplicates_use_the_order_tie_breaker():
    lb = pd.DataFrame({"USUBJID": ["1", "1"], "PARAMCD": ["UPCR"] * 2, "AVISIT": ["WEEK 4"] * 2, "ADY": [29, 29],
                       "AWTDIFF": [0, 0], "AVAL": [1.0, 2.0], "SRCSEQ": [7, 3]})
    out = derive_var_anl01fl(lb, order=["AWTDIFF", "desc(ADY)", "desc(SRCSEQ)"])
    assert out["ANL01FL"].tolist() == ["Y", None]
