"""Shared argument checks and small helpers of the ADaM verbs (private to ``pipeline.adam``).

Conventions used by every verb (admiral's vocabulary):

- ``by_vars``: list of column names that define a group.
- ``order``: list of column names; ``"desc(VAR)"`` sorts that column descending. Missing values
  sort last in either direction. Sorting is stable, so remaining ties keep the input order.
- ``filter_add`` / ``filter``: a condition in the project's expression language
  (``pipeline.common.expressions``), e.g. ``"PARAMCD == 'UPCR' and ADT <= TRTSDT"`` or
  ``"notna(AVAL)"``. A row where the condition is missing is left out.
- Flags are ``"Y"`` and missing (``None``) unless a verb says otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from pipeline.common.dates import to_date
from pipeline.common.errors import PipelineError
from pipeline.common.expressions import ExpressionError, evaluate_mask, parse


class DerivationError(PipelineError):
    """A derivation cannot run: wrong arguments or data that breaks its assumptions."""


_DESC = re.compile(r"^\s*desc\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$")


def check_frame(dataset: Any, arg: str = "dataset", required: Iterable[str] = ()) -> None:
    """Fail with a clear message unless ``dataset`` is a data frame with the ``required`` columns.

    >>> check_frame(pd.DataFrame({"USUBJID": ["1"]}), required=["USUBJID"])
    >>> check_frame(pd.DataFrame({"USUBJID": ["1"]}), required=["AVAL"])
    Traceback (most recent call last):
    ...
    pipeline.adam._utils.DerivationError: dataset: required variable AVAL is missing (has: USUBJID)
    """
    if not isinstance(dataset, pd.DataFrame):
        raise DerivationError(f"{arg}: expected a pandas DataFrame, got {type(dataset).__name__}")
    missing = [col for col in required if col not in dataset.columns]
    if missing:
        have = ", ".join(map(str, dataset.columns[:30]))
        plural = "s" if len(missing) > 1 else ""
        raise DerivationError(f"{arg}: required variable{plural} {', '.join(missing)} "
                              f"{'are' if plural else 'is'} missing (has: {have})")


def as_list(value: str | Sequence[str] | None, arg: str) -> list[str]:
    """A column list from ``None``, one name or a sequence of names.

    >>> as_list("USUBJID", "by_vars"), as_list(None, "by_vars")
    (['USUBJID'], [])
    """
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        raise DerivationError(f"{arg}: expected a list of variable names, got a mapping")
    out = list(value)
    bad = [v for v in out if not isinstance(v, str)]
    if bad:
        raise DerivationError(f"{arg}: expected variable names, got {bad!r}")
    return out


def parse_order(order: str | Sequence[str] | None, arg: str = "order") -> tuple[list[str], list[bool]]:
    """Split an ``order`` list into column names and ascending flags.

    >>> parse_order(["ADT", "desc(AESEQ)"])
    (['ADT', 'AESEQ'], [True, False])
    """
    columns, ascending = [], []
    for item in as_list(order, arg):
        match = _DESC.match(item)
        if match:
            columns.append(match.group(1))
            ascending.append(False)
        else:
            columns.append(item.strip())
            ascending.append(True)
    return columns, ascending


def order_columns(order: str | Sequence[str] | None) -> list[str]:
    """Column names used by ``order``.

    >>> order_columns(["desc(ADT)", "AESEQ"])
    ['ADT', 'AESEQ']
    """
    return parse_order(order)[0]


def sort_frame(dataset: pd.DataFrame, by_vars: Sequence[str], order: str | Sequence[str] | None) -> pd.DataFrame:
    """Stable sort by ``by_vars`` then ``order``; missing values last; input order breaks ties.

    >>> df = pd.DataFrame({"ID": ["b", "a", "a"], "ADT": [1.0, None, 2.0]})
    >>> sort_frame(df, ["ID"], ["desc(ADT)"]).index.tolist()
    [2, 1, 0]
    """
    cols, asc = parse_order(order)
    keys = list(by_vars) + cols
    if not keys:
        return dataset
    # a multi-key sort is a stable lexicographic sort (numpy lexsort); missing values last per key
    return dataset.sort_values(keys, ascending=[True] * len(by_vars) + asc, kind="mergesort", na_position="last")


def eval_condition(dataset: pd.DataFrame, condition: str | pd.Series | None, arg: str = "filter_add",
                   name: str = "dataset") -> pd.Series:
    """Evaluate a row condition to a boolean Series (missing counts as false).

    >>> df = pd.DataFrame({"PARAMCD": ["UPCR", "EGFR"], "AVAL": [1.0, None]})
    >>> eval_condition(df, "PARAMCD == 'UPCR'").tolist()
    [True, False]
    >>> eval_condition(df, None).tolist()
    [True, True]
    """
    if condition is None:
        return pd.Series(True, index=dataset.index)
    if isinstance(condition, pd.Series):
        if len(condition) != len(dataset):
            raise DerivationError(f"{name}: {arg} does not give one true/false value per row")
        return condition if condition.dtype == bool else condition.astype("boolean").fillna(False).astype(bool)
    if not isinstance(condition, str):
        raise DerivationError(f"{name}: {arg} must be an expression string, got {type(condition).__name__}")
    try:
        return evaluate_mask(dataset, condition)
    except ExpressionError as exc:
        raise DerivationError(f"{name}: {arg}: {exc}") from None


def condition_columns(dataset: pd.DataFrame, condition: str) -> list[str]:
    """Columns of ``dataset`` named in a condition string.

    >>> condition_columns(pd.DataFrame(columns=["AVAL", "BASE", "X"]), "AVAL < 0.5 * BASE")
    ['AVAL', 'BASE']
    """
    names = set(parse(condition).columns)
    return [col for col in dataset.columns if col in names]


def check_new_vars_absent(dataset: pd.DataFrame, new_vars: Iterable[str], name: str = "dataset") -> None:
    """Refuse to overwrite existing variables silently.

    >>> check_new_vars_absent(pd.DataFrame({"A": [1]}), ["A"])
    Traceback (most recent call last):
    ...
    pipeline.adam._utils.DerivationError: dataset: variable A already exists; drop or rename it before deriving it again
    """
    clash = [v for v in new_vars if v in dataset.columns]
    if clash:
        raise DerivationError(f"{name}: variable{'s' if len(clash) > 1 else ''} {', '.join(clash)} already "
                              f"exist{'' if len(clash) > 1 else 's'}; drop or rename it before deriving it again")


def flag_series(mask: pd.Series, true_value: Any = "Y", false_value: Any = None) -> pd.Series:
    """A character flag from a boolean mask (``object`` dtype, ``None`` for missing).

    >>> flag_series(pd.Series([True, False])).tolist()
    ['Y', None]
    """
    out = pd.Series(np.where(mask.to_numpy(dtype=bool), true_value, false_value), index=mask.index, dtype=object)
    return out.where(out.notna(), None)


def text_where(mask: np.ndarray, value: str, otherwise: Any = None) -> np.ndarray:
    """``np.where(mask, value, otherwise)`` as an ``object`` array holding the one ``value`` object on every
    chosen row (``np.where`` makes a new string object per row: 50 bytes each for a constant like ``DAYS``).

    >>> values = text_where(np.array([True, False, True]), "DAYS")
    >>> values.tolist(), values[0] is values[2]
    (['DAYS', None, 'DAYS'], True)
    """
    out = np.full(len(mask), otherwise, dtype=object)
    out[np.asarray(mask, dtype=bool)] = value
    return out


def as_text(values: pd.Series) -> pd.Series:
    """Character values (``object`` dtype, ``None`` for missing); whole numbers lose their ``.0``.

    >>> as_text(pd.Series([1.0, 2.5, None])).tolist()
    ['1', '2.5', None]
    """
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = values.astype(float)
        whole = numbers.notna() & (numbers == np.round(numbers))
        text = numbers.astype(str).where(~whole, numbers.where(whole, 0).astype("int64").astype(str))
        return text.astype(object).where(numbers.notna(), None)
    if values.dtype == object and pd.api.types.infer_dtype(values, skipna=False) == "string":
        return values.copy(deep=pd.get_option("mode.copy_on_write") is not True)  # all text, none missing: as it is
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):  # already text: no str() per value
        text = values.to_numpy(dtype=object, copy=True)
        text[pd.isna(text)] = None
        return pd.Series(text, index=values.index, name=values.name, dtype=object, copy=False)
    present = values.notna()
    return values.where(~present, values.astype(str)).astype(object).where(present, None)


def as_datetimes(values: pd.Series) -> pd.Series:
    """``pd.to_datetime(values)``; a column that already holds datetimes (without time zone) is returned as it is,
    since ``pd.to_datetime`` would walk its values only to give them back.

    >>> as_datetimes(pd.Series(["2024-01-02", None])).tolist()
    [Timestamp('2024-01-02 00:00:00'), NaT]
    """
    return values if values.dtype == "datetime64[ns]" else pd.to_datetime(values)


def as_dates(values: pd.Series) -> pd.Series:
    """``pipeline.common.dates.to_date(values)``: dates at midnight; a column that already holds datetimes (without
    time zone) is only normalised, without the walk over its values in ``pd.to_datetime``.

    >>> as_dates(pd.Series(pd.to_datetime(["2024-01-02 10:30", None]))).tolist()
    [Timestamp('2024-01-02 00:00:00'), NaT]
    """
    return values.dt.normalize() if values.dtype == "datetime64[ns]" else to_date(values)


def copy_frame(dataset: pd.DataFrame) -> pd.DataFrame:
    """A copy the caller's frame never sees changes through: shallow under pandas Copy-on-Write
    (the adam stage runs with it: no whole-frame copy per step), deep otherwise.

    >>> frame = pd.DataFrame({"A": [1]})
    >>> out = copy_frame(frame); out.loc[0, "A"] = 2; int(frame.loc[0, "A"])
    1
    """
    return dataset.copy(deep=pd.get_option("mode.copy_on_write") is not True)
