"""derive_var_extreme_flag: flag the first or last record of each group; the baseline (ABLFL) and
analysed-record (ANL01FL) flags are such flags."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from pipeline.adam._utils import (DerivationError, as_datetimes, as_list, check_frame, check_new_vars_absent,
                                  copy_frame, eval_condition, flag_series, order_columns, sort_frame)


def derive_var_extreme_flag(
    dataset: pd.DataFrame,
    by_vars: Sequence[str],
    order: Sequence[str],
    new_var: str,
    mode: str = "last",
    filter_add: str | None = None,
    true_value: Any = "Y",
    false_value: Any = None,
    flag_all: bool = False,
) -> pd.DataFrame:
    """Set ``new_var`` to ``true_value`` on the first/last record (by ``order``) of each ``by_vars`` group.

    Only records meeting ``filter_add`` take part; every other record gets ``false_value``.
    Ties on ``order``: the record earlier in the input wins for 'first', the later one for 'last';
    ``flag_all=True`` flags every tied record instead. This verb also gives the occurrence flags
    (AOCCFL: by USUBJID; AOCCSFL: by USUBJID, AEBODSYS; AOCCPFL: + AEDECOD; mode first,
    filter_add "TRTEMFL == 'Y'").

    >>> ae = pd.DataFrame({"USUBJID": ["1", "1", "1", "2"], "ASTDT": [5, 2, 2, 9], "AESEQ": [1, 2, 3, 1],
    ...                    "TRTEMFL": ["Y", "Y", "Y", None]})
    >>> derive_var_extreme_flag(ae, ["USUBJID"], ["ASTDT", "AESEQ"], "AOCCFL", mode="first",
    ...                         filter_add="TRTEMFL == 'Y'")["AOCCFL"].tolist()
    [None, 'Y', None, None]
    """
    by, cols = as_list(by_vars, "by_vars"), order_columns(order)
    check_frame(dataset, "dataset", by + cols)
    if mode not in ("first", "last"):
        raise DerivationError(f"derive_var_extreme_flag: mode must be 'first' or 'last', got {mode!r}")
    if not cols:
        raise DerivationError("derive_var_extreme_flag: order must name at least one variable")
    check_new_vars_absent(dataset, [new_var])
    eligible = eval_condition(dataset, filter_add, "filter_add").to_numpy(dtype=bool)
    # work on row positions, so that duplicate index labels cannot flag the wrong rows
    positions = np.flatnonzero(eligible)
    subset = dataset[by + cols].iloc[positions].set_axis(positions)  # (only the columns it sorts on are taken)
    chosen = np.zeros(len(dataset), dtype=bool)
    if not subset.empty:
        ordered = sort_frame(subset, by, order)
        keep = "first" if mode == "first" else "last"
        if flag_all:
            extreme = ordered.drop_duplicates(by, keep=keep)[by + cols]
            hit = ordered.assign(__row=ordered.index).merge(extreme, on=by + cols, how="inner")
            chosen[hit["__row"].to_numpy()] = True
        else:
            if by:
                picked = ordered.index[~ordered.duplicated(by, keep=keep)]
            else:
                picked = ordered.index[[0 if mode == "first" else -1]]
            chosen[picked.to_numpy()] = True
    out = copy_frame(dataset)
    out[new_var] = flag_series(pd.Series(chosen, index=dataset.index), true_value, false_value)
    return out


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
    on_or_before = as_datetimes(dataset[date_var]) <= as_datetimes(dataset[trt_start_date])
    candidate = (dataset[analysis_var].notna() & on_or_before
                 & eval_condition(dataset, filter_add, "filter_add"))
    if pd.api.types.is_object_dtype(dataset[analysis_var]) or pd.api.types.is_string_dtype(dataset[analysis_var]):
        candidate &= dataset[analysis_var].astype("string").str.strip().fillna("") != ""
    return derive_var_extreme_flag(dataset, by, list(order), new_var, mode="last", filter_add=candidate)


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
