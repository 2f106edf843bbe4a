"""derive_vars_stresc: standard results from original results, with unit conversion and censored values."""

import pandas as pd
import pytest

from pipeline.common.errors import ConfigError, InputError
from pipeline.sdtm.derive_vars_stresc import derive_vars_stresc, parse_censored

CONVERSIONS = pd.DataFrame(
    {
        "LBTESTCD": ["CREAT", "PROT", "C3"],
        "ORRESU": ["mg/dL", "mg/dL", "mg/dL"],
        "STRESU": ["umol/L", "g/L", "g/L"],
        "FACTOR": [88.42, 0.01, 0.01],
        "DECIMALS": [1, None, None],
    }
)


def standard(testcd, orres, orresu, **kwargs):
    frame = pd.DataFrame({"LBTESTCD": [testcd], "LBORRES": [orres], "LBORRESU": [orresu]})
    out = derive_vars_stresc(frame, "LB", dataset_add=CONVERSIONS, **kwargs).iloc[0]
    stresn = None if pd.isna(out["LBSTRESN"]) else out["LBSTRESN"]
    return out["LBSTRESC"], stresn, out["LBSTRESU"]


@pytest.mark.parametrize(
    "testcd, orres, orresu, expected",
    [
        ("CREAT", "1.2", "mg/dL", ("106.1", 106.1, "umol/L")),
        ("CREAT", "0.85", "mg/dL", ("75.2", 75.2, "umol/L")),  # 75.157 rounded to 1 decimal
        ("CREAT", "95", "umol/L", ("95", 95.0, "umol/L")),  # already standard
        ("PROT", "30", "mg/dL", ("0.3", 0.3, "g/L")),  # no float noise
        ("CREAT", "<0.5", "mg/dL", ("<44.2", None, "umol/L")),
        ("C3", ">= 200", "mg/dL", (">=2", None, "g/L")),
        ("RBC", "NEGATIVE", None, ("NEGATIVE", None, None)),
        ("CREAT", None, "mg/dL", (None, None, None)),  # not done
        ("CREAT", "1.20", "mg/dL", ("106.1", 106.1, "umol/L")),
    ],
)
def test_stresc_table(testcd, orres, orresu, expected):
    assert standard(testcd, orres, orresu) == expected


def test_stresc_censored_keeps_operator_and_leaves_stresn_null():
    stresc, stresn, _ = standard("CREAT", "<0.1", "umol/L")
    assert stresc == "<0.1" and stresn is None


def test_stresc_without_conversion_table_keeps_units():
    frame = pd.DataFrame({"VSTESTCD": ["WEIGHT"], "VSORRES": ["72.50"], "VSORRESU": ["kg"]})
    out = derive_vars_stresc(frame, "VS")
    assert out[["VSSTRESC", "VSSTRESN", "VSSTRESU"]].values.tolist() == [["72.5", 72.5, "kg"]]


def test_stresc_converts_reference_ranges():
    frame = pd.DataFrame(
        {"LBTESTCD": ["CREAT"], "LBORRES": ["1.0"], "LBORRESU": ["mg/dL"], "LBORNRLO": ["0.5"], "LBORNRHI": ["1.1"]}
    )
    out = derive_vars_stresc(frame, "LB", dataset_add=CONVERSIONS)
    assert out[["LBSTNRLO", "LBSTNRHI"]].values.tolist() == [[44.2, 97.3]]


def test_stresc_strict_missing_conversion_names_the_row():
    with pytest.raises(InputError, match=r"row 0 \(LBTESTCD=CREAT, LBORRESU=mmol/L"):
        standard("CREAT", "0.1", "mmol/L", strict=True)


def test_stresc_conversion_table_with_duplicates_is_a_config_error():
    frame = pd.DataFrame({"LBTESTCD": ["CREAT"], "LBORRES": ["1"], "LBORRESU": ["mg/dL"]})
    with pytest.raises(ConfigError, match="more than one row"):
        derive_vars_stresc(frame, "LB", dataset_add=pd.concat([CONVERSIONS, CONVERSIONS.iloc[[0]]]))


def test_stresc_conversion_factor_that_is_not_a_number_names_the_row():
    table = CONVERSIONS.assign(FACTOR=["88.42", "x", "0.01"])
    with pytest.raises(ConfigError, match=r"FACTOR must be a number on every row, not on row 1 \(LBTESTCD=PROT, ORRESU=mg/dL, FACTOR=x\)"):
        derive_vars_stresc(pd.DataFrame({"LBTESTCD": ["PROT"], "LBORRES": ["30"], "LBORRESU": ["mg/dL"]}), "LB",
                           dataset_add=table)


def test_stresc_does_not_touch_input():
    frame = pd.DataFrame({"LBTESTCD": ["CREAT"], "LBORRES": ["1"], "LBORRESU": ["mg/dL"]})
    copy = frame.copy()
    derive_vars_stresc(frame, "LB", dataset_add=CONVERSIONS)
    pd.testing.assert_frame_equal(frame, copy)


@pytest.mark.parametrize(
    "text, operator, number",
    [("5", None, 5.0), ("-1.5e2", None, -150.0), ("<= 3", "<=", 3.0), ("=7", None, 7.0), (".5", None, 0.5), ("1+", None, None)],
)
def test_parse_censored_table(text, operator, number):
    parsed = parse_censored(pd.Series([text])).iloc[0]
    assert parsed["operator"] == operator
    assert (pd.isna(parsed["number"]) and number is None) or parsed["number"] == number
