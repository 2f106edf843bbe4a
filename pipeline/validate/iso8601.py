"""Vectorised ISO 8601 checks for SDTM date/time text (complete, partial and durations).

Accepted date/time forms (SDTMIG 3.4 timing assumptions): ``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD``,
with optional time ``THH``, ``THH:MM``, ``THH:MM:SS(.fff)``; unknown middle components as a single
hyphen (``2019---15``, ``2019-03-15T-:30``); intervals ``start/end``. A calendar-impossible date
(``2024-13-01``, ``2023-02-30``) is invalid.
"""

from __future__ import annotations

import re
from collections.abc import Callable

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
    shape_ok = sub.str.match(DATETIME_PATTERN).fillna(False).astype(bool)
    parts = sub.str.split("/", n=1, expand=True)
    calendar_ok = pd.Series(True, index=sub.index)
    for column in parts.columns:
        date_part = parts[column].fillna("").str.split("T", n=1).str[0]
        distinct = pd.Series(pd.unique(date_part.to_numpy()), dtype=_TEXT)
        ok = pd.Series(_calendar_ok(distinct).to_numpy(), index=distinct.to_numpy())
        calendar_ok &= date_part.map(ok).fillna(True).astype(bool).to_numpy()
    return (shape_ok & calendar_ok).astype(bool)


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
