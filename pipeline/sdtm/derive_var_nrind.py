"""derive_var_nrind: --NRIND (LOW / NORMAL / HIGH) from the standard result and standard-unit range."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.sdtm.derive_helpers import check_domain, check_frame, check_variable_name
from pipeline.sdtm.derive_vars_stresc import parse_censored


def derive_var_nrind(dataset: pd.DataFrame, domain: str, new_var: str | None = None) -> pd.DataFrame:
    """Add ``<domain>NRIND`` comparing ``--STRESN`` with ``--STNRLO`` / ``--STNRHI`` (standard units).

    - ``LOW`` below the lower limit, ``HIGH`` above the upper limit, ``NORMAL`` within the range
      (limits inclusive); a one-sided range is enough (e.g. only an upper limit).
    - Censored results (STRESN null, STRESC ``<x``/``<=x``/``>x``/``>=x``) are classified when the
      bound settles it: ``<0.1`` with lower limit 0.5 is LOW; ``<0.1`` with only an upper limit 0.2
      is NORMAL; ``>1000`` with upper limit 500 is HIGH; otherwise null.
    - Null when there is no result or no range. An existing ``new_var`` column is replaced.

    >>> lb = pd.DataFrame({"LBSTRESC": ["3.0", "5.5", "12", "<0.1", ">1000", "<0.1", "7"],
    ...     "LBSTRESN": [3.0, 5.5, 12.0, None, None, None, 7.0],
    ...     "LBSTNRLO": [4.0, 4.0, 4.0, 0.5, None, None, None],
    ...     "LBSTNRHI": [10.0, 10.0, 10.0, 2.0, 500.0, 0.2, None]})
    >>> derive_var_nrind(lb, "LB")["LBNRIND"].tolist()
    ['LOW', 'NORMAL', 'HIGH', 'LOW', 'HIGH', 'NORMAL', None]
    """
    check_domain(domain)
    new_var = check_variable_name(new_var or f"{domain}NRIND", "new_var")
    stresn, stresc = f"{domain}STRESN", f"{domain}STRESC"
    low_var, high_var = f"{domain}STNRLO", f"{domain}STNRHI"
    check_frame(dataset, domain, [stresn, low_var, high_var])
    value = pd.to_numeric(dataset[stresn], errors="coerce").to_numpy(dtype="float64")
    low = pd.to_numeric(dataset[low_var], errors="coerce").to_numpy(dtype="float64")
    high = pd.to_numeric(dataset[high_var], errors="coerce").to_numpy(dtype="float64")
    has_range = ~np.isnan(low) | ~np.isnan(high)
    with np.errstate(invalid="ignore"):
        is_low = value < low
        is_high = value > high
        within = ~np.isnan(value) & has_range & ~is_low & ~is_high
    indicator = np.select([is_low, is_high, within], ["LOW", "HIGH", "NORMAL"], default="")

    if stresc in dataset.columns:
        censored = parse_censored(dataset[stresc].where(dataset[stresn].isna()))
        op = censored["operator"].to_numpy(dtype=object)
        bound = censored["number"].to_numpy(dtype="float64")
        below = np.isin(op, ["<", "<="])
        above = np.isin(op, [">", ">="])
        strict = np.isin(op, ["<", ">"])
        with np.errstate(invalid="ignore"):
            c_low = below & np.where(strict, bound <= low, bound < low)
            c_high = above & np.where(strict, bound >= high, bound > high)
            c_normal_below = below & np.isnan(low) & (bound <= high)
            c_normal_above = above & np.isnan(high) & (bound >= low)
        censored_ind = np.select([c_low, c_high, c_normal_below | c_normal_above], ["LOW", "HIGH", "NORMAL"], "")
        indicator = np.where(indicator == "", censored_ind, indicator)

    result = dataset.copy()
    flags = pd.Series(indicator, index=dataset.index, dtype="object")
    result[new_var] = flags.where(flags != "", None)
    return result
