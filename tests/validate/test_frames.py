"""Per-distinct-value helpers of the checks (pipeline/validate/frames.py): the same answers as working on every
record, on columns whose values repeat, go missing, or only look alike."""

from __future__ import annotations

import gc

import numpy as np
import pandas as pd
import pytest

from pipeline.common.expressions import evaluate_mask
from pipeline.validate import frames
from pipeline.validate.catalogue import _mask, presence_only
from pipeline.common.expressions import parse
from pipeline.validate.conformance_base import _repeated
from pipeline.validate.frames import TEXT_DTYPE, column_dates, display_text, distinct_codes, distinct_rows, \
    duplicated_records, is_in, per_distinct

COLUMNS = {
    "text": pd.Series(["b", None, " b", "b", "", "a"], dtype=TEXT_DTYPE),
    "float": pd.Series([1.0, np.nan, 2.5, 1.0, 3.0, 2.5]),
    "signed_zero": pd.Series([0.0, -0.0, 1.0, np.nan, 0.0, -0.0]),
    "int": pd.Series([3, 1, 3, 2, 1, 3]),
    "mixed_object": pd.Series([1, "1", 1.0, True, None, 1], dtype=object),
    "all_nan_object": pd.Series([np.nan] * 6, dtype=object),
}


@pytest.mark.parametrize("name", sorted(COLUMNS))
def test_per_distinct_gives_what_every_record_gives(name):
    column = COLUMNS[name]
    as_text = lambda values: values.astype(object).map(repr)   # tells 1, 1.0, True, -0.0 and NaN apart
    assert per_distinct(column, as_text).tolist() == as_text(column).tolist()
    if column.dtype == float:
        assert display_text(column).tolist() == frames._display_numbers(column).tolist()


def test_values_that_only_look_alike_are_not_grouped():
    assert distinct_codes(COLUMNS["mixed_object"]) is None   # 1, 1.0 and True hash alike
    assert distinct_codes(COLUMNS["signed_zero"]) is None    # -0.0 prints apart from 0.0
    codes, uniques = distinct_codes(COLUMNS["text"])
    assert codes.tolist() == [0, -1, 1, 0, 2, 3] and uniques.tolist() == ["b", " b", "", "a"]


def test_distinct_rows_first_record_of_each_combination():
    frame = pd.DataFrame({"A": pd.Series(["x", "x", None, "x", None], dtype=TEXT_DTYPE), "B": [1, 2, 1, 1, 1]})
    first, combination = distinct_rows(frame, ["A", "B"])
    assert first.tolist() == [0, 1, 2] and combination.tolist() == [0, 1, 2, 0, 2]
    mixed = pd.DataFrame({"A": COLUMNS["mixed_object"]})
    assert distinct_rows(mixed, ["A"])[1].tolist() == [0, 1, 2, 3, 4, 5]   # cannot group: every record its own


@pytest.mark.parametrize("options, expected", [
    ({"a", "c", 1}, [True, False, False, True]),
    ({"a", "c", None}, [True, True, False, True]),     # a missing option matches missing values, as in Arrow
    ([np.nan, "b"], [False, True, True, False]),
    ([1, 2.5], [False, False, False, False]),
])
def test_is_in_follows_isin_on_arrow_text(options, expected):
    values = pd.Series(["a", None, "b", "c"], dtype=TEXT_DTYPE)
    assert is_in(values, options).tolist() == values.isin(options).tolist() == expected


def test_column_dates_parsed_once_per_column_and_dropped_with_it():
    values = pd.Series(["2024-02-29T10:00", "2024-02-30", None, "2024-02-29"], dtype=TEXT_DTYPE)
    dates = column_dates(values)
    assert [str(d.date()) if pd.notna(d) else None for d in dates] == ["2024-02-29", None, None, "2024-02-29"]
    key = ("dates", id(values.array._pa_array))
    assert key in frames._KEPT
    assert column_dates(values.set_axis([5, 6, 7, 8])).index.tolist() == [5, 6, 7, 8]   # same parse, its own index
    del values, dates
    gc.collect()
    assert key not in frames._KEPT


FRAME = pd.DataFrame({
    "ORRES": pd.Series(["1.5", None, "  ", "NEG", "1.5", None, "2"], dtype=TEXT_DTYPE),
    "STRESC": pd.Series(["1.5", "x", None, None, None, None, "2"], dtype=TEXT_DTYPE),
    "FLAG": pd.Series(["Y", None, "Y", None, "N", "Y", None], dtype=TEXT_DTYPE),
    "N": [1.0, 2.0, np.nan, 1.0, 1.0, 2.0, -0.0],
    "OPTIONAL": pd.Series([np.nan] * 7, dtype=object),
})


@pytest.mark.parametrize("expression", [
    "(notna(ORRES) or FLAG == 'Y') and isna(STRESC)",
    "notna(ORRES) and not matches(ORRES, '-?\\\\d+(\\\\.\\\\d+)?')",
    "coalesce(ORRES, '') != coalesce(STRESC, '')",
    "number(N) > 1 or OPTIONAL == 'Y'",
    "FLAG in ['Y', 'N'] and isna(OPTIONAL)",
])
def test_catalogue_expression_per_distinct_combination_equals_every_record(expression):
    assert _mask(FRAME, expression).tolist() == evaluate_mask(FRAME, expression).tolist()


def test_presence_only_columns_are_read_through_notna_or_isna_alone():
    assert presence_only(parse("(notna(ORRES) or FLAG == 'Y') and isna(STRESC) and notna(FLAG)").root) \
        == {"ORRES", "STRESC"}


def test_repeated_compares_keys_as_text():
    rows = pd.Series([True, True, True, True, True, True, False])
    shared = _repeated(FRAME, rows, ["ORRES"])   # null compared as "": records 1 and 5 share it
    keys = FRAME.loc[rows, ["ORRES"]].astype("string").fillna("")   # the comparison on every record
    expected = FRAME.index.isin(keys.index[keys.duplicated(keep=False)])
    assert shared.tolist() == expected.tolist() == [True, True, False, False, True, True, False]


@pytest.mark.parametrize("frame", [
    pd.DataFrame({"A": pd.Series(["x", "x", None, None, "y"], dtype=TEXT_DTYPE), "B": [1, 1, 2, 2, 1]}),
    pd.DataFrame({"A": [1, "1", 1, None, None], "B": [0.0, -0.0, 0.0, float("nan"), float("nan")]}),  # pandas' own
    pd.DataFrame({"A": pd.Series([], dtype=TEXT_DTYPE), "B": pd.Series([], dtype=float)}),
])
def test_duplicated_records_are_pandas_duplicated_keep_false(frame: pd.DataFrame) -> None:
    assert duplicated_records(frame, ["A", "B"]).tolist() == frame.duplicated(["A", "B"], keep=False).tolist()
