"""Frames as every check sees them: text as Arrow strings with blanks as null, values shown as text.

Kept apart from :mod:`pipeline.validate.schemas` so the conformance rules load without pandera.

Text and numbers repeat a lot (dates, visits, test codes), so the checks work once per distinct value
(:func:`per_distinct`) or per distinct combination of values (:func:`distinct_rows`). A prepared text column is
an immutable Arrow array: its factorisation and parsed dates are kept while the array lives (:func:`_kept`, keyed
on the array itself), so the rules that read the same column share them.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

TEXT_DTYPE = pd.StringDtype("pyarrow")
_KEPT: dict[tuple[str, int], tuple[weakref.ref, Any]] = {}


def _arrow_text(values: pd.Series) -> Any:
    """The immutable Arrow array behind an Arrow text column, else None."""
    return values.array._pa_array if values.dtype == TEXT_DTYPE else None


def _kept(what: str, values: pd.Series, compute: Callable[[pd.Series], Any]) -> Any:
    """``compute(values)`` once per Arrow text column (arrays never change): the result is dropped with the array.
    Results must not depend on the index (callers put ``values.index`` back)."""
    array = _arrow_text(values)
    if array is None:
        return compute(values)
    key = (what, id(array))
    kept = _KEPT.get(key)
    if kept is not None and kept[0]() is array:
        return kept[1]
    result = compute(values)
    _KEPT[key] = (weakref.ref(array, lambda _, key=key: _KEPT.pop(key, None)), result)
    return result


def _factorize(values: pd.Series) -> tuple[np.ndarray, pd.Series] | None:
    codes, uniques = pd.factorize(values.array if values.dtype == TEXT_DTYPE else values.to_numpy())
    smallest = next(t for t in (np.int8, np.int16, np.int32, np.int64) if len(uniques) < np.iinfo(t).max)
    return codes.astype(smallest), pd.Series(uniques, dtype=values.dtype)   # kept codes: 1-4 bytes a record


def distinct_codes(values: pd.Series) -> tuple[np.ndarray, pd.Series] | None:
    """(codes, distinct values) with missing as code -1, when grouping the values by equality is exact: Arrow
    text, integers, booleans, dates and floats without a signed zero; an object column only when all missing. None
    otherwise (1, 1.0 and True are equal as objects but not as text).

    >>> codes, uniques = distinct_codes(pd.Series(["b", None, "b", "a"], dtype=TEXT_DTYPE))
    >>> codes.tolist(), uniques.tolist(), distinct_codes(pd.Series([1, "1"], dtype=object))
    ([0, -1, 0, 1], ['b', 'a'], None)
    """
    if values.dtype == TEXT_DTYPE:
        return _kept("codes", values, _factorize)
    dtype = values.dtype
    if dtype == object:   # grouped only when every value is the same kind of missing (an absent optional column)
        if not values.isna().all() or len(set(map(type, values.to_numpy()))) > 1:
            return None
        return np.full(len(values), -1, dtype=np.int8), values.iloc[:0]
    if not isinstance(dtype, np.dtype) or dtype.kind not in "biufM":
        return None
    if dtype.kind == "f":
        zero = values.to_numpy() == 0
        if zero.any() and len(set(np.signbit(values.to_numpy()[zero]).tolist())) > 1:
            return None   # -0.0 and 0.0 are one value to a hash but print apart
    return _factorize(values)


def per_distinct(values: pd.Series, compute: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """``compute`` (an element-wise function of a column) on the distinct values (and one missing value), spread
    back to every record; the column itself when its values cannot be grouped (:func:`distinct_codes`).

    >>> per_distinct(pd.Series(["a ", None, "a "], dtype=TEXT_DTYPE), lambda s: s.str.strip()).tolist()
    ['a', <NA>, 'a']
    """
    found = distinct_codes(values)
    if found is None:
        return compute(values)
    codes, uniques = found
    positions = codes.astype(np.intp)
    absent = codes < 0
    if absent.any():   # a missing record of the column stands for every missing record
        positions[absent] = len(uniques)
        uniques = pd.concat([uniques, values.iloc[[int(np.argmax(absent))]]], ignore_index=True)
    small = compute(uniques.reset_index(drop=True))
    return small.take(positions).set_axis(values.index).rename(values.name)


def is_in(values: pd.Series, options: Any) -> pd.Series:
    """``values.isin(options)``; Arrow text is looked up once per distinct value in a Python set of the text
    options (Arrow's own isin turns every option into an Arrow scalar on each call: slow for many options).
    As there, only text options count, and a missing option (None, NaN) matches missing values.

    >>> is_in(pd.Series(["a", None, "b", "a"], dtype=TEXT_DTYPE), {"a", 1}).tolist()
    [True, False, False, True]
    """
    import pyarrow as pa

    if _arrow_text(values) is None:
        return values.isin(options)
    options = list(options)
    text_options = {option for option in options if isinstance(option, str)}
    null_option = any(pa.scalar(option, from_pandas=True).type == pa.null()
                      for option in options if not isinstance(option, str))

    def found(distinct: pd.Series) -> pd.Series:
        inside = distinct.astype(object).isin(text_options)
        return inside | distinct.isna() if null_option else inside
    return per_distinct(values, found)


def column_dates(values: pd.Series) -> pd.Series:
    """:func:`pipeline.common.dates.to_date` of a column, parsed once per distinct value and kept with the column.

    >>> column_dates(pd.Series(["2020-01-01T10:00", "2020-01", None], dtype=TEXT_DTYPE)).tolist()
    [Timestamp('2020-01-01 00:00:00'), NaT, NaT]
    """
    from pipeline.common.dates import to_date

    if _arrow_text(values) is None:
        return to_date(values)
    dates = _kept("dates", values, lambda v: per_distinct(v, to_date).to_numpy())
    return pd.Series(dates, index=values.index, name=values.name)


def distinct_rows(frame: pd.DataFrame, columns: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(the first record of each distinct combination of ``columns``, the combination of each record), in order of
    first appearance, so work on ``frame.iloc[first]`` spreads back by ``[combination]``. When a column's values
    cannot be grouped exactly (:func:`distinct_codes`) every record is its own combination.

    >>> frame = pd.DataFrame({"A": pd.Series(["x", "y", "x", "x"], dtype=TEXT_DTYPE), "B": [1, 2, 1, 3]})
    >>> [part.tolist() for part in distinct_rows(frame, ["A", "B"])]
    [[0, 1, 3], [0, 1, 0, 2]]
    """
    combination = np.zeros(len(frame), dtype=np.int64)
    for column in columns:
        found = distinct_codes(frame[column])
        if found is None:
            every = np.arange(len(frame))
            return every, every
        codes, uniques = found
        combination = pd.factorize(combination * (len(uniques) + 1) + codes.astype(np.int64) + 1)[0]
    count = int(combination.max()) + 1 if len(combination) else 0
    first = np.empty(count, dtype=np.int64)
    first[combination[::-1]] = np.arange(len(combination) - 1, -1, -1)
    return first, combination


def duplicated_records(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """``frame.duplicated(columns, keep=False)`` from each column's distinct codes (kept with a text column, so the
    rules that group by it share them); pandas' own when a column cannot be grouped exactly (:func:`distinct_codes`).

    >>> frame = pd.DataFrame({"A": pd.Series(["x", "y", "x", None, None], dtype=TEXT_DTYPE), "B": [1, 1, 1, 2, 2]})
    >>> duplicated_records(frame, ["A", "B"]).tolist()
    [True, False, True, True, True]
    """
    combination = np.zeros(len(frame), dtype=np.int64)
    for column in columns:
        found = distinct_codes(frame[column])
        if found is None:
            return frame.duplicated(columns, keep=False)
        codes, uniques = found
        combination = pd.factorize(combination * (len(uniques) + 1) + codes.astype(np.int64) + 1)[0]
    return pd.Series(np.bincount(combination, minlength=1)[combination] > 1, index=frame.index)


def prepare_dataset(dataset: pd.DataFrame) -> pd.DataFrame:
    """A copy with a 0..n-1 index, text as Arrow strings and blank or whitespace-only text as null.

    SDTM writes a null character value as ""; validation treats it as null.

    >>> prepare_dataset(pd.DataFrame({"A": ["x", "", "  ", None]}))["A"].isna().tolist()
    [False, True, True, True]
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    out = dataset.reset_index(drop=True)  # a deep copy already (pandas without copy-on-write); no second one
    for column in out.columns:
        values = out[column]
        if values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) != "string":
            continue  # all null (either type fits) or mixed content (the type check CG0012 reports it)
        if values.dtype == object or pd.api.types.is_string_dtype(values.dtype):
            if values.dtype == TEXT_DTYPE:
                array = pa.chunked_array(values.array._pa_array).combine_chunks()
            else:
                array = pa.array(values.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
            if array.type != pa.string():
                array = array.cast(pa.string())
            blank = pc.equal(pc.utf8_trim_whitespace(array), "")
            if pc.any(blank).as_py():
                array = pc.if_else(blank, pa.scalar(None, pa.string()), array)
            out[column] = pd.Series(pd.arrays.ArrowStringArray(array), index=out.index, name=column)
    return out


def as_text(values: pd.Series) -> pd.Series:
    """The values as Arrow-backed text (no copy when they already are).

    >>> str(as_text(pd.Series(["a", None])).dtype)
    'string'
    """
    return values if values.dtype == TEXT_DTYPE else values.astype(TEXT_DTYPE)


def display_text(values: pd.Series) -> pd.Series:
    """Values as text for messages: whole floats without ``.0``, null as empty text.

    >>> display_text(pd.Series([1.0, 2.5, None])).tolist()
    ['1', '2.5', '']
    """
    if pd.api.types.is_float_dtype(values.dtype):
        return per_distinct(values, _display_numbers)
    return values.astype(TEXT_DTYPE).fillna("")


def _display_numbers(values: pd.Series) -> pd.Series:
    whole = values.notna() & (values % 1 == 0)
    text = values.astype(object).astype(str)
    text[whole] = values[whole].astype("int64").astype(str)
    return text.where(values.notna(), "").astype(TEXT_DTYPE)
