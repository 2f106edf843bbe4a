"""derive_var_pchg: percent change from baseline, PCHG = 100 x (AVAL - BASE) / |BASE|."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.adam._utils import check_frame, check_new_vars_absent, copy_frame, eval_condition


def derive_var_pchg(dataset: pd.DataFrame, new_var: str = "PCHG", analysis_var: str = "AVAL",
                    base_var: str = "BASE", filter_add: str | None = None) -> pd.DataFrame:
    """Add ``PCHG = 100 * (AVAL - BASE) / abs(BASE)``; missing when BASE is 0 or missing.

    >>> lb = pd.DataFrame({"AVAL": [1.0, 3.0, 1.0], "BASE": [2.0, -2.0, 0.0]})
    >>> derive_var_pchg(lb)["PCHG"].tolist()
    [-50.0, 250.0, nan]
    """
    check_frame(dataset, "dataset", [analysis_var, base_var])
    check_new_vars_absent(dataset, [new_var])
    out = copy_frame(dataset)
    base = pd.to_numeric(out[base_var]).astype(float)
    aval = pd.to_numeric(out[analysis_var]).astype(float)
    safe = base.where(base != 0)
    value = 100.0 * (aval - safe) / np.abs(safe)
    out[new_var] = value.where(eval_condition(out, filter_add, "filter_add")).astype(float)
    return out
