"""derive_vars_avisit: analysis visits from day windows (AVISIT, AVISITN, AWTARGET, AWLO, AWHI, AWTDIFF, AWU)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from pipeline.adam._utils import (DerivationError, check_frame, check_new_vars_absent, copy_frame, eval_condition,
                                  text_where)

WINDOW_VARS = ["AVISIT", "AVISITN", "AWTARGET", "AWLO", "AWHI"]


def compute_windows(targets: Sequence[Mapping[str, Any]], first_lower: float | None = None,
                    last_upper: float | None = None) -> pd.DataFrame:
    """Windows around target days, bounded at the midpoints between neighbouring targets.

    ``targets``: records with AVISIT, AVISITN, AWTARGET, in any order. Boundary rule: a day exactly
    on a midpoint belongs to the EARLIER window (``AWHI = floor((t1 + t2) / 2)``, next ``AWLO = AWHI + 1``).
    The first window starts at ``first_lower`` and the last ends at ``last_upper`` (``None`` = open).

    >>> compute_windows([{"AVISIT": "WEEK 2", "AVISITN": 4, "AWTARGET": 15},
    ...                  {"AVISIT": "WEEK 4", "AVISITN": 5, "AWTARGET": 29},
    ...                  {"AVISIT": "WEEK 8", "AVISITN": 6, "AWTARGET": 57}], first_lower=2)
       AVISIT  AVISITN  AWTARGET  AWLO  AWHI
    0  WEEK 2        4        15   2.0  22.0
    1  WEEK 4        5        29  23.0  43.0
    2  WEEK 8        6        57  44.0   NaN
    """
    table = pd.DataFrame(list(targets))
    check_frame(table, "targets", ["AVISIT", "AVISITN", "AWTARGET"])
    if table.empty:
        raise DerivationError("compute_windows: no targets given")
    table = table.sort_values("AWTARGET", kind="mergesort").reset_index(drop=True)
    target = table["AWTARGET"].astype(float).to_numpy()
    if np.any(np.diff(target) <= 0):
        raise DerivationError(f"compute_windows: target days must be distinct, got {target.tolist()}")
    upper = np.floor((target[:-1] + target[1:]) / 2.0)
    table["AWLO"] = np.concatenate([[np.nan if first_lower is None else float(first_lower)], upper + 1])
    table["AWHI"] = np.concatenate([upper, [np.nan if last_upper is None else float(last_upper)]])
    return table[WINDOW_VARS]


def derive_vars_avisit(
    dataset: pd.DataFrame,
    windows: pd.DataFrame | Sequence[Mapping[str, Any]],
    day_var: str = "ADY",
    filter_add: str | None = None,
    unit: str = "DAYS",
) -> pd.DataFrame:
    """Assign each record the window containing its ``day_var`` (bounds inclusive; missing = open).

    ``windows``: AVISIT, AVISITN, AWTARGET, AWLO, AWHI (see :func:`compute_windows`); windows must
    not overlap. Adds those variables, ``AWTDIFF = |day - AWTARGET|`` and ``AWU``. Records with a
    missing day, outside every window or not meeting ``filter_add`` get missing values.

    >>> win = compute_windows([{"AVISIT": "WEEK 2", "AVISITN": 4, "AWTARGET": 15},
    ...                        {"AVISIT": "WEEK 4", "AVISITN": 5, "AWTARGET": 29}], first_lower=2, last_upper=43)
    >>> lb = pd.DataFrame({"ADY": [1, 22, 23, 44]})
    >>> derive_vars_avisit(lb, win)[["ADY", "AVISIT", "AWTDIFF"]]
       ADY  AVISIT  AWTDIFF
    0    1    None      NaN
    1   22  WEEK 2      7.0
    2   23  WEEK 4      6.0
    3   44    None      NaN
    """
    check_frame(dataset, "dataset", [day_var])
    table = pd.DataFrame(list(windows)) if not isinstance(windows, pd.DataFrame) else windows.copy()
    check_frame(table, "windows", WINDOW_VARS)
    check_new_vars_absent(dataset, WINDOW_VARS + ["AWTDIFF", "AWU"])
    lo = pd.to_numeric(table["AWLO"]).astype(float).fillna(-np.inf).to_numpy()
    hi = pd.to_numeric(table["AWHI"]).astype(float).fillna(np.inf).to_numpy()
    order = np.argsort(lo, kind="mergesort")
    lo, hi = lo[order], hi[order]
    table = table.iloc[order].reset_index(drop=True)
    if np.any(lo > hi):
        bad = int(np.argmax(lo > hi))
        raise DerivationError(f"windows: {table.at[bad, 'AVISIT']} has AWLO > AWHI")
    if len(lo) > 1 and np.any(lo[1:] <= hi[:-1]):
        bad = int(np.argmax(lo[1:] <= hi[:-1]))
        raise DerivationError(f"windows: {table.at[bad, 'AVISIT']} and {table.at[bad + 1, 'AVISIT']} overlap")
    day = pd.to_numeric(dataset[day_var]).astype(float).to_numpy()
    pos = np.searchsorted(lo, day, side="right") - 1
    inside = (pos >= 0) & ~np.isnan(day)
    inside &= day <= hi[np.clip(pos, 0, None)]
    inside &= eval_condition(dataset, filter_add, "filter_add").to_numpy()
    out = copy_frame(dataset)
    picked = table.iloc[np.clip(pos, 0, None)].reset_index(drop=True)
    for var in WINDOW_VARS:
        values = picked[var].to_numpy()
        if var in ("AVISIT",):
            out[var] = pd.Series(np.where(inside, values, None), index=out.index, dtype=object)
        else:
            out[var] = pd.Series(np.where(inside, pd.to_numeric(values).astype(float), np.nan), index=out.index)
    out["AWTDIFF"] = (pd.Series(day, index=out.index) - out["AWTARGET"]).abs()
    out["AWU"] = pd.Series(text_where(inside, unit) if isinstance(unit, str) else np.where(inside, unit, None),
                           index=out.index, dtype=object)
    return out
