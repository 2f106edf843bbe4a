"""Change from baseline: CHG = AVAL - BASE, PCHG = 100 x (AVAL - BASE) / |BASE|, R2BASE = AVAL / BASE."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from pipeline.adam._utils import check_frame, check_new_vars_absent, copy_frame, eval_condition


def _from_base(dataset: pd.DataFrame, new_var: str, analysis_var: str, base_var: str, filter_add: str | None,
               formula: Callable[[pd.Series, pd.Series], pd.Series]) -> pd.DataFrame:
    """Add ``new_var = formula(AVAL, BASE)`` (numbers) on the records meeting ``filter_add``, missing elsewhere."""
    check_frame(dataset, "dataset", [analysis_var, base_var])
    check_new_vars_absent(dataset, [new_var])
    out = copy_frame(dataset)
    value = formula(pd.to_numeric(out[analysis_var]), pd.to_numeric(out[base_var]))
    out[new_var] = value.where(eval_condition(out, filter_add, "filter_add")).astype(float)
    return out


def derive_var_chg(dataset: pd.DataFrame, new_var: str = "CHG", analysis_var: str = "AVAL",
                   base_var: str = "BASE", filter_add: str | None = None) -> pd.DataFrame:
    """Add ``CHG = AVAL - BASE``; records not meeting ``filter_add`` (e.g. pre-baseline ones) get missing.

    Without ``filter_add`` every record gets a value, as in admiral (0 on the baseline record).

    >>> lb = pd.DataFrame({"AVAL": [2.0, 1.5, None], "BASE": [2.0, 2.0, 2.0], "ABLFL": ["Y", None, None]})
    >>> derive_var_chg(lb, filter_add="ABLFL != 'Y'")["CHG"].tolist()
    [nan, -0.5, nan]
    """
    return _from_base(dataset, new_var, analysis_var, base_var, filter_add, lambda aval, base: aval - base)


def _percent_change(aval: pd.Series, base: pd.Series) -> pd.Series:
    safe = base.astype(float).where(base.astype(float) != 0)
    return 100.0 * (aval.astype(float) - safe) / np.abs(safe)


def derive_var_pchg(dataset: pd.DataFrame, new_var: str = "PCHG", analysis_var: str = "AVAL",
                    base_var: str = "BASE", filter_add: str | None = None) -> pd.DataFrame:
    """Add ``PCHG = 100 * (AVAL - BASE) / abs(BASE)``; missing when BASE is 0 or missing.

    >>> lb = pd.DataFrame({"AVAL": [1.0, 3.0, 1.0], "BASE": [2.0, -2.0, 0.0]})
    >>> derive_var_pchg(lb)["PCHG"].tolist()
    [-50.0, 250.0, nan]
    """
    return _from_base(dataset, new_var, analysis_var, base_var, filter_add, _percent_change)


def derive_var_r2base(dataset: pd.DataFrame, new_var: str = "R2BASE", analysis_var: str = "AVAL",
                      base_var: str = "BASE", filter_add: str | None = None) -> pd.DataFrame:
    """Add ``R2BASE = AVAL / BASE``; missing when BASE is 0 or missing.

    >>> lb = pd.DataFrame({"AVAL": [1.0, 3.0], "BASE": [2.0, 0.0]})
    >>> derive_var_r2base(lb)["R2BASE"].tolist()
    [0.5, nan]
    """
    return _from_base(dataset, new_var, analysis_var, base_var, filter_add,
                      lambda aval, base: aval.astype(float) / base.astype(float).where(base.astype(float) != 0))
