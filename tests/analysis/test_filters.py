import pandas as pd
import pytest

from pipeline.analysis.filters import filter_where
from pipeline.common.errors import ConfigError

ADLB = pd.DataFrame({"USUBJID": ["1", "2", "3", "4"], "DTYPE": [None, "LOCF", "", "  "],
                     "AVISIT": ["WEEK 24", "WEEK 24", "WEEK 12", None]})


def _ids(where):
    return filter_where(ADLB, where, "tlf.yaml t.r", "adlb")["USUBJID"].tolist()


def test_isnull_and_notnull_treat_blank_text_as_missing_both_ways():
    assert _ids({"DTYPE": {"isnull": True}}) == ["1", "3", "4"]
    assert _ids({"DTYPE": {"notnull": False}}) == ["1", "3", "4"]
    assert _ids({"DTYPE": {"notnull": True}}) == ["2"]
    assert _ids({"DTYPE": {"isnull": False}}) == ["2"]


def test_ne_and_notin_drop_missing_values():
    assert _ids({"AVISIT": {"ne": "WEEK 12"}}) == ["1", "2"]
    assert _ids({"AVISIT": {"notin": ["WEEK 24"]}}) == ["3"]
    assert _ids({"AVISIT": ["WEEK 12", "WEEK 24"], "DTYPE": "LOCF"}) == ["2"]


def test_filter_returns_a_copy_and_leaves_the_input_untouched():
    before = ADLB.copy()
    out = filter_where(ADLB, None)
    out.loc[:, "AVISIT"] = "X"
    pd.testing.assert_frame_equal(ADLB, before)


def test_unknown_operator_names_the_location_and_variable():
    with pytest.raises(ConfigError, match=r"tlf.yaml t.r: filter on DTYPE must be a value, a list or one of"):
        _ids({"DTYPE": {"like": "LO%"}})
