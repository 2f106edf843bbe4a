"""derive_var_nrind: reference range indicator from standard results and ranges."""

import pandas as pd
import pytest

from pipeline.sdtm.derive_var_nrind import derive_var_nrind


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
