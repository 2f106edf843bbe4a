"""Value-level metadata of define.xml: one row per result variable and test code, from each group's values."""

import pandas as pd

from pipeline.submit.define import build_value_level_meta
from pipeline.submit.metadata import DatasetMeta

ADLB = DatasetMeta("ADLB", "Lab Analysis", "ADaM", "BASIC DATA STRUCTURE", "", ())
VM = pd.DataFrame({"variable": ["PARAMCD", "PARAM", "AVAL", "AVALC"], "kind": ["char", "char", "float", "char"],
                   "label": ["a", "b", "c", "d"]})


def test_value_level_rows_come_from_each_groups_distinct_values_and_first_label():
    frame = pd.DataFrame({
        "PARAMCD": ["GLUC", "ALB", "ALB", "GLUC", "ALB", "EMPTY", None],
        "PARAM": [None, "Albumin (g/L)", "Albumin (other)", "Glucose (mmol/L)", "Albumin (g/L)", "Empty", "x"],
        "AVAL": [5.25, 40.0, 40.0, -12.5, 41.0, None, 3.0],
        "AVALC": ["5.25", "40", "40", "", "41", "", "x"]})
    out = build_value_level_meta(ADLB, frame, VM)
    assert out[["variable", "by_value", "kind", "length", "significant_digits", "label"]].values.tolist() == [
        ["AVAL", "ALB", "integer", 2, pd.NA, "Albumin (g/L)"],
        ["AVAL", "GLUC", "float", 6, 2, "Glucose (mmol/L)"],
        ["AVALC", "ALB", "char", 2, pd.NA, "Albumin (g/L)"],
        ["AVALC", "GLUC", "char", 4, pd.NA, "Glucose (mmol/L)"],
    ]
