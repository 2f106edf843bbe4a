import pandas as pd
import pytest

from pipeline.adam._utils import (
    DerivationError,
    check_frame,
    condition_columns,
    eval_condition,
    parse_order,
    sort_frame,
)


def test_sort_missing_last_in_both_directions_and_stable_ties():
    df = pd.DataFrame({"G": ["a"] * 4, "V": [2.0, None, 1.0, 2.0], "ID": [1, 2, 3, 4]})
    assert sort_frame(df, ["G"], ["V"])["ID"].tolist() == [3, 1, 4, 2]
    assert sort_frame(df, ["G"], ["desc(V)"])["ID"].tolist() == [1, 4, 3, 2]


def test_parse_order_accepts_desc_with_spaces():
    assert parse_order([" desc( ADT ) ", "AESEQ"]) == (["ADT", "AESEQ"], [False, True])


def test_condition_missing_values_are_false_and_scalars_broadcast():
    df = pd.DataFrame({"A": [1.0, None], "B": ["x", None]})
    assert eval_condition(df, "A > 0").tolist() == [True, False]
    assert eval_condition(df, "B == 'x'").tolist() == [True, False]
    assert eval_condition(df, "True").tolist() == [True, True]


def test_condition_that_is_not_boolean_is_refused():
    with pytest.raises(DerivationError, match="does not give true/false values"):
        eval_condition(pd.DataFrame({"B": ["x"]}), "B")


def test_check_frame_names_the_argument():
    with pytest.raises(DerivationError, match="dataset_add: expected a pandas DataFrame, got list"):
        check_frame([], "dataset_add")


def test_condition_columns_finds_only_dataset_variables():
    assert condition_columns(pd.DataFrame(columns=["AVAL", "BASE"]), "AVAL >= 0.85 * BASE and FOO") == ["AVAL", "BASE"]


@pytest.mark.parametrize("values", [
    pd.Series(pd.to_datetime(["2024-01-02 10:30", None, "2023-12-31 00:00"]), index=[4, 2, 9], name="ADT"),
    pd.Series(["2024-01-02", None, "2024-02-01"], index=[4, 2, 9], name="ASTDTC"),
    pd.Series([21915.0, None, 0.0], name="TRTSDT"),
])
def test_as_dates_and_as_datetimes_equal_the_conversions_they_skip(values):
    from pipeline.adam._utils import as_dates, as_datetimes
    from pipeline.common.dates import to_date

    pd.testing.assert_series_equal(as_dates(values), to_date(values))
    if values.dtype != float:  # (pd.to_datetime reads numbers as nanoseconds)
        pd.testing.assert_series_equal(as_datetimes(values), pd.to_datetime(values))
