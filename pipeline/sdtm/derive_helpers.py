"""Small shared helpers for the SDTM derivation verbs (argument checks, ISO 8601 parsing).

Not a verb: these helpers are used by ``derive_*.py``, ``trial_design.py``, ``supp.py`` and
``relrec.py`` so that every verb checks its inputs and reads ISO 8601 text the same way.
All of them are vectorised and never modify their inputs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from pipeline.common.errors import ConfigError, InputError

_DOMAIN_RE = re.compile(r"^[A-Z][A-Z0-9]$")
_NAME_RE = re.compile(r"^[A-Z][A-Z0-9]{0,7}$")
_DATE_RE = r"^(\d{4})-(\d{2})-(\d{2})"
_TIME_RE = r"^\d{4}-\d{2}-\d{2}T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?"


def check_domain(domain: object, argument: str = "domain") -> str:
    """Return ``domain`` if it is a two-character SDTM domain code, else raise ConfigError.

    >>> check_domain("AE")
    'AE'
    >>> check_domain("ae")
    Traceback (most recent call last):
    ...
    pipeline.common.errors.ConfigError: argument domain: 'ae' is not a two-character upper-case SDTM domain code
    """
    if not isinstance(domain, str) or not _DOMAIN_RE.match(domain):
        raise ConfigError(f"argument {argument}: {domain!r} is not a two-character upper-case SDTM domain code")
    return domain


def check_variable_name(name: object, argument: str) -> str:
    """Return ``name`` if it is a valid SDTM variable name (<= 8 chars, letters/digits, starts with a letter).

    >>> check_variable_name("AESEQ", "new_var")
    'AESEQ'
    >>> check_variable_name("AE_SEQ", "new_var")
    Traceback (most recent call last):
    ...
    pipeline.common.errors.ConfigError: argument new_var: 'AE_SEQ' is not a valid SDTM name (upper case, <= 8 letters/digits, starting with a letter)
    """
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ConfigError(
            f"argument {argument}: {name!r} is not a valid SDTM name "
            "(upper case, <= 8 letters/digits, starting with a letter)"
        )
    return name


def check_frame(dataset: object, name: str, required: Iterable[str] = ()) -> pd.DataFrame:
    """Check that ``dataset`` is a DataFrame holding every ``required`` column; name the culprit.

    >>> check_frame(pd.DataFrame({"USUBJID": ["1"]}), "dm", ["USUBJID"]).shape
    (1, 1)
    >>> check_frame(pd.DataFrame({"USUBJID": ["1"]}), "dm", ["RFSTDTC"])
    Traceback (most recent call last):
    ...
    pipeline.common.errors.InputError: dataset dm: missing column(s) RFSTDTC (has: USUBJID)
    """
    if not isinstance(dataset, pd.DataFrame):
        raise InputError(f"dataset {name}: expected a pandas DataFrame, got {type(dataset).__name__}")
    missing = [col for col in required if col not in dataset.columns]
    if missing:
        have = ", ".join(map(str, dataset.columns[:30]))
        raise InputError(f"dataset {name}: missing column(s) {', '.join(missing)} (has: {have})")
    return dataset


def as_tuple(value: str | Sequence[str] | None, argument: str) -> tuple[str, ...]:
    """Normalise a column name or a sequence of names to a tuple.

    >>> as_tuple("USUBJID", "by_vars"), as_tuple(["A", "B"], "order"), as_tuple(None, "order")
    (('USUBJID',), ('A', 'B'), ())
    """
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    try:
        items = tuple(value)
    except TypeError:
        raise ConfigError(f"argument {argument}: expected a column name or a list of names, got {value!r}") from None
    bad = [item for item in items if not isinstance(item, str)]
    if bad:
        raise ConfigError(f"argument {argument}: column names must be text, got {bad[0]!r}")
    return items


def blank_to_na(series: pd.Series) -> pd.Series:
    """Text with surrounding spaces removed; empty strings become missing (object dtype).

    Works on the distinct values only, so long columns with repeated values are cheap.

    >>> blank_to_na(pd.Series([" a ", "", None, 3])).tolist()
    ['a', None, None, 3]
    """
    codes, uniques = pd.factorize(series.astype("object"), use_na_sentinel=True)
    cleaned = np.array(
        [value.strip() or None if isinstance(value, str) else value for value in uniques], dtype=object
    )
    out = cleaned.take(np.where(codes < 0, 0, codes)) if len(cleaned) else np.full(len(series), None, dtype=object)
    out[codes < 0] = None
    return pd.Series(out, index=series.index, dtype=object)


def _on_unique(series: pd.Series, parse) -> pd.Series:
    """Apply a vectorised parser to the distinct values only, then spread back (dates repeat a lot)."""
    codes, uniques = pd.factorize(series.astype("object").where(series.notna(), None), use_na_sentinel=True)
    parsed = parse(pd.Series(uniques, dtype="object"))
    if len(parsed) == 0:
        return parse(pd.Series([None] * len(series), dtype="object")).set_axis(series.index)
    values = parsed.to_numpy()
    out = values.take(np.where(codes < 0, 0, codes))
    result = pd.Series(out, index=series.index, dtype=parsed.dtype)
    result[codes < 0] = None
    return result


def iso_date(series: pd.Series) -> pd.Series:
    """Date part of ISO 8601 text as datetime64; NaT when the date is partial, invalid or missing.

    Time is ignored. Used by every study-day and date comparison, so partial dates never place a record.

    >>> iso_date(pd.Series(["2019-03-15T10:30", "2019-03", "2019---15", None, "2019-02-30"])).tolist()
    [Timestamp('2019-03-15 00:00:00'), NaT, NaT, NaT, NaT]
    """
    return _on_unique(series, _iso_date)


def _iso_date(series: pd.Series) -> pd.Series:
    text = series.astype("object").where(series.notna(), None).astype("string")
    parts = text.str.extract(_DATE_RE)
    date_text = parts[0] + "-" + parts[1] + "-" + parts[2]
    return pd.to_datetime(date_text, format="%Y-%m-%d", errors="coerce").astype("datetime64[ns]")


def iso_time(series: pd.Series) -> pd.Series:
    """Time of day of complete ISO 8601 date-times as timedelta64; NaT when no (complete) time was collected.

    >>> iso_time(pd.Series(["2019-03-15T10:30", "2019-03-15", "2019-03-15T10:30:05", "2019-03-15T-:30"])).tolist()
    [Timedelta('0 days 10:30:00'), NaT, Timedelta('0 days 10:30:05'), NaT]
    """
    return _on_unique(series, _iso_time)


def _iso_time(series: pd.Series) -> pd.Series:
    text = series.astype("object").where(series.notna(), None).astype("string")
    parts = text.str.extract(_TIME_RE)
    hours = pd.to_numeric(parts[0], errors="coerce")
    minutes = pd.to_numeric(parts[1], errors="coerce")
    seconds = pd.to_numeric(parts[2], errors="coerce").fillna(0)
    valid = hours.between(0, 23) & minutes.between(0, 59) & seconds.between(0, 59)
    total = (hours * 3600 + minutes * 60 + seconds).where(valid)
    return pd.to_timedelta(total, unit="s")


def format_iso_date(dates: pd.Series) -> pd.Series:
    """datetime64 -> 'YYYY-MM-DD' text, missing stays missing (object dtype).

    >>> format_iso_date(pd.Series(pd.to_datetime(["2019-03-15", None]))).tolist()
    ['2019-03-15', None]
    """
    text = pd.Series(dates).dt.strftime("%Y-%m-%d")
    return text.astype("object").where(text.notna(), None)


def format_number(values: pd.Series) -> pd.Series:
    """Numbers as short text for character variables: 3.0 -> '3', 0.1 -> '0.1', NaN -> None.

    Rounds to 12 significant digits first so that float noise (0.30000000000000004) never shows.

    >>> format_number(pd.Series([3.0, 0.1 + 0.2, None, 1e-7, 108.7566])).tolist()
    ['3', '0.3', None, '0.0000001', '108.7566']
    """
    numbers = pd.to_numeric(values, errors="coerce").astype("float64")
    unique = pd.unique(numbers[numbers.notna()].to_numpy())
    lookup = {
        value: np.format_float_positional(float(f"{value:.12g}"), trim="-") for value in unique
    }
    return numbers.map(lookup).astype("object").where(numbers.notna(), None)


def domain_of(variable: str) -> str:
    """The two-letter domain prefix of a domain-prefixed variable name.

    >>> domain_of("LBSTRESC")
    'LB'
    """
    return variable[:2]


def first_rows(mask: pd.Series, dataset: pd.DataFrame, columns: Sequence[str], limit: int = 3) -> str:
    """Describe the first offending rows of ``dataset`` (row number and some columns) for an error message.

    >>> first_rows(pd.Series([False, True]), pd.DataFrame({"USUBJID": ["A", "B"]}), ["USUBJID"])
    'row 1 (USUBJID=B)'
    """
    hits = dataset.loc[mask.to_numpy()]
    described = []
    for position, (_, row) in zip(np.flatnonzero(mask.to_numpy()), hits.head(limit).iterrows()):
        cells = ", ".join(f"{col}={row[col]}" for col in columns if col in hits.columns)
        described.append(f"row {position} ({cells})")
    more = len(hits) - limit
    return "; ".join(described) + (f"; and {more} more" if more > 0 else "")


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
    return _on_unique(series, lambda s: _iso_date_bounds(s)[0]), _on_unique(series, lambda s: _iso_date_bounds(s)[1])


def _iso_date_bounds(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    text = series.astype("object").where(series.notna(), None).astype("string")
    parts = text.str.extract(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")
    year = parts[0]
    month = parts[1].where(parts[1].notna(), "01")
    day = parts[2].where(parts[2].notna() & parts[1].notna(), "01")
    lo = pd.to_datetime(year + "-" + month + "-" + day, format="%Y-%m-%d", errors="coerce").astype("datetime64[ns]")
    has_month = parts[1].notna()
    has_day = parts[2].notna() & has_month
    hi = lo.copy()
    month_only = has_month & ~has_day & lo.notna()
    year_only = ~has_month & lo.notna()
    if month_only.any():
        hi[month_only] = lo[month_only] + pd.offsets.MonthEnd(0)
    if year_only.any():
        hi[year_only] = lo[year_only] + pd.offsets.YearEnd(0)
    return lo, hi
