"""Vectorised formatting of numbers, dates and times the way a site writes them: arrays in, ``numpy``
object arrays of ``str`` out, never a Python loop over rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.common.errors import ConfigError

MONTHS = np.array(["UNK", "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"])
DATE_PATTERNS = ("DD.MM.YYYY", "DD/MM/YYYY", "DD-MON-YYYY", "MM-DD-YYYY", "YYYY-MM-DD", "YYYY/MM/DD")
TIME_PATTERNS = ("HH:MM", "HH:MM:SS")
_TWO_DIGITS = np.array([f"{i:02d}" for i in range(100)], dtype=object)


def compute_via_uniques(values, fn) -> np.ndarray:
    """Apply an array function to the distinct values only (exports repeat a few), then spread the results back.

    >>> compute_via_uniques(np.array([3, 1, 3, 3]), lambda u: u * 10).tolist()
    [30, 10, 30, 30]
    """
    codes, uniques = pd.factorize(np.asarray(values), use_na_sentinel=False)
    out = np.asarray(fn(np.asarray(uniques)), dtype=object)
    return out[codes]


def compute_format_decimal(values, decimals: int, decimal_mark: str = ".") -> np.ndarray:
    """Numbers as fixed-decimal text; missing values become ``""``.

    >>> compute_format_decimal([1.25, -0.5, None, 12], 1, ",").tolist()
    ['1,3', '-0,5', '', '12,0']
    >>> compute_format_decimal([643.0, 0.0], 0).tolist()
    ['643', '0']
    """
    if decimals < 0:
        raise ConfigError(f"decimals must be >= 0, got {decimals}")
    x = np.asarray(values)
    if x.dtype.kind not in "fiu":
        x = pd.to_numeric(pd.Series(values, dtype="object"), errors="coerce").to_numpy(dtype=float)
    x = x.astype(float)
    missing = ~np.isfinite(x)
    scale = 10 ** decimals
    # round half away from zero on the scaled integer, as a lab system prints
    scaled = np.where(missing, 0, np.floor(np.abs(x) * scale + 0.5 + 1e-9)).astype(np.int64)
    negative = (x < 0) & (scaled > 0)
    signed = np.where(missing, np.iinfo(np.int64).min, np.where(negative, -scaled, scaled))
    return compute_via_uniques(signed, lambda u: _format_scaled(u, decimals, decimal_mark))


def _format_scaled(signed: np.ndarray, decimals: int, decimal_mark: str) -> np.ndarray:
    missing = signed == np.iinfo(np.int64).min
    negative = (signed < 0) & ~missing
    scaled = np.where(missing, 0, np.abs(signed))
    scale = 10 ** decimals
    text = (scaled // scale).astype(str).astype(object)
    if decimals:
        text = text + decimal_mark + np.char.zfill((scaled % scale).astype(str), decimals).astype(object)
    text = np.where(negative, "-" + text, text)
    return np.where(missing, "", text).astype(object)


def compute_format_date_parts(year, month, day, pattern: str, precision=None) -> np.ndarray:
    """Format date components with a site pattern; ``precision`` 'D', 'M' or 'Y' per value.

    Components are not checked, so impossible dates (31 April) can be written on purpose.
    Unknown parts use the tokens of docs/raw-exports.md (``UN``, ``UNK``, ISO truncation).

    >>> compute_format_date_parts([2024, 2024], [4, 3], [31, 5], "DD/MM/YYYY", ["D", "M"]).tolist()
    ['31/04/2024', 'UN/03/2024']
    >>> compute_format_date_parts([2024, 2024], [3, 3], [5, 5], "YYYY-MM-DD", ["M", "Y"]).tolist()
    ['2024-03', '2024']
    >>> compute_format_date_parts([2024], [3], [5], "DD-MON-YYYY").tolist()
    ['05-MAR-2024']
    """
    if pattern not in DATE_PATTERNS:
        raise ConfigError(f"unknown date pattern '{pattern}' (known: {', '.join(DATE_PATTERNS)})")
    year, month, day = (np.asarray(v, dtype=np.int64) for v in (year, month, day))
    prec = np.full(year.shape, "D", dtype=object) if precision is None else np.asarray(precision, dtype=object)
    yyyy = year.astype(str).astype(object)
    mm = _TWO_DIGITS[np.clip(month, 0, 99)]
    day_known, month_known = prec == "D", prec != "Y"
    dd = np.where(day_known, _TWO_DIGITS[np.clip(day, 0, 99)], "UN")
    mm_un = np.where(month_known, mm, "UN")
    mon = np.where(month_known, MONTHS[np.clip(month, 0, 12)].astype(object), "UNK")
    if pattern == "YYYY-MM-DD":  # ISO: truncate unknown parts
        out = np.where(day_known, yyyy + "-" + mm + "-" + dd, np.where(month_known, yyyy + "-" + mm, yyyy))
    else:
        sep = next(ch for ch in pattern if ch in "./-")
        parts = {"DD": dd, "MM": mm_un, "MON": mon, "YYYY": yyyy}
        first, second, third = (parts[token] for token in pattern.split(sep))
        out = first + sep + second + sep + third
    return np.asarray(out, dtype=object)


def compute_format_dates(dates, pattern: str, precision=None) -> np.ndarray:
    """Format datetime64 dates with a site pattern; NaT becomes ``""``.

    >>> d = pd.to_datetime(pd.Series(["2024-03-05", None]))
    >>> compute_format_dates(d, "DD.MM.YYYY").tolist()
    ['05.03.2024', '']
    """
    arr = np.asarray(pd.Series(dates).to_numpy(), dtype="datetime64[D]")
    prec = np.full(arr.shape, "D", dtype=object) if precision is None else np.asarray(precision, dtype=object)
    key = arr.astype(np.int64) * 4 + pd.Series(prec).map({"D": 0, "M": 1, "Y": 2}).to_numpy(dtype=np.int64)
    key = np.where(np.isnat(arr), np.iinfo(np.int64).min, key)

    def fmt(uniques: np.ndarray) -> np.ndarray:
        nat = uniques == np.iinfo(np.int64).min
        days = np.where(nat, 0, uniques // 4).astype("datetime64[D]")
        level = np.array(["D", "M", "Y"], dtype=object)[np.where(nat, 0, uniques % 4)]
        year = days.astype("datetime64[Y]").astype(int) + 1970
        month = days.astype("datetime64[M]").astype(int) % 12 + 1
        day = (days - days.astype("datetime64[M]")).astype(int) + 1
        return np.where(nat, "", compute_format_date_parts(year, month, day, pattern, level)).astype(object)
    return compute_via_uniques(key, fmt)


def compute_format_times(minutes, pattern: str) -> np.ndarray:
    """Minutes after midnight as ``HH:MM`` or ``HH:MM:SS``; NaN becomes ``""``.

    >>> compute_format_times([510, 61.0, None], "HH:MM:SS").tolist()
    ['08:30:00', '01:01:00', '']
    """
    if pattern not in TIME_PATTERNS:
        raise ConfigError(f"unknown time pattern '{pattern}' (known: {', '.join(TIME_PATTERNS)})")
    x = pd.to_numeric(pd.Series(minutes, dtype="object"), errors="coerce").to_numpy(dtype=float)
    key = np.where(np.isfinite(x), np.nan_to_num(x), -1).astype(np.int64)

    def fmt(uniques: np.ndarray) -> np.ndarray:
        m = np.where(uniques < 0, 0, uniques) % (24 * 60)
        out = _TWO_DIGITS[m // 60] + ":" + _TWO_DIGITS[m % 60] + (":00" if pattern == "HH:MM:SS" else "")
        return np.where(uniques < 0, "", out).astype(object)
    return compute_via_uniques(key, fmt)
