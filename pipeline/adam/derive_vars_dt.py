"""derive_vars_dt: a numeric analysis date (``*DT``) and its imputation flag (``*DTF``) from ISO 8601 text."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from pipeline.adam._utils import DerivationError, as_list, check_frame, check_new_vars_absent, copy_frame
from pipeline.common.dates import days_in_month, iso_date_parts, month_start

_LEVEL_RANK = {"n": 0, "D": 1, "M": 2, "Y": 3}


def parse_dtc(dtc: pd.Series, name: str = "dtc") -> pd.DataFrame:
    """Year, month, day of ISO 8601 text (:func:`pipeline.common.dates.iso_date_parts`, strict):
    text that is not an ISO 8601 date is a :class:`DerivationError` naming the row.

    Text is parsed once per distinct value (dates repeat a lot), then spread back to the rows.

    >>> parse_dtc(pd.Series(["2024-03-05", None, "2024-03-05", "2024"])).values.tolist()
    [[2024.0, 3.0, 5.0], [nan, nan, nan], [2024.0, 3.0, 5.0], [2024.0, nan, nan]]
    """
    if dtc.dtype != object:
        return iso_date_parts(dtc, strict=True, name=name, error=DerivationError)
    codes, uniques = pd.factorize(dtc, use_na_sentinel=True)
    try:
        parts = iso_date_parts(pd.Series(uniques, dtype=object), strict=True, name=name, error=DerivationError)
    except DerivationError:  # read every row again, so that the message names the row of the column
        return iso_date_parts(dtc, strict=True, name=name, error=DerivationError)
    # code -1 (missing) takes the NaN appended after the distinct values
    return pd.DataFrame({key: np.append(parts[key].to_numpy(dtype=float), np.nan).take(codes)
                         for key in ("year", "month", "day")}, index=dtc.index)


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
    last_day = days_in_month(year, month_i)
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
    days = month_start(year, month_i).astype("datetime64[D]") + (np.nan_to_num(day_i, nan=1.0).astype("int64") - 1)
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
        # min_dates raise an imputed date to the bound, max_dates lower it
        bounds = [(col, 1, "first") for col in as_list(min_dates, "min_dates")]
        for col, sign, side in bounds + [(col, -1, "last") for col in as_list(max_dates, "max_dates")]:
            bound = pd.to_datetime(dataset[col]).dt.normalize().astype("datetime64[ns]")
            in_range = (bound >= lower) & (bound <= upper)
            dates = dates.mask(imputed & in_range & (sign * (bound - dates) > pd.Timedelta(0)), bound)
            if year_only and date_imputation == side:
                short = dates.isna() | (sign * (bound - dates) > pd.Timedelta(0))
                fill = missing_all.fillna(False) & bound.notna() & short
                dates = dates.mask(fill, bound)
                flags = flags.mask(fill, "Y")
    out = copy_frame(dataset)
    out[dt_var] = dates.astype("datetime64[ns]")
    if with_flag:
        out[dtf_var] = flags.astype(object).where(flags.notna(), None)
    return out
