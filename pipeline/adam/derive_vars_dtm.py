"""derive_vars_dtm: an analysis datetime (``*DTM``) with date and time imputation flags (``*DTF``, ``*TMF``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from pipeline.adam._utils import DerivationError, check_frame, check_new_vars_absent, copy_frame
from pipeline.adam.derive_vars_dt import _impute, parse_dtc
from pipeline.common.dates import iso_text

# n < s < m < h < D < M < Y: the highest component that may be imputed
_RANK = {"n": 0, "s": 1, "m": 2, "h": 3, "D": 4, "M": 5, "Y": 6}
_TIME_LEVEL_RANK = {"n": 0, "S": 1, "M": 2, "H": 3}
_NAMED_TIMES = {"first": "00:00:00", "last": "23:59:59"}


def _time_parts(dtc: pd.Series) -> pd.DataFrame:
    arr = iso_text(dtc)
    time = pc.extract_regex(arr, r"T(?P<h>\d{2}|-)?(?::(?P<m>\d{2}|-))?(?::(?P<s>\d{2}|-))?")
    out = {}
    for key in ("h", "m", "s"):
        field = pc.struct_field(time, key)
        digits = pc.match_substring_regex(field, r"^\d{2}$")
        field = pc.if_else(digits, field, None)
        out[key] = pc.cast(field, "float64").to_numpy(zero_copy_only=False).astype(float)
    return pd.DataFrame(out, index=dtc.index)


def derive_vars_dtm(
    dataset: pd.DataFrame,
    new_vars_prefix: str,
    dtc: str,
    highest_imputation: str = "h",
    date_imputation: str = "first",
    time_imputation: str = "first",
    flag_imputation: str = "auto",
    ignore_seconds_flag: bool = False,
) -> pd.DataFrame:
    """Add ``<prefix>DTM`` from ISO 8601 text, imputing up to ``highest_imputation``.

    ``highest_imputation``: ``n`` (nothing), ``s``, ``m``, ``h`` (seconds, minutes, hours of the
    time), ``D``, ``M``, ``Y`` (date parts too; date rules as :func:`derive_vars_dt`).
    ``time_imputation``: ``first`` (00:00:00), ``last`` (23:59:59) or ``HH:MM:SS``. A missing time
    counts as missing hours. Flags: ``<prefix>DTF`` (``D``/``M``/``Y``) when a date part was imputed,
    ``<prefix>TMF`` (``H``/``M``/``S``) for the highest imputed time part; seconds missing from
    ``HH:MM`` give ``S`` unless ``ignore_seconds_flag`` (data collected to the minute); set
    ``flag_imputation='date'`` or ``'none'`` to drop TMF or both.

    >>> ex = pd.DataFrame({"EXSTDTC": ["2024-01-10T09:30", "2024-01-10", "2024-01", None]})
    >>> out = derive_vars_dtm(ex, "TRTS", "EXSTDTC", highest_imputation="D")
    >>> out["TRTSDTM"].astype(str).tolist(), out["TRTSTMF"].tolist(), out["TRTSDTF"].tolist()
    (['2024-01-10 09:30:00', '2024-01-10 00:00:00', '2024-01-01 00:00:00', 'NaT'], ['S', 'H', 'H', None], [None, None, 'D', None])
    """
    check_frame(dataset, "dataset", [dtc])
    if highest_imputation not in _RANK:
        raise DerivationError(f"highest_imputation must be one of n, s, m, h, D, M, Y; got {highest_imputation!r}")
    if flag_imputation not in ("auto", "both", "date", "time", "none"):
        raise DerivationError(f"flag_imputation must be auto, both, date, time or none; got {flag_imputation!r}")
    try:
        fill = tuple(float(x) for x in _NAMED_TIMES.get(str(time_imputation), str(time_imputation)).split(":"))
    except ValueError:
        fill = ()
    if not (len(fill) == 3 and 0 <= fill[0] < 24 and 0 <= fill[1] < 60 and 0 <= fill[2] < 60):
        raise DerivationError(f"time_imputation must be first, last or HH:MM:SS; got {time_imputation!r}")
    dtm_var, dtf_var, tmf_var = (f"{new_vars_prefix}{s}" for s in ("DTM", "DTF", "TMF"))
    with_date_flag = flag_imputation in ("both", "date") or (flag_imputation == "auto" and _RANK[highest_imputation] >= 4)
    with_time_flag = flag_imputation in ("both", "time") or (flag_imputation == "auto" and highest_imputation != "n")
    check_new_vars_absent(dataset, [dtm_var] + [dtf_var] * with_date_flag + [tmf_var] * with_time_flag)

    name = f"dataset.{dtc}"
    date_level = {"D": "D", "M": "M", "Y": "Y"}.get(highest_imputation, "n")
    dates, date_flags = _impute(parse_dtc(dataset[dtc], name), date_level, date_imputation, False, dataset[dtc], name)
    time = _time_parts(dataset[dtc])
    hours, minutes, seconds = (time[c].to_numpy() for c in ("h", "m", "s"))
    date_imputed = date_flags.notna().to_numpy()
    miss_h = date_imputed | np.isnan(hours)
    time_level = np.select([miss_h, np.isnan(minutes), np.isnan(seconds)], ["H", "M", "S"], default="n")
    flag_level = np.where((time_level == "S") & ignore_seconds_flag, "n", time_level)
    allowed = pd.Series(time_level).map(_TIME_LEVEL_RANK).to_numpy() <= _RANK[highest_imputation]
    # a missing higher part resets the lower ones (10:-:30 imputes to 10:00:00 with 'first')
    miss_m = miss_h | np.isnan(minutes)
    miss_s = miss_m | np.isnan(seconds)
    h = np.where(miss_h, fill[0], hours)
    m = np.where(miss_m, fill[1], minutes)
    s = np.where(miss_s, fill[2], seconds)
    if ((h > 23) | (m > 59) | (s > 59)).any():
        pos = int(np.argmax((h > 23) | (m > 59) | (s > 59)))
        raise DerivationError(f"{name}: value '{dataset[dtc].iloc[pos]}' on row {pos + 1} is not a valid time")
    offset = pd.to_timedelta(np.nan_to_num(h * 3600 + m * 60 + s), unit="s")
    usable = dates.notna().to_numpy() & allowed
    out = copy_frame(dataset)
    out[dtm_var] = (dates + offset).where(usable).astype("datetime64[ns]")
    if with_date_flag:
        out[dtf_var] = date_flags.where(usable, None)
    if with_time_flag:
        out[tmf_var] = pd.Series(np.where(usable & (flag_level != "n"), flag_level, None), index=out.index, dtype=object)
    return out
