"""derive_var_chg: change from baseline, CHG = AVAL - BASE."""

from __future__ import annotations

import pandas as pd

from pipeline.adam._utils import check_frame, check_new_vars_absent, copy_frame, eval_condition


def derive_var_chg(dataset: pd.DataFrame, new_var: str = "CHG", analysis_var: str = "AVAL",
                   base_var: str = "BASE", filter_add: str | None = None) -> pd.DataFrame:
    """Add ``CHG = AVAL - BASE``; records not meeting ``filter_add`` (e.g. pre-baseline ones) get missing.

    Without ``filter_add`` every record gets a value, as in admiral (0 on the baseline record).

    >>> lb = pd.DataFrame({"AVAL": [2.0, 1.5, None], "BASE": [2.0, 2.0, 2.0], "ABLFL": ["Y", None, None]})
    >>> derive_var_chg(lb, filter_add="ABLFL != 'Y'")["CHG"].tolist()
    [nan, -0.5, nan]
    """
    check_frame(dataset, "dataset", [analysis_var, base_var])
    check_new_vars_absent(dataset, [new_var])
    out = copy_frame(dataset)
    value = pd.to_numeric(out[analysis_var]) - pd.to_numeric(out[base_var])
    out[new_var] = value.where(eval_condition(out, filter_add, "filter_add")).astype(float)
    return out
