"""derive_locf_records: add LOCF records (DTYPE = LOCF) for expected visits without a value."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from pipeline.adam._utils import (DerivationError, as_list, check_frame, copy_frame, eval_condition, order_columns,
                                  sort_frame)


def derive_locf_records(
    dataset: pd.DataFrame,
    dataset_ref: pd.DataFrame,
    by_vars: Sequence[str],
    order: Sequence[str],
    analysis_var: str = "AVAL",
    keep_vars: Sequence[str] | None = None,
    filter_add: str | None = None,
    set_values_to: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Append a record carrying the last observed ``analysis_var`` for each expected record with no value.

    ``dataset_ref`` lists the expected records (e.g. PARAMCD, AVISITN, AVISIT); it is crossed with
    the ``by_vars`` groups present in ``dataset`` (joined on shared columns). Observed records are
    those meeting ``filter_add`` (e.g. ``"ANL01FL == 'Y'"``) with a non-missing ``analysis_var``.
    Within each group, ordered by ``order`` (columns of ``dataset_ref``), an expected record without
    an observation gets the previous observation's ``analysis_var`` and ``keep_vars`` (e.g. ADT stays
    the source date) plus ``set_values_to`` (default ``DTYPE = 'LOCF'``). Nothing is carried
    before the first observation. Original records are kept unchanged.

    >>> adlb = pd.DataFrame({"USUBJID": ["1", "1"], "PARAMCD": ["UPCR"] * 2, "AVISITN": [4.0, 5.0],
    ...                      "AVISIT": ["WEEK 2", "WEEK 4"], "AVAL": [1.0, 0.8]})
    >>> ref = pd.DataFrame({"PARAMCD": ["UPCR"] * 3, "AVISITN": [4.0, 5.0, 6.0], "AVISIT": ["WEEK 2", "WEEK 4", "WEEK 8"]})
    >>> derive_locf_records(adlb, ref, ["USUBJID", "PARAMCD"], ["AVISITN"])
      USUBJID PARAMCD  AVISITN  AVISIT  AVAL DTYPE
    0       1    UPCR      4.0  WEEK 2   1.0  None
    1       1    UPCR      5.0  WEEK 4   0.8  None
    2       1    UPCR      6.0  WEEK 8   0.8  LOCF
    """
    by = as_list(by_vars, "by_vars")
    keep = as_list(keep_vars, "keep_vars")
    check_frame(dataset, "dataset", by + [analysis_var] + keep)
    check_frame(dataset_ref, "dataset_ref")
    sort_cols = order_columns(list(order))
    missing_order = [c for c in sort_cols if c not in dataset_ref.columns]
    if missing_order:
        raise DerivationError(f"derive_locf_records: order variables {', '.join(missing_order)} must be in dataset_ref")
    values = dict(set_values_to) if set_values_to is not None else {"DTYPE": "LOCF"}
    id_vars = by + [c for c in dataset_ref.columns if c not in by]
    check_frame(dataset, "dataset", id_vars)
    groups = dataset[by].drop_duplicates()
    shared = [c for c in by if c in dataset_ref.columns]
    expected = groups.merge(dataset_ref.drop_duplicates(), on=shared, how="inner") if shared \
        else groups.merge(dataset_ref.drop_duplicates(), how="cross")
    observed_mask = eval_condition(dataset, filter_add, "filter_add") & dataset[analysis_var].notna()
    observed = dataset.loc[observed_mask, list(dict.fromkeys(id_vars + [analysis_var] + keep))]
    present = observed[id_vars].drop_duplicates().assign(__present=True)
    expected = expected.merge(present, on=id_vars, how="left")
    gaps = expected.loc[expected.pop("__present").isna(), id_vars].assign(__new=True)
    out = copy_frame(dataset)
    for var in values:
        if var not in out.columns:
            out[var] = None
    if gaps.empty:
        return out
    # only groups with a gap carry anything: the other groups' observations are left out of the sort and fill
    with_gap = observed[by].merge(gaps[by].drop_duplicates().assign(__gap=True), on=by, how="left")["__gap"]
    observed = observed.loc[with_gap.notna().to_numpy()]
    stacked = pd.concat([observed.assign(__new=False), gaps], ignore_index=True)
    stacked = sort_frame(stacked, by, list(order))
    carried = stacked.groupby(by, sort=False, dropna=False)[[analysis_var] + [k for k in keep if k not in id_vars]].ffill()
    stacked[carried.columns] = carried
    added = stacked.loc[stacked["__new"].astype(bool) & stacked[analysis_var].notna()].drop(columns="__new")
    for var, value in values.items():
        added[var] = value
    return pd.concat([out, added], ignore_index=True)
