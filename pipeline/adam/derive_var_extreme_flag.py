"""derive_var_extreme_flag: flag the first or last record of each group."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from pipeline.adam._utils import (
    DerivationError,
    as_list,
    check_frame,
    check_new_vars_absent,
    copy_frame,
    eval_condition,
    flag_series,
    order_columns,
    sort_frame,
)


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
    by = as_list(by_vars, "by_vars")
    check_frame(dataset, "dataset", by + order_columns(order))
    if mode not in ("first", "last"):
        raise DerivationError(f"derive_var_extreme_flag: mode must be 'first' or 'last', got {mode!r}")
    if not order_columns(order):
        raise DerivationError("derive_var_extreme_flag: order must name at least one variable")
    check_new_vars_absent(dataset, [new_var])
    eligible = eval_condition(dataset, filter_add, "filter_add").to_numpy(dtype=bool)
    # work on row positions, so that duplicate index labels cannot flag the wrong rows
    positions = np.flatnonzero(eligible)
    subset = dataset.iloc[positions][by + order_columns(order)].set_axis(positions)
    chosen = np.zeros(len(dataset), dtype=bool)
    if not subset.empty:
        ordered = sort_frame(subset, by, order)
        keep = "first" if mode == "first" else "last"
        if flag_all:
            cols = order_columns(order)
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
