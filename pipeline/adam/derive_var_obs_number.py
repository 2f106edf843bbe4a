"""derive_var_obs_number: a sequence number within groups (ASEQ)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from pipeline.adam._utils import as_list, check_frame, check_new_vars_absent, copy_frame, order_columns, sort_frame


def derive_var_obs_number(dataset: pd.DataFrame, by_vars: Sequence[str] | None = None,
                          order: Sequence[str] | None = None, new_var: str = "ASEQ") -> pd.DataFrame:
    """Number records 1, 2, ... within each ``by_vars`` group in ``order`` (input order breaks ties).

    >>> adae = pd.DataFrame({"USUBJID": ["1", "1", "2"], "ASTDT": [5, 2, 1]})
    >>> derive_var_obs_number(adae, ["USUBJID"], ["ASTDT"])["ASEQ"].tolist()
    [2.0, 1.0, 1.0]
    """
    by = as_list(by_vars, "by_vars")
    check_frame(dataset, "dataset", by + order_columns(order))
    check_new_vars_absent(dataset, [new_var])
    # number row positions, so that duplicate index labels cannot mix up records
    positions = dataset[by + order_columns(order)].set_axis(range(len(dataset)))
    ordered = sort_frame(positions, by, order)
    number = ordered.groupby(by, sort=False, dropna=False).cumcount() + 1 if by else \
        pd.Series(range(1, len(ordered) + 1), index=ordered.index)
    out = copy_frame(dataset)
    out[new_var] = number.reindex(positions.index).to_numpy(dtype=float)
    return out
