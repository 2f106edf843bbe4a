"""derive_vars_dt: a numeric analysis date (``*DT``) and its imputation flag (``*DTF``) from ISO 8601 text."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.adam._utils import DerivationError, as_list, check_frame, check_new_vars_absent, copy_frame

_ISO_DATE = (r"^(?P<y>\d{4}|-)?(?:-(?P<m>\d{2}|-)(?:-(?P<d>\d{2}|-))?)?"
             r"(?:T(?:\d{2}|-)?(?::(?:\d{2}|-)(?::(?:\d{2}|-)(?:\.\d+)?)?)?)?$")
_LEVEL_RANK = {"n": 0, "D": 1, "M": 2, "Y": 3}


def _as_arrow_strings(dtc: pd.Series) -> pa.Array:
    values = dtc.astype(object).where(dtc.notna(), None)
    try:
        arr = pa.array(values.to_numpy(), type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        arr = pa.array(values.map(lambda v: None if v is None else str(v)).to_numpy(), type=pa.string())
    arr = pc.utf8_trim_whitespace(arr)
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)


def _component(arr: pa.Array, start: int, stop: int) -> np.ndarray:
    part = pc.utf8_slice_codeunits(arr, start, stop)
    digits = pc.match_substring_regex(part, r"^\d+$")
    part = pc.if_else(digits, part, pa.scalar(None, pa.string()))
    return pc.cast(part, pa.float64()).to_numpy(zero_copy_only=False).astype(float)


def parse_dtc(dtc: pd.Series, name: str = "dtc") -> pd.DataFrame:
    """Split ISO 8601 date text into numeric year, month, day (missing parts are NaN).

    Accepts complete and partial SDTM dates (``2024``, ``2024-03``, ``2024---15``) with or without
    a time part; anything else is an error naming the row. Vectorised with pyarrow compute.

    >>> parse_dtc(pd.Series(["2024-03-15T08:30", "2024-03", "2024---15", None]))
         year  month   day
    0  2024.0    3.0  15.0
    1  2024.0    3.0   NaN
    2  2024.0    NaN  15.0
    3     NaN    NaN   NaN
    """
    arr = _as_arrow_strings(dtc)
    valid = pc.match_substring_regex(arr, _ISO_DATE)
    bad = pc.and_(pc.is_valid(arr), pc.invert(pc.fill_null(valid, True))).to_numpy(zero_copy_only=False)
    if bad.any():
        pos = int(np.argmax(bad))
        raise DerivationError(f"{name}: value '{arr[pos].as_py()}' on row {pos + 1} "
                              "is not an ISO 8601 date (expected YYYY-MM-DD, partial dates allowed)")
    date = pc.replace_substring_regex(arr, r"T.*$", "")
    date = pc.replace_substring_regex(date, r"^(\d{4})---", r"\1-XX-")   # missing month, known day
    return pd.DataFrame({"year": _component(date, 0, 4), "month": _component(date, 5, 7),
                         "day": _component(date, 8, 10)}, index=dtc.index)


def _month_start(year: np.ndarray, month: np.ndarray) -> np.ndarray:
    months = (np.nan_to_num(year, nan=2000.0).astype("int64") - 1970) * 12 + np.nan_to_num(month, nan=1.0).astype("int64") - 1
    return months.astype("datetime64[M]")


def _month_end_day(year: np.ndarray, month: np.ndarray) -> np.ndarray:
    start = _month_start(year, month)
    return ((start + 1).astype("datetime64[D]") - start.astype("datetime64[D]")).astype(float)


def _impute(parts: pd.DataFrame, highest_imputation: str, date_imputation: str, preserve: bool,
            dtc: pd.Series, name: str) -> tuple[pd.Series, pd.Series]:
    year, month, day = (parts[c].to_numpy(dtype=float) for c in ("year", "month", "day"))
    level = np.select([np.isnan(year), np.isnan(month), np.isnan(day)], ["Y", "M", "D"], default="n")
    allowed = pd.Series(level).map(_LEVEL_RANK).to_numpy() <= _LEVEL_RANK[highest_imputation]
    if date_imputation in ("first", "mid", "last"):
        fill_month = {"first": 1.0, "mid": 6.0, "last": 12.0}[date_imputation]
        fixed_day = None
    else:
        try:
            fill_month, fixed_day = (float(x) for x in str(date_imputation).split("-"))
        except ValueError:
            raise DerivationError(f"date_imputation must be first, mid, last or MM-DD; got {date_imputation!r}") from None
        if not (1 <= fill_month <= 12 and 1 <= fixed_day <= 31):
            raise DerivationError(f"date_imputation {date_imputation!r} is not a valid MM-DD")
    month_missing = np.isnan(month)
    month_i = np.where(month_missing, fill_month, month)
    keep_day = ~np.isnan(day) & (~month_missing | preserve)
    usable = ~np.isnan(year) & allowed & (month_i >= 1) & (month_i <= 12)
    last_day = _month_end_day(year, month_i)
    if fixed_day is not None:
        day_fill = np.minimum(last_day, fixed_day)
    elif date_imputation == "first":
        day_fill = np.ones(len(day))
    elif date_imputation == "last":
        day_fill = last_day
    else:  # mid: the 15th, or 30 June when the month is missing too
        day_fill = np.where(month_missing, 30.0, 15.0)
    day_i = np.where(keep_day, day, day_fill)
    invalid = (~np.isnan(year) & allowed & ((month_i < 1) | (month_i > 12))) | (usable & ((day_i < 1) | (day_i > last_day)))
    if invalid.any():
        pos = int(np.argmax(invalid))
        raise DerivationError(f"{name}: value '{dtc.iloc[pos]}' on row {pos + 1} is not a calendar date")
    days = _month_start(year, month_i).astype("datetime64[D]") + (np.nan_to_num(day_i, nan=1.0).astype("int64") - 1)
    dates = pd.Series(np.where(usable, days, np.datetime64("NaT")).astype("datetime64[ns]"), index=dtc.index)
    flags = pd.Series(np.where((level != "n") & usable, level, None), index=dtc.index, dtype=object)
    return dates, flags


def compute_dt(dtc: pd.Series, highest_imputation: str = "n", date_imputation: str = "first",
               preserve: bool = False, name: str = "dtc") -> tuple[pd.Series, pd.Series]:
    """Impute partial dates up to ``highest_imputation``; return (dates, imputation flags).

    >>> dt, dtf = compute_dt(pd.Series(["2024-02", "2024", "2024-02-10"]), "M", "last")
    >>> dt.dt.strftime("%Y-%m-%d").tolist(), dtf.tolist()
    (['2024-02-29', '2024-12-31', '2024-02-10'], ['D', 'M', None])
    """
    if highest_imputation not in _LEVEL_RANK:
        raise DerivationError(f"highest_imputation must be one of n, D, M, Y; got {highest_imputation!r}")
    return _impute(parse_dtc(dtc, name), highest_imputation, date_imputation, preserve, dtc, name)


def derive_vars_dt(
    dataset: pd.DataFrame,
    new_vars_prefix: str,
    dtc: str,
    highest_imputation: str = "n",
    date_imputation: str = "first",
    flag_imputation: str = "auto",
    min_dates: Sequence[str] | None = None,
    max_dates: Sequence[str] | None = None,
    preserve: bool = False,
) -> pd.DataFrame:
    """Add ``<prefix>DT`` (date) and, when imputing, ``<prefix>DTF`` from the ISO 8601 text ``dtc``.

    ``highest_imputation``: ``n`` none (only complete dates), ``D`` day, ``M`` month and day, ``Y``
    everything (a missing date then needs ``min_dates`` for 'first' or ``max_dates`` for 'last').
    ``date_imputation``: ``first``, ``mid`` (15th; 30 June if the month is missing), ``last`` or a
    fixed ``MM-DD``. ``preserve``: keep a known day when only the month is missing (``2024---15``).
    ``min_dates`` / ``max_dates``: date variables bounding the imputed date; a bound is used when it
    lies within the range of dates the partial value allows, so an AE start ``2024-03`` with first
    dose on 2024-03-10 imputes to 2024-03-10, not 2024-03-01. The flag (``D``, ``M``, ``Y``) names
    the highest imputed component; ``flag_imputation='none'`` omits it.

    >>> ae = pd.DataFrame({"AESTDTC": ["2024-03", "2024-04", "2024-03-02", None],
    ...                    "TRTSDT": pd.to_datetime(["2024-03-10"] * 4)})
    >>> derive_vars_dt(ae, "AST", "AESTDTC", highest_imputation="M", min_dates=["TRTSDT"])
          AESTDTC     TRTSDT      ASTDT ASTDTF
    0     2024-03 2024-03-10 2024-03-10      D
    1     2024-04 2024-03-10 2024-04-01      D
    2  2024-03-02 2024-03-10 2024-03-02   None
    3        None 2024-03-10        NaT   None
    """
    check_frame(dataset, "dataset", [dtc] + as_list(min_dates, "min_dates") + as_list(max_dates, "max_dates"))
    if not isinstance(new_vars_prefix, str) or not new_vars_prefix:
        raise DerivationError("new_vars_prefix must be a non-empty string such as 'AST'")
    if flag_imputation not in ("auto", "date", "none"):
        raise DerivationError(f"flag_imputation must be auto, date or none; got {flag_imputation!r}")
    with_flag = flag_imputation == "date" or (flag_imputation == "auto" and highest_imputation != "n")
    dt_var, dtf_var = f"{new_vars_prefix}DT", f"{new_vars_prefix}DTF"
    check_new_vars_absent(dataset, [dt_var] + ([dtf_var] if with_flag else []))
    if highest_imputation not in _LEVEL_RANK:
        raise DerivationError(f"highest_imputation must be one of n, D, M, Y; got {highest_imputation!r}")
    name = f"dataset.{dtc}"
    parts = parse_dtc(dataset[dtc], name)
    dates, flags = _impute(parts, highest_imputation, date_imputation, preserve, dataset[dtc], name)
    imputed = flags.notna()
    if min_dates or max_dates:
        lower, _ = _impute(parts, "M", "first", True, dataset[dtc], name)
        upper, _ = _impute(parts, "M", "last", True, dataset[dtc], name)
        year_only = highest_imputation == "Y"
        missing_all = dataset[dtc].isna() | (dataset[dtc].astype("string").str.strip() == "")
        for col in as_list(min_dates, "min_dates"):
            bound = pd.to_datetime(dataset[col]).dt.normalize().astype("datetime64[ns]")
            in_range = (bound >= lower) & (bound <= upper)
            use = imputed & in_range & (dates < bound)
            dates = dates.mask(use, bound)
            if year_only and date_imputation == "first":
                fill = missing_all.fillna(False) & bound.notna() & (dates.isna() | (dates < bound))
                dates = dates.mask(fill, bound)
                flags = flags.mask(fill, "Y")
        for col in as_list(max_dates, "max_dates"):
            bound = pd.to_datetime(dataset[col]).dt.normalize().astype("datetime64[ns]")
            in_range = (bound >= lower) & (bound <= upper)
            use = imputed & in_range & (dates > bound)
            dates = dates.mask(use, bound)
            if year_only and date_imputation == "last":
                fill = missing_all.fillna(False) & bound.notna() & (dates.isna() | (dates > bound))
                dates = dates.mask(fill, bound)
                flags = flags.mask(fill, "Y")
    out = copy_frame(dataset)
    out[dt_var] = dates.astype("datetime64[ns]")
    if with_flag:
        out[dtf_var] = flags.astype(object).where(flags.notna(), None)
    return out
