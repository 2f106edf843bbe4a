"""Distinct values of a mapped column: factorised once per batch and column, shared by the algorithms."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.sdtm.mapping.algorithms import (
    Batch, Columns, DateDialect, MappingEnv, distinct_row_codes, distinct_text, iso8601, lookup, per_distinct,
    per_distinct_rows, stripped_text)


def test_distinct_text_merges_values_equal_once_stripped_and_missing_with_empty():
    found = distinct_text(pd.Series([" a", "a ", None, "", float("nan"), "b"], index=[9, 8, 7, 6, 5, 4]))
    assert found.text.tolist() == ["a", "a", "", "", "", "b"]
    assert found.text.index.tolist() == [9, 8, 7, 6, 5, 4]
    assert sorted(found.uniques.tolist()) == ["", "a", "b"]
    assert (found.uniques[found.codes] == found.text.to_numpy()).all()


def test_distinct_text_of_no_rows_is_empty():
    found = distinct_text(pd.Series([], dtype=object))
    assert found.text.tolist() == [] and found.uniques.tolist() == [] and found.codes.tolist() == []


def test_stripped_text_is_the_text_of_distinct_text():
    values = pd.Series([1.5, " x ", None])
    assert stripped_text(values).tolist() == ["1.5", "x", ""]


def test_subset_keeps_only_the_distinct_values_of_its_rows():
    found = distinct_text(pd.Series(["a", "b", "c", "b"])).subset(np.array([1, 2, 3]))
    assert found.text.tolist() == ["b", "c", "b"]
    assert sorted(found.uniques.tolist()) == ["b", "c"]
    assert (found.uniques[found.codes] == found.text.to_numpy()).all()


def test_per_distinct_on_a_factorised_column_calls_the_function_once_per_distinct_text():
    seen = []

    def upper(text: pd.Series) -> pd.Series:
        seen.append(sorted(text.tolist()))
        return text.str.upper()

    result = per_distinct(distinct_text(pd.Series(["a", " a", "b", None], index=[3, 2, 1, 0])), upper)
    assert result.to_dict() == {3: "A", 2: "A", 1: "B", 0: ""}
    assert seen == [["", "a", "b"]]


def test_distinct_row_codes_number_combinations_in_order_of_appearance():
    codes = distinct_row_codes([np.array([1, 0, 1, -1, 1]), np.array([0, 0, 0, 0, 2])])
    assert codes.tolist() == [0, 1, 0, 2, 3]


def test_per_distinct_rows_with_given_codes_matches_factorising_the_frame():
    frame = pd.DataFrame({"a": ["x", "y", "x", None], "b": ["1", "1", "1", "2"]}, index=[10, 11, 12, 13])
    joined = lambda f: f["a"].fillna("-") + f["b"]  # noqa: E731
    expected = per_distinct_rows(frame, joined)
    given = per_distinct_rows(frame, joined, [pd.factorize(frame[c])[0] for c in frame.columns])
    assert given.to_dict() == expected.to_dict() == {10: "x1", 11: "y1", 12: "x1", 13: "-2"}


def test_columns_share_one_factorisation_until_the_variable_is_written():
    out: dict[str, pd.Series] = {}
    columns = Columns(pd.DataFrame({"A": [" p", "q"]}), out)
    first = columns.distinct("A")
    assert columns.distinct("A") is first and columns.text("A") is first.text
    out["A"] = pd.Series(["r", "s"])
    columns.forget("A")
    assert columns.text("A").tolist() == ["r", "s"]


def test_iso8601_parses_each_sites_rows_in_its_own_dialect_with_a_time():
    batch = Batch((DateDialect(("%d.%m.%Y",)), DateDialect(("%m/%d/%Y",))), np.array([0, 1, 0, 1]))
    raw = pd.DataFrame({"D": ["05.03.2024", "03/05/2024", "05.03.2024", "02/30/2024"],
                        "T": ["08:30", "08:30", "", "09:00"]})
    result = iso8601(Columns(raw, batch=batch), {"column": "D", "time": "T"}, MappingEnv())
    assert result.values.tolist() == ["2024-03-05T08:30", "2024-03-05T08:30", "2024-03-05", None]
    assert result.reason.tolist()[:3] == [None, None, None]
    assert result.reason.tolist()[3].startswith("impossible date '02/30/2024'")


def test_lookup_matches_each_distinct_key_once_and_names_every_unmatched_row():
    env = MappingEnv(datasets={"TV": pd.DataFrame({"VISITNUM": ["10", "20.0"], "ARM": ["a", "A"],
                                                   "VISIT": ["WEEK 10", "WEEK 20"]})})
    raw = pd.DataFrame({"N": ["10.0", "20", "30", "10", "", "30"], "R": ["A", "a", "a", "A", "a", "a"]},
                       index=[5, 4, 3, 2, 1, 0])
    params = {"dataset": "TV", "by": {"VISITNUM": "N", "ARM": "R"}, "value": "VISIT", "ignore_case": True}
    result = lookup(Columns(raw), params, env)
    assert result.values.to_dict() == {5: "WEEK 10", 4: "WEEK 20", 3: None, 2: "WEEK 10", 1: None, 0: None}
    assert result.reason.to_dict() == {5: None, 4: None, 3: "no TV record with VISITNUM='30', ARM='A'", 2: None,
                                       1: None, 0: "no TV record with VISITNUM='30', ARM='A'"}
