"""derive_var_anl01fl: one analysed record per subject, parameter and analysis visit."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from pipeline.adam._utils import as_list, check_frame, eval_condition, order_columns
from pipeline.adam.derive_var_extreme_flag import derive_var_extreme_flag


def derive_var_anl01fl(
    dataset: pd.DataFrame,
    by_vars: Sequence[str] = ("USUBJID", "PARAMCD", "AVISIT"),
    order: Sequence[str] = ("AWTDIFF", "desc(ADY)"),
    new_var: str = "ANL01FL",
    filter_add: str | None = None,
    analysis_var: str = "AVAL",
) -> pd.DataFrame:
    """Flag ``Y`` the record closest to the window target in each ``by_vars`` group.

    Candidates have an analysis visit and a non-missing ``analysis_var`` (and meet ``filter_add``).
    Default ``order``: smallest AWTDIFF; a tie (one day before and one day after the target)
    goes to the LATER record (``desc(ADY)``); records on the same day keep the first in input order
    unless ``order`` adds a tie-breaker such as ``desc(SRCSEQ)``.

    >>> lb = pd.DataFrame({"USUBJID": ["1"] * 4, "PARAMCD": ["UPCR"] * 4,
    ...                    "AVISIT": ["WEEK 4"] * 3 + [None], "ADY": [27, 31, 30, 60],
    ...                    "AWTDIFF": [2.0, 2.0, 1.0, None], "AVAL": [1.0, 2.0, None, 4.0]})
    >>> derive_var_anl01fl(lb)["ANL01FL"].tolist()
    [None, 'Y', None, None]
    """
    by = as_list(by_vars, "by_vars")
    check_frame(dataset, "dataset", by + order_columns(list(order)) + [analysis_var])
    candidate = dataset[analysis_var].notna() & eval_condition(dataset, filter_add, "filter_add")
    for var in by:
        candidate &= dataset[var].notna()
    return derive_var_extreme_flag(dataset, by, list(order), new_var, mode="first", filter_add=candidate)
