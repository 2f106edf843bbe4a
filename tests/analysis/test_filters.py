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


@pytest.mark.parametrize("where", [
    {"AVISIT": "WEEK 24", "DTYPE": {"isnull": True}},
    {"DTYPE": {"notnull": False}, "AVISIT": {"ne": "WEEK 12"}},
    {"AVISIT": ["WEEK 12", "WEEK 24"], "DTYPE": {"notin": ["LOCF"]}, "USUBJID": {"ne": "3"}},
    {"AVISIT": "WEEK 99", "DTYPE": {"isnull": True}},
])
def test_conditions_applied_one_after_another_keep_the_rows_of_the_whole_filter(where):
    from pipeline.common.expressions import evaluate_mask, where_expression

    whole = ADLB.loc[evaluate_mask(ADLB, where_expression(where))]
    pd.testing.assert_frame_equal(filter_where(ADLB, where), whole)


def test_a_condition_that_cannot_be_evaluated_is_reported_with_the_whole_filter(monkeypatch):
    from pipeline.analysis import filters
    from pipeline.common.expressions import ExpressionError

    def failing(frame, expression):
        raise ExpressionError(f"expression {expression.text!r} cannot be evaluated")

    monkeypatch.setattr(filters, "evaluate_mask", failing)
    with pytest.raises(ConfigError, match=r"^tlf.yaml t.r: dataset adlb: expression \"\{'AVISIT': 'WEEK 24', 'DTYPE': "):
        _ids({"AVISIT": "WEEK 24", "DTYPE": "LOCF"})
