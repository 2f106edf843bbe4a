"""Raw date and time text to ISO 8601, keeping the precision that was collected.

Formats use strptime-like tokens: ``%Y`` 4-digit year, ``%y`` 2-digit year, ``%m`` month number,
``%b`` month name (3 letters or full), ``%d`` day, ``%H`` hour, ``%M`` minute, ``%S`` second;
everything else is literal. Month and day may be unknown (``UN``, ``UNK``, ``UK``, ``NK``, ``XX``,
``--``): the result is truncated from the right (``UN-MAR-2024`` -> ``2024-03``) or uses a hyphen
for a missing middle component (``2024---15``), never an invented value. ``excel_serial`` reads an
Excel day number, ``iso8601`` reads text that is already ISO 8601 (complete or partial).

A value that matches no format is *unparseable*; one that matches but cannot exist (31 February,
month 13) is *impossible*. Both come back as a reason per row, for the quarantine.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

UNKNOWN_PARTS = ("UNKN", "UNK", "UN", "UK", "NK", "XX", "--", "??")
UNKNOWN_VALUES = ("UNK", "UNKNOWN", "UN", "UK", "NK", "ND", "UN/UNK/UNKN", "UN-UNK-UNKN", "UNUNKUNKN")
MONTH_NAMES = {
    "JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6, "JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10,
    "NOV": 11, "DEC": 12, "JANUARY": 1, "FEBRUARY": 2, "MARCH": 3, "APRIL": 4, "JUNE": 6, "JULY": 7,
    "AUGUST": 8, "SEPT": 9, "SEPTEMBER": 9, "OCTOBER": 10, "NOVEMBER": 11, "DECEMBER": 12,
}
_UNK = "|".join(re.escape(u) for u in UNKNOWN_PARTS)
_TOKENS = {
    "%Y": r"(?P<Y>\d{4})",
    "%y": r"(?P<y>\d{2})",
    "%m": rf"(?P<m>\d{{1,2}}|{_UNK})",
    "%b": rf"(?P<b>[A-Za-z\u00c0-\u00ff]{{3,9}}\.?|{_UNK})",
    "%d": rf"(?P<d>\d{{1,2}}|{_UNK})",
    "%H": rf"(?P<H>\d{{1,2}}|{_UNK})",
    "%M": rf"(?P<M>\d{{2}}|{_UNK})",
    "%S": rf"(?P<S>\d{{2}}(?:\.\d+)?|{_UNK})",
}
_ISO = (r"(?P<Y>\d{4})(?:-(?P<m>\d{2}|-)(?:-(?P<d>\d{2}))?)?"
        r"(?:T(?P<H>\d{2}|-)(?::(?P<M>\d{2}|-)(?::(?P<S>\d{2}(?:\.\d+)?))?)?)?")
SPECIAL_FORMATS = ("iso8601", "excel_serial")


class DateFormatError(ValueError):
    """A date format string that the parser cannot use."""


def format_to_regex(fmt: str) -> str:
    """The anchored regular expression for one date format.

    >>> bool(re.fullmatch(format_to_regex("%d%b%Y"), "15MAR2019"))
    True
    """
    if fmt == "iso8601":
        return _ISO
    if fmt == "excel_serial":
        return r"(?P<serial>\d{1,6}(?:\.\d+)?)"
    pattern, i, seen = [], 0, set()
    while i < len(fmt):
        if fmt[i] == "%":
            token = fmt[i:i + 2]
            if token not in _TOKENS:
                raise DateFormatError(f"unknown token '{token}' in date format '{fmt}' "
                                      f"(known: {', '.join(_TOKENS)}, or iso8601, excel_serial)")
            if token in seen:
                raise DateFormatError(f"token '{token}' appears twice in date format '{fmt}'")
            seen.add(token)
            pattern.append(_TOKENS[token])
            i += 2
        else:
            pattern.append(re.escape(fmt[i]))
            i += 1
    return "".join(pattern)


def check_format(fmt: str) -> None:
    """Raise :class:`DateFormatError` when ``fmt`` cannot be used.

    >>> check_format("%d/%m/%Y")
    """
    format_to_regex(fmt)
    if fmt not in SPECIAL_FORMATS and not any(t in fmt for t in ("%Y", "%y", "%H")):
        raise DateFormatError(f"date format '{fmt}' has no year (%Y or %y) and no hour (%H)")


@dataclass(frozen=True)
class ParsedDates:
    """ISO 8601 text per row (None when empty or not usable) and a reason for the rows that failed."""

    iso: pd.Series
    reason: pd.Series


def parse_dates(values: pd.Series, formats: list[str], month_names: dict[str, int] | None = None,
                century_pivot: int = 30) -> ParsedDates:
    """Parse raw date (or date-time) text to ISO 8601, trying ``formats`` in order.

    Each distinct text is parsed once (a study has far fewer distinct dates than records) and the
    results are mapped back onto the rows, so the cost grows with the number of distinct values.

    >>> out = parse_dates(pd.Series(["15MAR2019", "UN-MAR-2024", "31FEB2020", "soon", ""]),
    ...                   ["%d%b%Y", "%d-%b-%Y"])
    >>> out.iso.tolist()
    ['2019-03-15', '2024-03', None, None, None]
    >>> out.reason.tolist()[2:4]
    ["impossible date '31FEB2020' (day 31 does not exist in 2020-02)", "unparseable date 'soon' (expected %d%b%Y or %d-%b-%Y)"]
    """
    for fmt in formats:
        check_format(fmt)
    names = {**MONTH_NAMES, **{str(k).upper(): int(v) for k, v in (month_names or {}).items()}}
    patterns = [(fmt, _compiled(fmt)) for fmt in formats]
    expected = " or ".join(formats)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    parsed = [_parse_one(str(value).strip(), patterns, names, century_pivot, expected) for value in uniques]
    parsed.append((None, None))  # code -1: missing
    iso = np.array([p[0] for p in parsed], dtype=object)[codes]
    reason = np.array([p[1] for p in parsed], dtype=object)[codes]
    return ParsedDates(iso=pd.Series(iso, index=values.index), reason=pd.Series(reason, index=values.index))


_COMPILED: dict[str, re.Pattern[str]] = {}


def _compiled(fmt: str) -> re.Pattern[str]:
    if fmt not in _COMPILED:
        _COMPILED[fmt] = re.compile(f"^{format_to_regex(fmt)}$", flags=re.IGNORECASE)
    return _COMPILED[fmt]


def _unknown(part: str | None) -> bool:
    return part is None or part.upper() in UNKNOWN_PARTS or part == "-"


def _parse_one(text: str, patterns: list[tuple[str, re.Pattern[str]]], names: dict[str, int], pivot: int,
               expected: str) -> tuple[str | None, str | None]:
    """``(iso, reason)`` for one distinct raw value."""
    if text == "" or text.upper() in UNKNOWN_VALUES:
        return None, None
    for fmt, pattern in patterns:
        match = pattern.match(text)
        if match:
            break
    else:
        return None, f"unparseable date '{text}' (expected {expected})"
    parts = match.groupdict()
    if fmt == "excel_serial":
        try:
            stamp = pd.Timestamp("1899-12-30") + pd.to_timedelta(round(float(parts["serial"]), 6), unit="D")
        except (OverflowError, pd.errors.OutOfBoundsDatetime, pd.errors.OutOfBoundsTimedelta):
            return None, f"impossible date '{text}' (Excel day {parts['serial']} is after {pd.Timestamp.max.year})"
        year, month, day = stamp.year, stamp.month, stamp.day
        hour = stamp.hour if float(parts["serial"]) % 1 else None
        minute = stamp.minute if hour is not None else None
        second = None
    else:
        if parts.get("Y") is not None:
            year = int(parts["Y"])
        else:
            yy = int(parts["y"])
            year = 2000 + yy if yy <= pivot else 1900 + yy
        month_text = parts.get("m") if parts.get("m") is not None else parts.get("b")
        if _unknown(month_text):
            month = None
        elif month_text.isdigit():
            month = int(month_text)
        else:
            month = names.get(month_text.upper().rstrip("."))
            if month is None:
                return None, f"impossible date '{text}' (unknown month name '{month_text}')"
        day = None if _unknown(parts.get("d")) else int(parts["d"])
        hour = None if _unknown(parts.get("H")) else int(parts["H"])
        minute = None if _unknown(parts.get("M")) else int(parts["M"])
        second = None if _unknown(parts.get("S")) else float(parts["S"])
    if month is not None and not 1 <= month <= 12:
        return None, f"impossible date '{text}' (month {month} does not exist)"
    if month is not None and day is not None:
        days = calendar.monthrange(year, month)[1]
        if not 1 <= day <= days:
            return None, f"impossible date '{text}' (day {day} does not exist in {year:04d}-{month:02d})"
    elif day is not None and not 1 <= day <= 31:
        return None, f"impossible date '{text}' (day {day} does not exist)"
    for name, value, top in (("hour", hour, 23), ("minute", minute, 59)):
        if value is not None and not 0 <= value <= top:
            return None, f"impossible date '{text}' ({name} {value} does not exist)"
    if second is not None and not 0 <= second < 60:
        return None, f"impossible date '{text}' (second does not exist)"
    iso = f"{year:04d}"
    if month is not None and day is not None:
        iso += f"-{month:02d}-{day:02d}"
    elif month is not None:
        iso += f"-{month:02d}"
    elif day is not None:
        iso += f"---{day:02d}"
    if hour is None and minute is None:
        return iso, None
    if month is None or day is None:  # time on a partial date: hyphens keep the missing parts' places
        iso = f"{year:04d}-" + (f"{month:02d}" if month is not None else "-") + "-" + (f"{day:02d}" if day is not None else "-")
    clock = (f"{hour:02d}" if hour is not None else "-") + ":" + (f"{minute:02d}" if minute is not None else "-")
    if second is not None and minute is not None:
        clock += ":" + (f"{int(second):02d}" if float(second).is_integer() else f"{second:09.6f}".rstrip("0"))
    elif minute is None and second is None:
        clock = f"{hour:02d}"
    return f"{iso}T{clock}", None


def combine_date_time(date_iso: pd.Series, time_text: pd.Series) -> ParsedDates:
    """Append a separately collected time to complete ISO dates (``2019-03-15`` + ``14:30``).

    A time next to a partial or missing date is kept out (reason given), never placed on a guessed day.

    >>> combine_date_time(pd.Series(["2019-03-15", "2019-03"]), pd.Series(["14:30", ""])).iso.tolist()
    ['2019-03-15T14:30', '2019-03']
    """
    text = time_text.fillna("").astype(str).str.strip()
    groups = text.str.extract(r"^(?P<H>\d{1,2})[:.hH]?(?P<M>\d{2})(?::(?P<S>\d{2}))?$")
    hour = pd.to_numeric(groups["H"], errors="coerce")
    minute = pd.to_numeric(groups["M"], errors="coerce")
    second = pd.to_numeric(groups["S"], errors="coerce")
    given = (text != "") & ~text.str.upper().isin(UNKNOWN_VALUES)
    valid = hour.between(0, 23) & minute.between(0, 59) & (second.isna() | second.between(0, 59))
    clock = (hour.astype("Int64").astype(str).str.zfill(2) + ":" + minute.astype("Int64").astype(str).str.zfill(2)
             + np.where(second.notna(), ":" + second.astype("Int64").astype(str).str.zfill(2), ""))
    reason = pd.Series([None] * len(text), index=text.index, dtype=object)
    reason[given & ~valid] = "unparseable or impossible time '" + text[given & ~valid] + "'"
    iso = date_iso.copy().astype(object)
    complete = date_iso.astype("string").str.fullmatch(r"\d{4}-\d{2}-\d{2}").fillna(False)
    use = complete & given & valid
    iso[use] = date_iso[use] + "T" + clock[use]
    orphan = given & valid & ~complete
    no_date = date_iso.isna()
    reason[orphan & no_date] = "missing date (time '" + text[orphan & no_date] + "' collected without a date)"
    partial = orphan & ~no_date
    reason[partial] = ("incomplete date '" + date_iso[partial].astype(str) + "' with time '" + text[partial]
                       + "' (a time needs a complete date)")
    return ParsedDates(iso=iso, reason=reason)


def truncate_iso(values: pd.Series, precision: str) -> pd.Series:
    """Cut ISO 8601 text to ``year``, ``month`` or ``day`` precision (privacy of birth dates).

    >>> truncate_iso(pd.Series(["1980-05-17", "1975", None]), "year").tolist()
    ['1980', '1975', None]
    """
    widths = {"year": 4, "month": 7, "day": 10, "minute": 16, "second": 19}
    if precision not in widths:
        raise ValueError(f"unknown date precision '{precision}' (known: {', '.join(widths)})")
    text = values.astype("string")
    out = text.str.slice(0, widths[precision]).str.rstrip("-")
    return out.astype(object).where(text.notna(), None)
