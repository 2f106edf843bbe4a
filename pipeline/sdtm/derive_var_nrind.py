"""derive_var_nrind: --NRIND (LOW / NORMAL / HIGH) from the standard result and standard-unit range.

One implementation: the mapping's ``derive: {function: nrind}`` and the verb both call
:func:`range_indicator`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.sdtm.derive_helpers import check_domain, check_frame, check_variable_name

NUMBER_PATTERN = r"^\s*(<=|>=|<|>|=)?\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*$"


def parse_censored(text: pd.Series) -> pd.DataFrame:
    """Split result text into a comparison operator (``<``, ``<=``, ``>``, ``>=`` or None) and a number.

    Text that is not a (possibly censored) number gives NaN. ``=`` is dropped.

    >>> parse_censored(pd.Series(["12.5", "<0.1", ">= 1000", "NEGATIVE", None, "1,5"]))
      operator  number
    0     None    12.5
    1        <     0.1
    2       >=  1000.0
    3     None     NaN
    4     None     NaN
    5     None     NaN
    """
    codes, uniques = pd.factorize(text.astype("object"), use_na_sentinel=True)
    parts = pd.Series(uniques, dtype="object").astype("string").str.extract(NUMBER_PATTERN)
    number = pd.to_numeric(parts[1], errors="coerce").astype("float64").to_numpy()
    keep = (parts[0].isin(["<", "<=", ">", ">="]).to_numpy(dtype=bool)) & ~np.isnan(number)
    operator = np.where(keep, parts[0].astype("object").to_numpy(), None)
    # code -1 (missing text) takes the appended last entry: no operator, no number
    return pd.DataFrame({"operator": np.append(operator, None)[codes], "number": np.append(number, np.nan)[codes]},
                        index=text.index)


def range_indicator(value: pd.Series, low: pd.Series | None, high: pd.Series | None,
                    text: pd.Series | None = None) -> pd.Series:
    """LOW / NORMAL / HIGH (None when it cannot be told) of numeric results against a reference range.

    - ``LOW`` below the lower limit, ``HIGH`` above the upper limit, ``NORMAL`` within the range
      (limits inclusive); a one-sided range is enough (e.g. only an upper limit).
    - A censored result (``value`` null, ``text`` ``<x``/``<=x``/``>x``/``>=x``) is classified when
      the bound settles it (SDTMIG: the result lies below the bound): ``<0.1`` with lower limit 0.5
      is LOW; ``<0.1`` with only an upper limit 0.2 is NORMAL; ``>1000`` with upper limit 500 is HIGH.

    >>> range_indicator(pd.Series([3.0, None]), pd.Series([4.0, 0.5]), pd.Series([10.0, 2.0]),
    ...                 pd.Series(["3", "<0.1"])).tolist()
    ['LOW', 'LOW']
    """
    number = pd.to_numeric(value, errors="coerce").to_numpy(dtype="float64")
    nan = np.full(len(number), np.nan)
    lo = pd.to_numeric(low, errors="coerce").to_numpy(dtype="float64") if low is not None else nan
    hi = pd.to_numeric(high, errors="coerce").to_numpy(dtype="float64") if high is not None else nan
    has_range = ~np.isnan(lo) | ~np.isnan(hi)
    with np.errstate(invalid="ignore"):
        is_low = number < lo
        is_high = number > hi
        within = ~np.isnan(number) & has_range & ~is_low & ~is_high
    indicator = np.select([is_low, is_high, within], ["LOW", "HIGH", "NORMAL"], default="")
    if text is not None:
        censored = parse_censored(pd.Series(text.to_numpy(dtype=object), index=value.index).where(np.isnan(number)))
        op = censored["operator"].to_numpy(dtype=object)
        bound = censored["number"].to_numpy(dtype="float64")
        below = np.isin(op, ["<", "<="])
        above = np.isin(op, [">", ">="])
        strict = np.isin(op, ["<", ">"])
        with np.errstate(invalid="ignore"):
            c_low = below & np.where(strict, bound <= lo, bound < lo)
            c_high = above & np.where(strict, bound >= hi, bound > hi)
            c_normal_below = below & np.isnan(lo) & (bound <= hi)
            c_normal_above = above & np.isnan(hi) & (bound >= lo)
        censored_ind = np.select([c_low, c_high, c_normal_below | c_normal_above], ["LOW", "HIGH", "NORMAL"], "")
        indicator = np.where(indicator == "", censored_ind, indicator)
    flags = pd.Series(indicator, index=value.index, dtype="object")
    return flags.where(flags != "", None)


def derive_var_nrind(dataset: pd.DataFrame, domain: str, new_var: str | None = None) -> pd.DataFrame:
    """Add ``<domain>NRIND`` comparing ``--STRESN`` (or a censored ``--STRESC``) with ``--STNRLO`` /
    ``--STNRHI`` (standard units), by :func:`range_indicator`. An existing ``new_var`` is replaced.

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
    result = dataset.copy(deep=False)  # new columns are set whole: the input is never written into
    result[new_var] = range_indicator(dataset[stresn], dataset[low_var], dataset[high_var],
                                      dataset[stresc] if stresc in dataset.columns else None)
    return result
