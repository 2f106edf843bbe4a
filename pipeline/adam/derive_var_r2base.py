"""derive_var_r2base: ratio to baseline, R2BASE = AVAL / BASE."""

from __future__ import annotations

import pandas as pd

from pipeline.adam._utils import check_frame, check_new_vars_absent, copy_frame, eval_condition


def derive_var_r2base(dataset: pd.DataFrame, new_var: str = "R2BASE", analysis_var: str = "AVAL",
                      base_var: str = "BASE", filter_add: str | None = None) -> pd.DataFrame:
    """Add ``R2BASE = AVAL / BASE``; missing when BASE is 0 or missing.

    >>> lb = pd.DataFrame({"AVAL": [1.0, 3.0], "BASE": [2.0, 0.0]})
    >>> derive_var_r2base(lb)["R2BASE"].tolist()
    [0.5, nan]
    """
    check_frame(dataset, "dataset", [analysis_var, base_var])
    check_new_vars_absent(dataset, [new_var])
    out = copy_frame(dataset)
    base = pd.to_numeric(out[base_var]).astype(float)
    value = pd.to_numeric(out[analysis_var]).astype(float) / base.where(base != 0)
    out[new_var] = value.where(eval_condition(out, filter_add, "filter_add")).astype(float)
    return out
