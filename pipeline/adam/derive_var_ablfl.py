"""derive_var_ablfl: the baseline record flag of a BDS dataset."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from pipeline.adam._utils import as_list, check_frame, eval_condition, order_columns
from pipeline.adam.derive_var_extreme_flag import derive_var_extreme_flag


def derive_var_ablfl(
    dataset: pd.DataFrame,
    by_vars: Sequence[str],
    order: Sequence[str] = ("ADT",),
    new_var: str = "ABLFL",
    filter_add: str | None = None,
    analysis_var: str = "AVAL",
    date_var: str = "ADT",
    trt_start_date: str = "TRTSDT",
) -> pd.DataFrame:
    """Flag ``Y`` the last record with a non-missing ``analysis_var`` on or before ``trt_start_date``.

    One record per ``by_vars`` group (usually USUBJID, PARAMCD) is flagged, choosing the last by
    ``order``; records dated on the first-dose day count as pre-dose (dates carry no time). Ties on
    ``order`` go to the record later in the input: add a tie-breaker such as ``--SEQ`` to ``order``.
    ``filter_add`` restricts the candidates further (e.g. scheduled visits only). Groups with no
    candidate have no baseline.

    >>> lb = pd.DataFrame({"USUBJID": ["1"] * 4 + ["2"], "PARAMCD": ["UPCR"] * 5,
    ...                    "ADT": pd.to_datetime(["2024-01-01", "2024-01-08", "2024-01-10", "2024-02-01", "2024-01-20"]),
    ...                    "AVAL": [2.0, None, 1.8, 1.0, 3.0],
    ...                    "TRTSDT": pd.to_datetime(["2024-01-10"] * 4 + ["2024-01-15"])})
    >>> derive_var_ablfl(lb, ["USUBJID", "PARAMCD"])["ABLFL"].tolist()
    [None, None, 'Y', None, None]
    """
    by = as_list(by_vars, "by_vars")
    check_frame(dataset, "dataset", by + order_columns(list(order)) + [analysis_var, date_var, trt_start_date])
    candidate = (dataset[analysis_var].notna() & (pd.to_datetime(dataset[date_var]) <= pd.to_datetime(dataset[trt_start_date]))
                 & eval_condition(dataset, filter_add, "filter_add"))
    if pd.api.types.is_object_dtype(dataset[analysis_var]) or pd.api.types.is_string_dtype(dataset[analysis_var]):
        candidate &= dataset[analysis_var].astype("string").str.strip().fillna("") != ""
    return derive_var_extreme_flag(dataset, by, list(order), new_var, mode="last", filter_add=candidate)
