"""derive_var_nrind: reference range indicator from standard results and ranges."""

import pandas as pd
import pytest

from pipeline.sdtm.derive_var_nrind import derive_var_nrind, parse_censored


@pytest.mark.parametrize(
    "stresc, stresn, low, high, expected",
    [
        ("3", 3.0, 4.0, 10.0, "LOW"),
        ("4", 4.0, 4.0, 10.0, "NORMAL"),  # limits are inclusive
        ("10", 10.0, 4.0, 10.0, "NORMAL"),
        ("10.1", 10.1, 4.0, 10.0, "HIGH"),
        ("0.1", 0.1, None, 0.2, "NORMAL"),  # one-sided range
        ("0.3", 0.3, None, 0.2, "HIGH"),
        ("7", 7.0, None, None, None),  # no range
        (None, None, 4.0, 10.0, None),  # no result
        ("<0.1", None, 0.5, 2.0, "LOW"),
        ("<0.5", None, 0.5, 2.0, "LOW"),
        ("<=0.5", None, 0.5, 2.0, None),  # could be exactly the lower limit
        ("<1", None, 0.5, 2.0, None),  # cannot tell
        (">1000", None, 4.0, 500.0, "HIGH"),
        ("<0.1", None, None, 0.2, "NORMAL"),
        ("POSITIVE", None, None, None, None),
    ],
)
def test_nrind_table(stresc, stresn, low, high, expected):
    frame = pd.DataFrame({"LBSTRESC": [stresc], "LBSTRESN": [stresn], "LBSTNRLO": [low], "LBSTNRHI": [high]})
    assert derive_var_nrind(frame, "LB")["LBNRIND"].iloc[0] == expected


@pytest.mark.parametrize(
    "text, operator, number",
    [("5", None, 5.0), ("-1.5e2", None, -150.0), ("<= 3", "<=", 3.0), ("=7", None, 7.0), (".5", None, 0.5), ("1+", None, None)],
)
def test_parse_censored_table(text, operator, number):
    parsed = parse_censored(pd.Series([text])).iloc[0]
    assert parsed["operator"] == operator
    assert (pd.isna(parsed["number"]) and number is None) or parsed["number"] == number


def test_mapping_derive_nrind_is_the_verb():
    """The LB mapping's ``derive: nrind`` and the verb give one answer, censored results included."""
    from pipeline.sdtm.mapping.algorithms import Columns, MappingEnv, derive

    frame = pd.DataFrame({"LBSTRESC": ["<0.1", "3", ">1000"], "LBSTRESN": [None, 3.0, None],
                          "LBSTNRLO": [0.5, 4.0, None], "LBSTNRHI": [2.0, 10.0, 500.0]})
    params = {"function": "nrind", "value": "LBSTRESN", "low": "LBSTNRLO", "high": "LBSTNRHI", "text": "LBSTRESC"}
    mapped = derive(Columns(frame), params, MappingEnv()).values.tolist()
    assert mapped == derive_var_nrind(frame, "LB")["LBNRIND"].tolist() == ["LOW", "LOW", "HIGH"]
