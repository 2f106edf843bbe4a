"""ISO 8601 date text and date arithmetic shared by every stage: one partial-date parser
(:func:`iso_date_parts`), the dates and bounds built on it, and the SDTMIG/ADaMIG study day.

SDTM keeps dates as text, complete or partial (``2019``, ``2019-03``, ``2019---15`` with the month
unknown), with an optional time. SDTM derivations read them leniently (anything unreadable is
missing); ADaM imputation reads them strictly (anything unreadable is an error naming the row).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# The whole value, for strict reading: date (year, month, day, each may be "-" when unknown) and time.
_ISO_DATETIME = (r"^(?:\d{4}|-)?(?:-(?:\d{2}|-)(?:-(?:\d{2}|-))?)?"
                 r"(?:T(?:\d{2}|-)?(?::(?:\d{2}|-)(?::(?:\d{2}|-)(?:\.\d+)?)?)?)?$")
# The date components at the start of a value; a component is read only when all before it are.
_DATE_PARTS = r"^(?P<year>\d{4}|-)?(?:-(?P<month>\d{2}|-)(?:-(?P<day>\d{2}|-))?)?"
_TIME_RE = r"^\d{4}-\d{2}-\d{2}T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?"
_TIME_RE_NAMED = r"^\d{4}-\d{2}-\d{2}T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.\d+)?)?"
_NS_YEARS = (1678, 2261)  # the years datetime64[ns] holds whole
SAS_EPOCH = pd.Timestamp("1960-01-01")  # day 0 of SAS dates (XPT numeric dates)


def on_unique_values(series: pd.Series, parse: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """Apply a vectorised parser to the distinct values only, then spread back (dates repeat a lot).

    >>> on_unique_values(pd.Series(["a", None, "a"]), lambda s: s.str.upper()).tolist()
    ['A', None, 'A']
    """
    return _spread_parsed(series, *_parse_unique(series, parse))


def _parse_unique(series: pd.Series, parse: Callable[[pd.Series], pd.DataFrame | pd.Series]
                  ) -> tuple[np.ndarray, pd.DataFrame | pd.Series]:
    """``(codes, parsed)``: ``parse`` applied to the distinct non-missing values (code -1: missing);
    with no such value, to the missing values themselves (so the result keeps the parser's types)."""
    # factorize counts None, NaN, NaT and pd.NA as missing: an object column needs no cleaning copy first
    values = series if series.dtype == object else series.astype("object").where(series.notna(), None)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    if len(uniques) == 0:
        return codes, parse(pd.Series([None] * len(series), dtype="object"))
    return codes, parse(pd.Series(uniques, dtype="object"))


def _spread_parsed(series: pd.Series, codes: np.ndarray, parsed: pd.Series) -> pd.Series:
    """Results per distinct value (:func:`_parse_unique`) taken back to the rows of ``series``."""
    if len(parsed) == len(series) and not (codes >= 0).any():  # parsed the missing values themselves
        return parsed.set_axis(series.index)
    out = parsed.to_numpy().take(np.where(codes < 0, 0, codes))
    result = pd.Series(out, index=series.index, dtype=parsed.dtype)
    missing = codes < 0
    if missing.any():
        result[missing] = None
    return result


def iso_text(values: pd.Series) -> pa.Array:
    """Values as an arrow string array, trimmed, blank as null."""
    values = values.astype(object).where(values.notna(), None)
    try:
        arr = pa.array(values.to_numpy(), type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        arr = pa.array(values.map(lambda v: None if v is None else str(v)).to_numpy(), type=pa.string())
    arr = pc.utf8_trim_whitespace(arr)
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)


def iso_date_parts(values: pd.Series, strict: bool = False, name: str = "dtc",
                   error: type[Exception] = ValueError) -> pd.DataFrame:
    """Year, month and day (float, NaN when unknown) of ISO 8601 date text, partial dates allowed.

    Lenient (default): a value that does not start with a date gives NaN. ``strict``: a value that
    is not a whole ISO 8601 date/time raises ``error`` naming ``name``, the value and its row.

    >>> iso_date_parts(pd.Series(["2024-03-15T08:30", "2024-03", "2024---15", None, "15MAR2024"]))
         year  month   day
    0  2024.0    3.0  15.0
    1  2024.0    3.0   NaN
    2  2024.0    NaN  15.0
    3     NaN    NaN   NaN
    4     NaN    NaN   NaN
    >>> iso_date_parts(pd.Series(["2024-01-01", "01/02/2024"]), strict=True, name="AESTDTC")
    Traceback (most recent call last):
    ValueError: AESTDTC: value '01/02/2024' on row 2 is not an ISO 8601 date (expected YYYY-MM-DD, partial dates allowed)
    """
    arr = iso_text(values)
    if strict:
        valid = pc.match_substring_regex(arr, _ISO_DATETIME)
        bad = pc.and_(pc.is_valid(arr), pc.invert(pc.fill_null(valid, True))).to_numpy(zero_copy_only=False)
        if bad.any():
            pos = int(np.argmax(bad))
            raise error(f"{name}: value '{arr[pos].as_py()}' on row {pos + 1} "
                        "is not an ISO 8601 date (expected YYYY-MM-DD, partial dates allowed)")
    parts = pc.extract_regex(arr, _DATE_PARTS)
    out = {}
    for key in ("year", "month", "day"):
        field = pc.struct_field(parts, key)
        field = pc.if_else(pc.match_substring_regex(field, r"^\d+$"), field, pa.scalar(None, pa.string()))
        out[key] = pc.cast(field, pa.float64()).to_numpy(zero_copy_only=False).astype(float)
    return pd.DataFrame(out, index=values.index)


def month_start(year: np.ndarray, month: np.ndarray) -> np.ndarray:
    """First day of each (year, month) as datetime64[M]; a missing year counts as 2000, a missing month as 1."""
    months = (np.nan_to_num(year, nan=2000.0).astype("int64") - 1970) * 12 + np.nan_to_num(month, nan=1.0).astype("int64") - 1
    return months.astype("datetime64[M]")


def days_in_month(year: np.ndarray, month: np.ndarray) -> np.ndarray:
    """Number of days of each (year, month), float; a missing year counts as the leap year 2000.

    >>> days_in_month(np.array([2024.0, 2023.0, np.nan]), np.array([2.0, 2.0, 2.0])).tolist()
    [29.0, 28.0, 29.0]
    """
    start = month_start(year, month)
    return ((start + 1).astype("datetime64[D]") - start.astype("datetime64[D]")).astype(float)


def calendar_dates(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> pd.Series:
    """datetime64 from numeric year, month, day; NaT when one is missing or the date does not exist.

    >>> calendar_dates(np.array([2024.0, 2023.0, np.nan]), np.array([2.0, 2.0, 1.0]), np.array([29.0, 29.0, 1.0])).tolist()
    [Timestamp('2024-02-29 00:00:00'), NaT, NaT]
    """
    known = ~(np.isnan(year) | np.isnan(month) | np.isnan(day))
    y, m, d = (np.where(known, a, 1).astype("int64") for a in (year, month, day))
    known &= (m >= 1) & (m <= 12) & (y >= _NS_YEARS[0]) & (y <= _NS_YEARS[1])
    y, m = np.where(known, y, 1970).astype(float), np.where(known, m, 1).astype(float)
    known &= (d >= 1) & (d <= days_in_month(y, m))
    days = month_start(y, m).astype("datetime64[D]") + (np.where(known, d, 1) - 1)
    return pd.Series(np.where(known, days, np.datetime64("NaT")).astype("datetime64[ns]"))


def iso_date(series: pd.Series) -> pd.Series:
    """Date part of ISO 8601 text as datetime64; NaT when the date is partial, invalid or missing.

    Time is ignored. Used by every study-day and date comparison, so partial dates never place a record.

    >>> iso_date(pd.Series(["2019-03-15T10:30", "2019-03", "2019---15", None, "2019-02-30"])).tolist()
    [Timestamp('2019-03-15 00:00:00'), NaT, NaT, NaT, NaT]
    """
    def complete(text: pd.Series) -> pd.Series:
        parts = iso_date_parts(text)
        return calendar_dates(*(parts[c].to_numpy() for c in ("year", "month", "day")))
    return on_unique_values(series, complete)


def to_date(values: pd.Series) -> pd.Series:
    """Dates at midnight from ISO 8601 text (complete date part), datetime64, date objects or SAS day numbers.

    >>> to_date(pd.Series([21915.0, None])).tolist()
    [Timestamp('2020-01-01 00:00:00'), NaT]
    >>> to_date(pd.Series(["2020-01-01T10:00", "2020-01"])).tolist()
    [Timestamp('2020-01-01 00:00:00'), NaT]
    """
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return pd.to_datetime(values).dt.tz_localize(None).dt.normalize() if getattr(values.dt, "tz", None) \
            else pd.to_datetime(values).dt.normalize()
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return SAS_EPOCH + pd.to_timedelta(pd.to_numeric(values), unit="D")
    if pd.api.types.infer_dtype(values, skipna=True) in ("date", "datetime"):
        return pd.to_datetime(values, errors="coerce").dt.normalize()
    return iso_date(values)


def iso_date_bounds(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Earliest and latest calendar date an ISO 8601 value (possibly partial) can stand for.

    Complete dates give the same day twice; ``2019-02`` gives Feb 1 and Feb 28; ``2019`` and
    ``2019---15`` (month unknown) give the whole year; missing or invalid text gives NaT.

    >>> lo, hi = iso_date_bounds(pd.Series(["2019-02", "2019", "2019-03-15T10:00", "2019---15", None]))
    >>> [d.strftime("%Y-%m-%d") if pd.notna(d) else None for d in lo]
    ['2019-02-01', '2019-01-01', '2019-03-15', '2019-01-01', None]
    >>> [d.strftime("%Y-%m-%d") if pd.notna(d) else None for d in hi]
    ['2019-02-28', '2019-12-31', '2019-03-15', '2019-12-31', None]
    """
    def bounds(text: pd.Series) -> pd.DataFrame:
        parts = iso_date_parts(text)
        year, month = parts["year"].to_numpy(), parts["month"].to_numpy()
        day = np.where(np.isnan(month), np.nan, parts["day"].to_numpy())
        lo = calendar_dates(year, np.where(np.isnan(month), 1.0, month), np.where(np.isnan(day), 1.0, day))
        last_month = np.where(np.isnan(month), 12.0, month)
        last_day = (calendar_dates(year, last_month, np.ones(len(year))) + pd.offsets.MonthEnd(0)).dt.day
        hi = calendar_dates(year, last_month, np.where(np.isnan(day), last_day.to_numpy(dtype=float), day))
        return pd.DataFrame({"lo": lo, "hi": hi.where(lo.notna())})
    codes, parsed = _parse_unique(series, bounds)  # both bounds from one parse of the distinct values
    return _spread_parsed(series, codes, parsed["lo"]), _spread_parsed(series, codes, parsed["hi"])


def iso_time(series: pd.Series) -> pd.Series:
    """Time of day of complete ISO 8601 date-times as timedelta64; NaT when no (complete) time was collected.

    >>> iso_time(pd.Series(["2019-03-15T10:30", "2019-03-15", "2019-03-15T10:30:05", "2019-03-15T-:30"])).tolist()
    [Timedelta('0 days 10:30:00'), NaT, Timedelta('0 days 10:30:05'), NaT]
    """
    def times(series: pd.Series) -> pd.Series:
        hours, minutes, seconds = _clock_parts(series.astype("object").where(series.notna(), None))
        seconds = seconds.fillna(0)
        valid = hours.between(0, 23) & minutes.between(0, 59) & seconds.between(0, 59)
        return pd.to_timedelta((hours * 3600 + minutes * 60 + seconds).where(valid), unit="s")
    return on_unique_values(series, times)


def _clock_parts(text: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Hour, minute and second (float, NaN when absent) of the time of complete ISO 8601 date-times
    (:data:`_TIME_RE`). ASCII text is read with RE2 (pyarrow); text with other characters (Python's ``\\d``
    also takes other scripts' digits) and values that are not text keep pandas' reading, row by row the same.

    >>> [s.tolist() for s in _clock_parts(pd.Series(["2019-03-15T10:30", "2019-03-15T10:30:05.5", "2019", None]))]
    [[10.0, 10.0, nan, nan], [30.0, 30.0, nan, nan], [nan, 5.0, nan, nan]]
    """
    def with_pandas(values: pd.Series) -> list[pd.Series]:
        parts = values.astype("string").str.extract(_TIME_RE)
        return [pd.to_numeric(parts[i], errors="coerce") for i in range(3)]

    if pd.api.types.infer_dtype(text, skipna=True) not in ("string", "empty"):
        return tuple(with_pandas(text))  # type: ignore[return-value]
    arr = pa.array(text.to_numpy(), type=pa.string(), from_pandas=True)
    ascii_text = pc.fill_null(pc.match_substring_regex(arr, r"^[\x00-\x7f]*$"), True).to_numpy(zero_copy_only=False)
    parts = pc.extract_regex(arr, _TIME_RE_NAMED)
    out = []
    for i, name in enumerate(("hour", "minute", "second")):
        field = pc.struct_field(parts, name)
        number = pc.cast(pc.if_else(pc.equal(field, ""), pa.scalar(None, pa.string()), field), pa.float64())
        out.append(pd.Series(number.to_numpy(zero_copy_only=False), index=text.index, dtype="float64"))
    if not ascii_text.all():
        for series, read in zip(out, with_pandas(text[~ascii_text])):
            series[~ascii_text] = read.to_numpy(dtype="float64", na_value=np.nan)
    return out[0], out[1], out[2]


def format_iso_date(dates: pd.Series) -> pd.Series:
    """datetime64 -> 'YYYY-MM-DD' text, missing stays missing (object dtype).

    >>> format_iso_date(pd.Series(pd.to_datetime(["2019-03-15", None]))).tolist()
    ['2019-03-15', None]
    """
    text = pd.Series(dates).dt.strftime("%Y-%m-%d")
    return text.astype("object").where(text.notna(), None)


def compute_study_day(dates: pd.Series, reference: pd.Series) -> pd.Series:
    """Study day from two datetime64 series: ``date - reference + 1`` on or after the reference,
    ``date - reference`` before it, so the reference date is day 1, the day before is -1 and day 0
    never occurs. Only whole days count (times are dropped). Float, NaN when either date is missing.

    >>> d = pd.Series([pd.Timestamp(t) for t in ("2019-01-10", "2019-01-09", "2019-01-01", "2019-01-10 23:00")] + [pd.NaT])
    >>> compute_study_day(d, pd.Series([pd.Timestamp("2019-01-10 08:00")] * 5)).tolist()
    [1.0, -1.0, -9.0, 1.0, nan]
    """
    delta = (pd.Series(dates).dt.normalize() - pd.Series(reference).dt.normalize()).dt.days.astype("float64")
    return delta + (delta >= 0).astype("float64")
