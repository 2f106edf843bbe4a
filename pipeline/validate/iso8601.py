"""Vectorised ISO 8601 checks for SDTM date/time text (complete, partial and durations).

Accepted date/time forms (SDTMIG 3.4 timing assumptions): ``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD``,
with optional time ``THH``, ``THH:MM``, ``THH:MM:SS(.fff)``; unknown middle components as a single
hyphen (``2019---15``, ``2019-03-15T-:30``); intervals ``start/end``. A calendar-impossible date
(``2024-13-01``, ``2023-02-30``) is invalid.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pandas as pd

from pipeline.common.dates import days_in_month, iso_date_parts
from pipeline.validate.frames import per_distinct

_TEXT = pd.StringDtype("pyarrow")
_DATETIME = (
    r"(?:\d{4}|-)"                       # year (or unknown)
    r"(?:-(?:\d{2}|-)"                   # month or unknown
    r"(?:-(?:\d{2}|-)?"                  # day or unknown
    r"(?:T(?:[01]\d|2[0-3]|-)(?::(?:[0-5]\d|-)(?::[0-5]\d(?:\.\d+)?)?)?"  # time, hour 00-23
    r"(?:Z|[+-]\d{2}(?::?\d{2})?)?)?)?)?"
)
DATETIME_PATTERN = rf"^{_DATETIME}(?:/{_DATETIME})?$"
DURATION_PATTERN = (
    r"^-?P(?=\d|T\d)(?:\d+(?:\.\d+)?Y)?(?:\d+(?:\.\d+)?M)?(?:\d+(?:\.\d+)?W)?(?:\d+(?:\.\d+)?D)?"
    r"(?:T(?=\d)(?:\d+(?:\.\d+)?H)?(?:\d+(?:\.\d+)?M)?(?:\d+(?:\.\d+)?S)?)?$"
)


def compute_iso8601_datetime_valid(values: pd.Series) -> pd.Series:
    """True where a value is a valid ISO 8601 date/time (complete or partial) or null.

    >>> s = pd.Series(["2024-02-29", "2024-13-01", "2023-02-30", "2019---15", "2019-03", None,
    ...                "2019-03-15T14:30", "15MAR2019", "2019-03-15T25:00", ""])
    >>> compute_iso8601_datetime_valid(s).tolist()
    [True, False, False, True, True, True, True, False, False, True]
    """
    return _by_unique_value(values, _datetime_valid_unique)


def _by_unique_value(values: pd.Series, check_unique: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """Run a check once per distinct non-blank value and broadcast it back (dates repeat a lot)."""
    return per_distinct(values, lambda distinct: _valid_or_blank(distinct, check_unique))


def _valid_or_blank(values: pd.Series, check_unique: Callable[[pd.Series], pd.Series]) -> pd.Series:
    text = values.astype(_TEXT).str.strip()
    present = (text.notna() & (text != "")).fillna(False).astype(bool)
    valid = pd.Series(True, index=values.index)
    if not present.any():
        return valid
    uniques = pd.Series(pd.unique(text[present].to_numpy()), dtype=_TEXT)
    ok_unique = check_unique(uniques)
    bad = set(uniques[~ok_unique.to_numpy()].tolist())
    if bad:
        valid[present] = ~text[present].isin(bad).to_numpy()
    return valid


def _datetime_valid_unique(sub: pd.Series) -> pd.Series:
    """Shape (including time ranges) by regex; calendar validity once per distinct date part."""
    import pyarrow.compute as pc

    shape_ok = sub.str.match(DATETIME_PATTERN).fillna(False).astype(bool)
    calendar_ok = np.ones(len(sub), dtype=bool)
    for date_part in _date_parts(sub):
        distinct = pc.unique(date_part)
        ok = _calendar_ok(pd.Series(distinct.to_pylist(), dtype=_TEXT)).to_numpy(dtype=bool)
        calendar_ok &= ok[pc.index_in(date_part, value_set=distinct).to_numpy()]
    return (shape_ok & calendar_ok).astype(bool)


# The date of a value (before the first "/" and "T") and of an interval's end (after the first "/", before the
# next "T"; "" for a value that is no interval). Arrow's regex: a Python split per value was most of the check.
_DATE_PARTS = r"^(?P<start>[^/T]*)[^/]*(?:/(?P<end>[^T]*))?"


def _date_parts(values: pd.Series) -> list:
    """The start dates of text ``values`` (no missing value), and their end dates when any value is an interval.

    >>> [part.to_pylist() for part in _date_parts(pd.Series(["2019-03-15T10:00/2019-04", "2019"], dtype=_TEXT))]
    [['2019-03-15', '2019'], ['2019-04', '']]
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.array(values.array)
    parts = pc.extract_regex(text, _DATE_PARTS)
    dates = [pc.struct_field(parts, [0])]
    if pc.any(pc.match_substring(text, "/")).as_py():
        dates.append(pc.struct_field(parts, [1]))
    return dates


def _calendar_ok(text: pd.Series) -> pd.Series:
    """Month 01-12 and day within the month where present (times are checked by the pattern)."""
    ok = pd.Series(True, index=text.index)
    year, month, day = (part for _, part in iso_date_parts(text).items())
    ok &= month.isna() | month.between(1, 12)
    has_day = day.notna()
    if has_day.any():
        m = month.where(month.between(1, 12), 1).fillna(1)
        month_days = days_in_month(year.to_numpy(dtype=float), m.to_numpy(dtype=float))  # unknown year: leap-tolerant
        ok &= ~has_day | ((day >= 1) & (day <= pd.Series(month_days, index=text.index)))
    return ok


def compute_iso8601_duration_valid(values: pd.Series) -> pd.Series:
    """True where a value is a valid ISO 8601 duration (negative allowed, e.g. ``-P10D``) or null.

    >>> compute_iso8601_duration_valid(pd.Series(["P10D", "-P10D", "PT1H", "P", "10D", None])).tolist()
    [True, True, True, False, False, True]
    """
    pattern = re.compile(DURATION_PATTERN)  # look-aheads: Python re on the few distinct values
    return _by_unique_value(values, lambda sub: sub.map(lambda v: bool(pattern.match(v))).astype(bool))
